//! The organization's audit log, for org admins.

use tollgate_domain::OrgAction;
use tollgate_domain::OrgId;
use tollgate_store::{AuditRecord, PageRequest, User};

use crate::app::App;
use crate::service::{cursor_error, Page, ServiceResult};

impl App {
    /// Newest first; `after` is the id of the last entry of the previous page.
    pub async fn audit_log(
        &self,
        user: &User,
        org_id: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<AuditRecord>> {
        self.org_access_for(user, org_id, OrgAction::ViewAuditLog)
            .await?;
        let rows = self
            .store
            .audit_log(org_id, PageRequest::after(after, limit))
            .await
            .map_err(cursor_error)?;
        Ok(Page::from_rows(rows, limit))
    }
}
