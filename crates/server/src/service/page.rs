//! Pagination of lists: `limit` and `after` in, `{data, has_more}` out.

use crate::service::{ServiceError, ServiceResult};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// A validated page request: `after` is the id of the last item of the previous page.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn new(limit: Option<i64>, after: Option<String>) -> ServiceResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ServiceError::BadRequest {
                code: "invalid_limit",
                message: format!("`limit` must be between 1 and {MAX_LIMIT}."),
            });
        }
        Ok(Self {
            limit,
            after: after.filter(|a| !a.is_empty()),
        })
    }

    pub fn first(limit: i64) -> Self {
        Self { limit, after: None }
    }

    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// From the `limit + 1` rows a store list returns.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest) -> Self {
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Self {
            items: rows,
            has_more,
        }
    }
}

/// The answer to an `after` that names nothing in the list.
pub fn invalid_cursor() -> ServiceError {
    ServiceError::BadRequest {
        code: "invalid_cursor",
        message: "`after` must be the id of an item of this list.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded_and_pages_know_if_more_follow() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(101), None).is_err());
        assert_eq!(PageRequest::new(None, None).unwrap().limit, 20);
        assert_eq!(
            PageRequest::new(None, Some(String::new())).unwrap().after,
            None
        );
        let req = PageRequest::first(2);
        let page = Page::from_rows(vec![1, 2, 3], &req);
        assert_eq!((page.items, page.has_more), (vec![1, 2], true));
        let page = Page::from_rows(vec![1, 2], &req);
        assert_eq!((page.items, page.has_more), (vec![1, 2], false));
    }
}
