//! The organization's audit log, for org admins.

use tollgate_domain::OrgAction;
use tollgate_domain::OrgId;
use tollgate_store::{AuditRecord, User};

use crate::app::App;
use crate::service::{cursor_error, invalid_cursor, Page, ServiceResult};

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
        let before = match after {
            None => None,
            Some(a) => Some(a.parse::<i64>().map_err(|_| invalid_cursor())?),
        };
        let rows = self
            .store
            .audit_log(org_id, limit, before)
            .await
            .map_err(cursor_error)?;
        Ok(Page::from_rows(rows, limit))
    }
}
