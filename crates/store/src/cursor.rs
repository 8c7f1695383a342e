//! Keyset paging, one way for every list of the store.
//!
//! A list is read a page at a time with a [`PageRequest`]: the `after` cursor — the id of the
//! last item of the previous page, as the API's `after` carries it (decision 0010) — and the
//! page's size. Every list reads it the same way, through its [`Keyset`]: one query finds the
//! item the cursor names within the list's scope (the organization, the project) and returns
//! its place in the list's order (its sort key, e.g. `(created_at, id)`); the page query then
//! starts strictly after that key in the list's order, and reads `limit + 1` rows so that the
//! caller knows whether there are more. A cursor that names no item of the list is
//! `NotFound`, which the service answers as 400 `invalid_cursor`: an unknown cursor never
//! silently reads as page 1 or as an empty page.

use sqlx::any::AnyRow;
use sqlx::{Any, Encode, Executor, FromRow, Type};

use crate::{Result, StoreError};

/// One page of a list: the items after the item `after` names (from the start without it),
/// at most `limit` of them (the store reads one more, meaning "there are more").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<'a> {
    pub after: Option<&'a str>,
    pub limit: i64,
}

impl<'a> PageRequest<'a> {
    /// The first page, of `limit` items.
    pub fn first(limit: i64) -> Self {
        Self { after: None, limit }
    }

    /// The page of `limit` items after the item `after` names, or the first without one.
    pub fn after(after: Option<&'a str>, limit: i64) -> Self {
        Self { after, limit }
    }

    /// How many rows a page query reads: one more than the page holds.
    pub(crate) fn rows(self) -> i64 {
        self.limit.saturating_add(1)
    }
}

/// Which way a list runs along its sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Oldest first: the page starts at the keys greater than the cursor's.
    Ascending,
    /// Newest first: the page starts at the keys smaller than the cursor's.
    Descending,
}

/// How a list finds the item a cursor names and orders its pages.
pub(crate) struct Keyset {
    /// `SELECT <sort>, <id> FROM … WHERE <scope> = $1 AND <id> = $2 [AND <the list's
    /// conditions, binding $3 …>]`, fixed by the code: the cursor item's sort key.
    pub position: &'static str,
    pub order: Order,
}

impl Keyset {
    /// Newest or oldest first by `(created_at, id)`, the order of most lists.
    pub(crate) const fn by_time(position: &'static str, order: Order) -> Self {
        Self { position, order }
    }

    /// The page query's condition on its sort key `columns` (e.g. `"k.created_at, k.id"`),
    /// the key bound at `$first` and the next parameter: `(columns) > ($first, $next)`.
    pub(crate) fn after_sql(&self, columns: &str, first: usize) -> String {
        let op = match self.order {
            Order::Ascending => '>',
            Order::Descending => '<',
        };
        format!("({columns}) {op} (${first}, ${})", first + 1)
    }

    /// The page query's `ORDER BY` for its sort key `columns`.
    pub(crate) fn order_sql(&self, columns: &str) -> String {
        let direction = match self.order {
            Order::Ascending => "",
            Order::Descending => " DESC",
        };
        let terms: Vec<String> = columns
            .split(',')
            .map(|c| format!("{}{direction}", c.trim()))
            .collect();
        format!("ORDER BY {}", terms.join(", "))
    }

    /// The `(created_at, id)` the page starts after: the cursor item's, or the start of the
    /// list in its order. `extra` is bound as `$3` of the position query when the list has a
    /// condition of its own (who may see the item).
    pub(crate) async fn start<'e, E>(
        &self,
        executor: E,
        scope: &str,
        extra: Option<&str>,
        page: PageRequest<'_>,
    ) -> Result<(i64, String)>
    where
        E: Executor<'e, Database = Any>,
    {
        let found: Option<(i64, String)> =
            position(executor, self.position, scope, extra, page.after).await?;
        Ok(found.unwrap_or_else(|| match self.order {
            Order::Ascending => (i64::MIN, String::new()),
            Order::Descending => (i64::MAX, String::new()),
        }))
    }
}

/// The sort key of the item `after` names in the list whose position query is `listed`,
/// within `scope` (and `extra`, bound as `$3` when the list has a condition of its own);
/// `None` without a cursor, `NotFound` when it names nothing there. Lists whose sort key is
/// not `(created_at, id)` (members by email, the audit log by number) call it directly.
pub(crate) async fn position<'e, 'q, E, T, K>(
    executor: E,
    listed: &'static str,
    scope: &'q str,
    extra: Option<&'q str>,
    after: Option<T>,
) -> Result<Option<K>>
where
    E: Executor<'e, Database = Any>,
    T: 'q + Send + Encode<'q, Any> + Type<Any>,
    K: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    let Some(after) = after else {
        return Ok(None);
    };
    let mut query = sqlx::query_as::<_, K>(listed).bind(scope).bind(after);
    if let Some(extra) = extra {
        query = query.bind(extra);
    }
    query
        .fetch_optional(executor)
        .await?
        .map(Some)
        .ok_or(StoreError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_run_after_the_cursor_in_the_list_order() {
        let newest = Keyset::by_time("", Order::Descending);
        assert_eq!(
            newest.after_sql("i.created_at, i.id", 3),
            "(i.created_at, i.id) < ($3, $4)"
        );
        assert_eq!(
            newest.order_sql("i.created_at, i.id"),
            "ORDER BY i.created_at DESC, i.id DESC"
        );
        let oldest = Keyset::by_time("", Order::Ascending);
        assert_eq!(
            oldest.after_sql("created_at, id", 2),
            "(created_at, id) > ($2, $3)"
        );
        assert_eq!(
            oldest.order_sql("created_at, id"),
            "ORDER BY created_at, id"
        );
        assert_eq!(PageRequest::first(i64::MAX).rows(), i64::MAX);
        assert_eq!(PageRequest::after(Some("x"), 10).rows(), 11);
    }
}
