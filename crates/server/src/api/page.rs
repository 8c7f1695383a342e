//! The query of every list: `limit` (1–100, default 20) and `after` (the id of the last item
//! of the previous page).

use serde::Deserialize;
use utoipa::IntoParams;

use crate::service::page::PageRequest;
use crate::service::ServiceResult;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The id of the last item of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    pub fn request(self) -> ServiceResult<PageRequest> {
        PageRequest::new(self.limit, self.after)
    }
}
