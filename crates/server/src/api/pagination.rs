//! List parameters and the list shape: `?limit=&after=` → `{data: [...], has_more}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::ApiError;
use crate::service::{page_limit, Page, ServiceError};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// The id of the last item of the previous page.
    pub after: Option<String>,
}

impl ListParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        page_limit(self.limit).map_err(|e| ServiceError::from(e).into())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T: ToSchema> List<T> {
    pub fn from_page<S>(page: Page<S>, view: impl FnMut(S) -> T) -> Self {
        let page = page.map(view);
        Self {
            data: page.data,
            has_more: page.has_more,
        }
    }
}
