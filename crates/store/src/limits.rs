//! Rate limits set for an organization (by an operator) or a project (by org admins), per
//! model, and the shared state of the rate buckets that processes lease from
//! (docs/decisions/0014-rate-limit-leases.md).

use sqlx::any::AnyRow;
use sqlx::Row;
use tollgate_domain::limits::{Dimension, RateLimits};
use tollgate_domain::{OrgId, ProjectId, Timestamp};

use crate::audit::{insert_audit, AuditEntry};
use crate::changes::{record_change, ChangeKind};
use crate::error::corrupt;
use crate::{Result, Store, StoreError};

/// A project's limits for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLimits {
    pub project_id: ProjectId,
    pub model: String,
    pub limits: RateLimits,
}

/// A rate bucket's shared state: its level (unit·ms) as of `updated_at`, and the version a
/// compare-and-swap must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBucket {
    pub level: i64,
    pub updated_at: Timestamp,
    pub version: i64,
}

const LIMIT_COLUMNS: &str = "rpm, rph, rpd, tpm, tph, tpd";

fn limits_from(row: &AnyRow) -> Result<RateLimits> {
    let mut out = RateLimits::default();
    for d in Dimension::ALL {
        let v: Option<i64> = row.try_get(d.abbreviation())?;
        let v = v
            .map(|v| u64::try_from(v).map_err(|_| corrupt(format!("negative limit {v} in {d}"))))
            .transpose()?;
        out.set(d, v);
    }
    Ok(out)
}

/// The six values in `Dimension::ALL` order, as bound parameters.
fn limit_values(limits: &RateLimits) -> [Option<i64>; 6] {
    Dimension::ALL.map(|d| limits.get(d).map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
}

impl Store {
    /// The operator's overrides of an organization's limits, by model.
    pub async fn org_model_limits(&self, org_id: &OrgId) -> Result<Vec<(String, RateLimits)>> {
        let rows = sqlx::query(&format!(
            "SELECT model, {LIMIT_COLUMNS} FROM org_model_limits WHERE org_id = $1 ORDER BY model"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("model")?, limits_from(row)?)))
            .collect()
    }

    /// Sets (replaces) the override of `org_id`'s limits for `model`, audited, and tells every
    /// process. Empty `limits` remove the override.
    pub async fn set_org_model_limits(
        &self,
        org_id: &OrgId,
        model: &str,
        limits: &RateLimits,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if limits.is_empty() {
            sqlx::query("DELETE FROM org_model_limits WHERE org_id = $1 AND model = $2")
                .bind(org_id.as_str())
                .bind(model)
                .execute(&mut *tx)
                .await?;
        } else {
            let [rpm, rph, rpd, tpm, tph, tpd] = limit_values(limits);
            sqlx::query(&format!(
                "INSERT INTO org_model_limits (org_id, model, {LIMIT_COLUMNS}, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (org_id, model) DO UPDATE SET rpm = excluded.rpm, rph = excluded.rph, \
                 rpd = excluded.rpd, tpm = excluded.tpm, tph = excluded.tph, tpd = excluded.tpd, \
                 updated_at = excluded.updated_at"
            ))
            .bind(org_id.as_str())
            .bind(model)
            .bind(rpm)
            .bind(rph)
            .bind(rpd)
            .bind(tpm)
            .bind(tph)
            .bind(tpd)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, org_id, &audit, now).await?;
        record_change(&mut tx, ChangeKind::Limits, org_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every project limit of an organization.
    pub async fn project_model_limits(&self, org_id: &OrgId) -> Result<Vec<ProjectLimits>> {
        let rows = sqlx::query(&format!(
            "SELECT project_id, model, {LIMIT_COLUMNS} FROM project_model_limits \
             WHERE org_id = $1 ORDER BY project_id, model"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ProjectLimits {
                    project_id: ProjectId::from_stored(row.try_get("project_id")?),
                    model: row.try_get("model")?,
                    limits: limits_from(row)?,
                })
            })
            .collect()
    }

    /// Sets (replaces) a project's limits for `model`, audited, and tells every process.
    /// Empty `limits` remove them. The caller has checked them against the organization's.
    pub async fn set_project_model_limits(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        model: &str,
        limits: &RateLimits,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if limits.is_empty() {
            sqlx::query("DELETE FROM project_model_limits WHERE project_id = $1 AND model = $2")
                .bind(project_id.as_str())
                .bind(model)
                .execute(&mut *tx)
                .await?;
        } else {
            let [rpm, rph, rpd, tpm, tph, tpd] = limit_values(limits);
            let done = sqlx::query(&format!(
                "INSERT INTO project_model_limits (project_id, org_id, model, {LIMIT_COLUMNS}, updated_at) \
                 SELECT id, org_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM projects WHERE id = $1 AND org_id = $10 \
                 ON CONFLICT (project_id, model) DO UPDATE SET rpm = excluded.rpm, rph = excluded.rph, \
                 rpd = excluded.rpd, tpm = excluded.tpm, tph = excluded.tph, tpd = excluded.tpd, \
                 updated_at = excluded.updated_at"
            ))
            .bind(project_id.as_str())
            .bind(model)
            .bind(rpm)
            .bind(rph)
            .bind(rpd)
            .bind(tpm)
            .bind(tph)
            .bind(tpd)
            .bind(now)
            .bind(org_id.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        insert_audit(&mut tx, org_id, &audit, now).await?;
        record_change(&mut tx, ChangeKind::Limits, org_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A rate bucket's shared state; `None` before any process used it (it starts full).
    pub async fn rate_bucket(&self, bucket: &str) -> Result<Option<StoredBucket>> {
        let row =
            sqlx::query("SELECT level, updated_at, version FROM rate_buckets WHERE bucket = $1")
                .bind(bucket)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            Ok(StoredBucket {
                level: row.try_get("level")?,
                updated_at: row.try_get("updated_at")?,
                version: row.try_get("version")?,
            })
        })
        .transpose()
    }

    /// Writes `level` as of `at` if the bucket is still at `expected` (`None`: the bucket does
    /// not exist yet). False when another process got there first: read again and retry.
    pub async fn swap_rate_bucket(
        &self,
        bucket: &str,
        expected: Option<&StoredBucket>,
        level: i64,
        at: Timestamp,
    ) -> Result<bool> {
        let done = match expected {
            None => sqlx::query(
                "INSERT INTO rate_buckets (bucket, level, updated_at, version) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (bucket) DO NOTHING",
            )
            .bind(bucket)
            .bind(level)
            .bind(at)
            .execute(&self.pool)
            .await?,
            Some(old) => sqlx::query(
                "UPDATE rate_buckets SET level = $2, updated_at = $3, version = version + 1 \
                 WHERE bucket = $1 AND version = $4",
            )
            .bind(bucket)
            .bind(level)
            .bind(at)
            .bind(old.version)
            .execute(&self.pool)
            .await?,
        };
        Ok(done.rows_affected() == 1)
    }

    /// Deletes buckets untouched since `before`: after a day untouched every bucket is full
    /// again, which is what a missing row means.
    pub async fn prune_rate_buckets(&self, before: Timestamp) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM rate_buckets WHERE updated_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
