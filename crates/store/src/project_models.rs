//! Which models a project's keys may call (DESIGN §2 "Projects and API keys": default all).
//! Stored on the project as model ids separated by spaces; read with the key's credentials,
//! so that the gateway checks it from memory.

use sqlx::Row;
use tollgate_domain::{OrgId, ProjectId, Timestamp};

use crate::audit::{insert_audit, AuditEntry};
use crate::changes::{record_change, ChangeKind};
use crate::{Result, Store, StoreError};

/// `None`: every model; `Some(list)`: only those (possibly none).
pub type AllowedModels = Option<Vec<String>>;

pub(crate) fn decode(raw: Option<String>) -> AllowedModels {
    raw.map(|s| {
        s.split(' ')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

impl Store {
    /// Restricts the models a project's keys may call (`None`: all). Model ids are the
    /// catalog's, which never hold a space; every process drops its cached keys of the project through the
    /// change log.
    pub async fn set_project_models(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        models: Option<&[String]>,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<()> {
        let joined = models.map(|ms| ms.join(" "));
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE projects SET allowed_models = $1 WHERE org_id = $2 AND id = $3")
                .bind(joined)
                .bind(org_id.as_str())
                .bind(project_id.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        record_change(&mut tx, ChangeKind::Project, project_id, now).await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The models a project's keys may call.
    pub async fn project_models(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
    ) -> Result<AllowedModels> {
        let row = sqlx::query("SELECT allowed_models FROM projects WHERE org_id = $1 AND id = $2")
            .bind(org_id.as_str())
            .bind(project_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(decode(row.try_get("allowed_models")?))
    }
}
