//! API keys: created and revoked in a project; looked up by public id for authentication.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{ApiKeyId, Name, OrgId, ProjectId, Timestamp, UserId};

use crate::audit::{insert_audit, AuditEntry};
use crate::changes::{record_change, ChangeKind};
use crate::cursor::{Keyset, Order, PageRequest};
use crate::{Conflict, Result, Store, StoreError};

/// A key as its project's key list shows it. The secret is not here: it was never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub public_id: String,
    pub project_id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    pub created_by: Option<KeyCreator>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCreator {
    pub id: UserId,
    pub email: String,
    pub name: String,
}

/// What authentication needs to know about a key, in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredentials {
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    pub revoked: bool,
    pub project_archived: bool,
    pub org_suspended: bool,
    pub last_used_at: Option<Timestamp>,
    /// The models the key's project may call.
    pub allowed_models: crate::AllowedModels,
}

pub struct NewKey<'a> {
    pub org_id: &'a OrgId,
    pub project_id: &'a ProjectId,
    pub name: &'a Name,
    pub public_id: &'a str,
    pub secret_hash: &'a str,
    pub created_by: &'a UserId,
}

const KEY_SELECT: &str = "SELECT k.id, k.public_id, k.project_id, k.org_id, k.name, k.created_at, \
     k.last_used_at, u.id AS creator_id, u.email AS creator_email, u.name AS creator_name \
     FROM api_keys k LEFT JOIN users u ON u.id = k.created_by";

/// One page of an organization's live keys in active projects, in list order (created, then
/// id) after the cursor `($2, $3)`; binds: org id, cursor time, cursor id, row limit. The row
/// comparison is what lets both engines start the page inside `api_keys_live_by_org`
/// (migration 0021) and stop after `$4` rows: the equivalent `created_at > $2 OR (created_at =
/// $2 AND id > $3)` is no index range on PostgreSQL, which then filters every key before the
/// cursor (docs/analytics.md, "The API keys list").
pub(crate) fn org_keys_page_sql() -> String {
    format!(
        "{KEY_SELECT} WHERE k.org_id = $1 AND k.revoked_at IS NULL \
           AND NOT EXISTS (SELECT 1 FROM projects p \
                           WHERE p.id = k.project_id AND p.archived_at IS NOT NULL) \
           AND {} {} LIMIT $4",
        ORG_KEYS.after_sql(KEY_ORDER, 2),
        ORG_KEYS.order_sql(KEY_ORDER),
    )
}

/// The keys' order in both lists.
const KEY_ORDER: &str = "k.created_at, k.id";
/// A project's live keys, oldest first.
const PROJECT_KEYS: Keyset = Keyset::by_time(
    "SELECT created_at, id FROM api_keys WHERE project_id = $1 AND id = $2 AND revoked_at IS NULL",
    Order::Ascending,
);
/// An organization's live keys, oldest first.
const ORG_KEYS: Keyset = Keyset::by_time(
    "SELECT created_at, id FROM api_keys WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
    Order::Ascending,
);

fn key_from_row(row: &sqlx::any::AnyRow) -> Result<ApiKey> {
    let creator_id: Option<String> = row.try_get("creator_id")?;
    Ok(ApiKey {
        id: ApiKeyId::from_stored(row.try_get("id")?),
        public_id: row.try_get("public_id")?,
        project_id: ProjectId::from_stored(row.try_get("project_id")?),
        org_id: OrgId::from_stored(row.try_get("org_id")?),
        name: row.try_get("name")?,
        created_by: match creator_id {
            Some(id) => Some(KeyCreator {
                id: UserId::from_stored(id),
                email: row.try_get("creator_email")?,
                name: row.try_get("creator_name")?,
            }),
            None => None,
        },
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    /// Stores a new key in an active project of the organization. `NotFound` when the project
    /// is not the organization's or is archived (checked in the same transaction as the insert,
    /// so a concurrent archive cannot slip between).
    pub async fn create_api_key(
        &self,
        new: NewKey<'_>,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<ApiKey> {
        let id = ApiKeyId::generate();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO api_keys (id, public_id, secret_hash, project_id, org_id, name, created_by, created_at) \
             SELECT $1, $2, $3, p.id, p.org_id, $6, $7, $8 FROM projects p \
             WHERE p.id = $4 AND p.org_id = $5 AND p.archived_at IS NULL",
        )
        .bind(id.as_str())
        .bind(new.public_id)
        .bind(new.secret_hash)
        .bind(new.project_id.as_str())
        .bind(new.org_id.as_str())
        .bind(new.name.as_str())
        .bind(new.created_by.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, Conflict::KeyPublicId))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let audit = AuditEntry {
            target_id: &id,
            ..audit
        };
        insert_audit(&mut tx, new.org_id, &audit, now).await?;
        let key = sqlx::query(&format!("{KEY_SELECT} WHERE k.id = $1"))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let key = key_from_row(&key)?;
        tx.commit().await?;
        Ok(key)
    }

    /// A live (not revoked) key of a project.
    pub async fn api_key(
        &self,
        project_id: &ProjectId,
        key_id: &ApiKeyId,
    ) -> Result<Option<ApiKey>> {
        sqlx::query(&format!(
            "{KEY_SELECT} WHERE k.project_id = $1 AND k.id = $2 AND k.revoked_at IS NULL"
        ))
        .bind(project_id.as_str())
        .bind(key_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    /// A project's live keys, oldest first, after the key `page.after`; up to
    /// `page.limit + 1`. `NotFound` when `after` is not one of them.
    pub async fn api_keys(
        &self,
        project_id: &ProjectId,
        page: PageRequest<'_>,
    ) -> Result<Vec<ApiKey>> {
        let (after_time, after_id) = PROJECT_KEYS
            .start(&self.pool, project_id, None, page)
            .await?;
        let rows = sqlx::query(&format!(
            "{KEY_SELECT} WHERE k.project_id = $1 AND k.revoked_at IS NULL AND {} {} LIMIT $4",
            PROJECT_KEYS.after_sql(KEY_ORDER, 2),
            PROJECT_KEYS.order_sql(KEY_ORDER),
        ))
        .bind(project_id.as_str())
        .bind(after_time)
        .bind(after_id)
        .bind(page.rows())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// The live keys of every active project of an organization, oldest first, after the key
    /// `page.after`; up to `page.limit + 1` ("All projects" for org admins).
    pub async fn org_api_keys(&self, org_id: &OrgId, page: PageRequest<'_>) -> Result<Vec<ApiKey>> {
        let (after_time, after_id) = ORG_KEYS.start(&self.pool, org_id, None, page).await?;
        let rows = sqlx::query(&org_keys_page_sql())
            .bind(org_id.as_str())
            .bind(after_time)
            .bind(after_id)
            .bind(page.rows())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a live key of a project, and tells every process through the change log.
    /// `NotFound` when the project has no such live key.
    pub async fn revoke_api_key(
        &self,
        project_id: &ProjectId,
        key_id: &ApiKeyId,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<ApiKey> {
        let mut tx = self.begin_write().await?;
        // The guarded update decides, so that two concurrent revocations record one.
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 \
             WHERE project_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(project_id.as_str())
        .bind(key_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(&format!("{KEY_SELECT} WHERE k.id = $1"))
            .bind(key_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let key = key_from_row(&row)?;
        record_change(&mut tx, ChangeKind::ApiKey, key_id, now).await?;
        insert_audit(&mut tx, &key.org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Everything authentication needs about the key with this public id.
    pub async fn key_credentials(&self, public_id: &str) -> Result<Option<KeyCredentials>> {
        let row = sqlx::query(
            "SELECT k.id, k.org_id, k.project_id, k.secret_hash, k.revoked_at, k.last_used_at, \
                    p.archived_at AS project_archived_at, o.suspended_at AS org_suspended_at, \
                    p.allowed_models \
             FROM api_keys k JOIN projects p ON p.id = k.project_id \
             JOIN organizations o ON o.id = k.org_id WHERE k.public_id = $1",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        let archived: Option<i64> = row.try_get("project_archived_at")?;
        let suspended: Option<i64> = row.try_get("org_suspended_at")?;
        Ok(Some(KeyCredentials {
            key_id: ApiKeyId::from_stored(row.try_get("id")?),
            org_id: OrgId::from_stored(row.try_get("org_id")?),
            project_id: ProjectId::from_stored(row.try_get("project_id")?),
            secret_hash: row.try_get("secret_hash")?,
            revoked: revoked.is_some(),
            project_archived: archived.is_some(),
            org_suspended: suspended.is_some(),
            last_used_at: row.try_get("last_used_at")?,
            allowed_models: crate::project_models::decode(row.try_get("allowed_models")?),
        }))
    }

    /// Records that a key was used at `now`, unless that was already recorded less than
    /// `every_ms` ago (by this or another process). True when this call wrote.
    pub async fn touch_api_key(
        &self,
        key_id: &ApiKeyId,
        now: Timestamp,
        every_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        )
        .bind(now)
        .bind(key_id.as_str())
        .bind(now - every_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Which of a person's keys lose their owner's access.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeysOf<'a> {
    /// Those in one project (removed from the project).
    Project(&'a ProjectId),
    /// Those in every project of the organization (removed from the organization).
    Organization,
}

/// Revokes, in the caller's transaction, the live keys `user_id` created in the organization
/// (DESIGN §2: a member's own keys go when they lose access to the project). Each revocation
/// is told to every process through the change log and audit-logged as `api_key.revoke` with
/// `cause`'s actor, IP and details (plus the key's project). Returns the revoked keys' ids.
pub(crate) async fn revoke_keys_of_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    user_id: &UserId,
    which: KeysOf<'_>,
    now: Timestamp,
    cause: &AuditEntry<'_>,
) -> Result<Vec<ApiKeyId>> {
    let rows = match which {
        KeysOf::Project(project_id) => {
            sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND created_by = $3 \
                 AND project_id = $4 AND revoked_at IS NULL RETURNING id, project_id",
            )
            .bind(now)
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .bind(project_id.as_str())
            .fetch_all(&mut **tx)
            .await?
        }
        KeysOf::Organization => {
            sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND created_by = $3 \
                 AND revoked_at IS NULL RETURNING id, project_id",
            )
            .bind(now)
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .fetch_all(&mut **tx)
            .await?
        }
    };
    let mut revoked = Vec::with_capacity(rows.len());
    for row in rows {
        let key_id = ApiKeyId::from_stored(row.try_get("id")?);
        let project_id: String = row.try_get("project_id")?;
        record_change(tx, ChangeKind::ApiKey, &key_id, now).await?;
        let mut details = cause.details.clone();
        if let serde_json::Value::Object(map) = &mut details {
            map.insert("project_id".into(), project_id.into());
        }
        let entry = AuditEntry {
            action: "api_key.revoke",
            target_type: "api_key",
            target_id: &key_id,
            details,
            ..cause.clone()
        };
        insert_audit(tx, org_id, &entry, now).await?;
        revoked.push(key_id);
    }
    Ok(revoked)
}
