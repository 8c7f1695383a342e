//! The change log: how one server process tells every other one, through the database, that a
//! cached API key must be dropped or that the model catalog must be re-read.
//!
//! A change is written in the same transaction as the change itself, under a version taken from
//! the single `change_counter` row. Updating that row locks it until commit, so versions become
//! visible in order: a reader that has seen version N has seen every version below N.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::Timestamp;

use crate::orgs::corrupt;
use crate::{Result, Store};

/// What a change names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// An API key was revoked.
    ApiKey,
    /// A project was archived: its keys stop working.
    Project,
    /// An organization's gateway access was suspended or resumed.
    Organization,
    /// The model catalog should be re-read by every server.
    Catalog,
    /// An organization's rate limits (operator override or project limits) changed: the
    /// target is the organization.
    Limits,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Project => "project",
            Self::Organization => "organization",
            Self::Catalog => "catalog",
            Self::Limits => "limits",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::ApiKey,
            Self::Project,
            Self::Organization,
            Self::Catalog,
            Self::Limits,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub version: i64,
    pub kind: ChangeKind,
    pub target_id: String,
}

/// Records a change inside the transaction that makes it.
pub(crate) async fn record_change(
    tx: &mut Transaction<'static, Any>,
    kind: ChangeKind,
    target_id: &str,
    now: Timestamp,
) -> Result<i64> {
    let version: i64 = sqlx::query(
        "UPDATE change_counter SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .fetch_one(&mut **tx)
    .await?
    .try_get("version")?;
    sqlx::query(
        "INSERT INTO change_events (version, kind, target_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(version)
    .bind(kind.as_str())
    .bind(target_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(version)
}

impl Store {
    /// Records a change that has no row of its own to go with (a catalog reload request).
    pub async fn signal_change(
        &self,
        kind: ChangeKind,
        target_id: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let version = record_change(&mut tx, kind, target_id, now).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The newest version: where a process that starts now begins reading.
    pub async fn change_version(&self) -> Result<i64> {
        Ok(
            sqlx::query("SELECT version FROM change_counter WHERE id = 1")
                .fetch_one(&self.pool)
                .await?
                .try_get("version")?,
        )
    }

    /// Changes after `version`, oldest first, at most `limit`.
    pub async fn changes_since(&self, version: i64, limit: i64) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT version, kind, target_id FROM change_events WHERE version > $1 ORDER BY version LIMIT $2",
        )
        .bind(version)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(Change {
                    version: row.try_get("version")?,
                    kind: ChangeKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("unknown change kind '{kind}'")))?,
                    target_id: row.try_get("target_id")?,
                })
            })
            .collect()
    }

    /// Forgets changes older than `before`; returns how many.
    pub async fn prune_changes(&self, before: Timestamp) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM change_events WHERE created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
