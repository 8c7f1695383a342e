//! The organization's audit log, for org admins.

use tollgate_domain::OrgAction;
use tollgate_store::{AuditRecord, User};

use crate::app::App;
use crate::service::{Page, ServiceError, ServiceResult};

impl App {
    /// Newest first; `after` is the id of the last entry of the previous page.
    pub async fn audit_log(
        &self,
        user: &User,
        org_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<AuditRecord>> {
        self.org_access_for(user, org_id, OrgAction::ViewAuditLog)
            .await?;
        let before = match after {
            None => None,
            Some(a) => Some(a.parse::<i64>().map_err(|_| ServiceError::BadRequest {
                code: "invalid_cursor",
                message: "`after` must be the id of an audit log entry.".to_owned(),
            })?),
        };
        let rows = self.store.audit_log(org_id, limit, before).await?;
        Ok(Page::from_rows(rows, limit))
    }
}
