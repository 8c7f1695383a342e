//! Operator tokens: the bearer tokens inference servers report usage with
//! (`tollgate admin token create`). Only the SHA-256 of a token is stored.

use sqlx::Row;
use tollgate_domain::{ApiKeyId, OrgId, ProjectId, Timestamp};

use crate::{Conflict, Result, Store, StoreError};

impl Store {
    /// Stores a new token's hash under a unique name.
    pub async fn create_operator_token(
        &self,
        id: &str,
        name: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO operator_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique(e, Conflict::OperatorTokenName))?;
        Ok(())
    }

    /// The id of the live token with this hash.
    pub async fn operator_token_by_hash(&self, token_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT id FROM operator_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get("id")?)).transpose()
    }

    /// The organization and project of a key, revoked or not (usage is reported after the
    /// fact, possibly after a revocation).
    pub async fn key_owner(&self, key_id: &ApiKeyId) -> Result<Option<(OrgId, ProjectId)>> {
        let row = sqlx::query("SELECT org_id, project_id FROM api_keys WHERE id = $1")
            .bind(key_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                OrgId::from_stored(r.try_get("org_id")?),
                ProjectId::from_stored(r.try_get("project_id")?),
            ))
        })
        .transpose()
    }
}
