use sqlx::{Any, Transaction};
use tollgate_domain::{OrgId, Timestamp};

use crate::cursor::{self, PageRequest};
use crate::stored_id::StoredId;
use crate::{Result, Store, StoreError};

/// Who did what to which object, written in the same transaction as the change itself.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor_id: Option<&'a str>,
    pub actor_email: Option<&'a str>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub details: serde_json::Value,
    pub ip: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    #[sqlx(try_from = "StoredId")]
    pub org_id: OrgId,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: String,
    pub ip: Option<String>,
    pub created_at: Timestamp,
}

pub(crate) async fn insert_audit(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    entry: &AuditEntry<'_>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (org_id, actor_id, actor_email, action, target_type, target_id, details, ip, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(org_id.as_str())
    .bind(entry.actor_id)
    .bind(entry.actor_email)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(entry.target_id)
    .bind(entry.details.to_string())
    .bind(entry.ip)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Writes an audit entry on its own, for a change whose own writes are elsewhere (a
    /// payment made through the provider).
    pub async fn record_audit(
        &self,
        org_id: &OrgId,
        entry: &AuditEntry<'_>,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_audit(&mut tx, org_id, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The organization's audit log, newest first; `page.after` is the number of the last
    /// entry of the previous page. Returns one more entry than `page.limit` when there are
    /// more. `NotFound` when `after` is not the number of an entry of the organization.
    pub async fn audit_log(
        &self,
        org_id: &OrgId,
        page: PageRequest<'_>,
    ) -> Result<Vec<AuditRecord>> {
        let entries = "SELECT id FROM audit_log WHERE org_id = $1 AND id = $2";
        let before = page
            .after
            .map(|a| a.parse::<i64>().map_err(|_| StoreError::NotFound))
            .transpose()?;
        cursor::position::<_, _, (i64,)>(&self.pool, entries, org_id, None, before).await?;
        Ok(sqlx::query_as(
            "SELECT id, org_id, actor_id, actor_email, action, target_type, target_id, details, ip, created_at \
             FROM audit_log WHERE org_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(org_id.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(page.rows())
        .fetch_all(&self.pool)
        .await?)
    }
}
