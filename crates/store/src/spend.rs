//! Monthly spend limits of an organization, a project or an API key (set by admins, audited,
//! signalled through the change log like rate limits), what each scope spent per calendar month
//! (`spend_periods`, kept by the usage writer for every record), and the alert emails sent once
//! per scope, month and threshold. The leases that enforce the limits are in `spend_leases`.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::limits::spend::{period_of, SpendScope, Thresholds};
use tollgate_domain::payment::month_start;
use tollgate_domain::{Money, OrgId, Timestamp};

use crate::audit::{insert_audit, AuditEntry};
use crate::changes::{record_change, ChangeKind};
use crate::error::corrupt;
use crate::outbox::{enqueue_email_in, OutgoingEmail};
use crate::{Result, Store};

/// One monthly spend limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendLimit {
    pub scope: SpendScope,
    /// The organization's, the project's or the key's id.
    pub target_id: String,
    pub org_id: OrgId,
    pub monthly_limit: Money,
    pub thresholds: Thresholds,
    pub updated_at: Timestamp,
}

/// What a scope spent in one month and what running requests reserve of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpendUse {
    pub spent: Money,
    pub reserved: Money,
}

/// The column of `usage_records` that names a scope's target.
fn target_column(scope: SpendScope) -> &'static str {
    match scope {
        SpendScope::Organization => "org_id",
        SpendScope::Project => "project_id",
        SpendScope::ApiKey => "key_id",
    }
}

fn limit_from(row: &sqlx::any::AnyRow) -> Result<SpendLimit> {
    let scope: String = row.try_get("scope")?;
    let thresholds: String = row.try_get("alert_percents")?;
    Ok(SpendLimit {
        scope: scope
            .parse()
            .map_err(|_| corrupt(format!("spend limit scope '{scope}'")))?,
        target_id: row.try_get("target_id")?,
        org_id: OrgId::from_stored(row.try_get("org_id")?),
        monthly_limit: Money::from_micros(row.try_get("monthly_limit")?),
        thresholds: Thresholds::parse(&thresholds)
            .map_err(|_| corrupt(format!("alert thresholds '{thresholds}'")))?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Adds `amount` to what a scope spent in `period`, creating the row; locks it (PostgreSQL:
/// the row lock of the upsert; SQLite: the write transaction).
pub(crate) async fn add_spent_in(
    tx: &mut Transaction<'static, Any>,
    (scope, target_id, period): (SpendScope, &str, &str),
    amount: Money,
    now: Timestamp,
) -> Result<SpendUse> {
    let row = sqlx::query(
        "INSERT INTO spend_periods (scope, target_id, period, spent, reserved, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (scope, target_id, period) \
         DO UPDATE SET spent = CASE WHEN spend_periods.spent > 9223372036854775807 - excluded.spent \
         THEN 9223372036854775807 ELSE spend_periods.spent + excluded.spent END, updated_at = excluded.updated_at \
         RETURNING spent, reserved",
    )
    .bind(scope.as_str())
    .bind(target_id)
    .bind(period)
    .bind(amount.micros())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(SpendUse {
        spent: Money::from_micros(row.try_get("spent")?),
        reserved: Money::from_micros(row.try_get("reserved")?),
    })
}

impl Store {
    /// Every spend limit of an organization (its own, its projects', its keys').
    pub async fn spend_limits(&self, org_id: &OrgId) -> Result<Vec<SpendLimit>> {
        let rows = sqlx::query(
            "SELECT scope, target_id, org_id, monthly_limit, alert_percents, updated_at \
             FROM spend_limits WHERE org_id = $1 ORDER BY scope, target_id",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(limit_from).collect()
    }

    /// Sets (replaces) a spend limit, audited, and tells every process. A month never counted
    /// before starts from the usage already stored for it.
    pub async fn set_spend_limit(
        &self,
        limit: &SpendLimit,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO spend_limits (scope, target_id, org_id, monthly_limit, alert_percents, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, target_id) DO UPDATE SET \
             monthly_limit = excluded.monthly_limit, alert_percents = excluded.alert_percents, \
             updated_at = excluded.updated_at",
        )
        .bind(limit.scope.as_str())
        .bind(&limit.target_id)
        .bind(limit.org_id.as_str())
        .bind(limit.monthly_limit.micros())
        .bind(limit.thresholds.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let period = period_of(now);
        sqlx::query(&format!(
            "INSERT INTO spend_periods (scope, target_id, period, spent, reserved, updated_at) \
             SELECT $1, $2, $3, CAST(COALESCE(SUM((cost_picos + 999999) / 1000000), 0) AS BIGINT), 0, $4 \
             FROM usage_records WHERE {} = $2 AND occurred_at >= $5 \
             ON CONFLICT (scope, target_id, period) DO NOTHING",
            target_column(limit.scope)
        ))
        .bind(limit.scope.as_str())
        .bind(&limit.target_id)
        .bind(&period)
        .bind(now)
        .bind(month_start(now))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, &limit.org_id, &audit, now).await?;
        record_change(&mut tx, ChangeKind::Limits, &limit.org_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a spend limit, audited, and tells every process; false when there was none.
    pub async fn delete_spend_limit(
        &self,
        org_id: &OrgId,
        scope: SpendScope,
        target_id: &str,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM spend_limits WHERE org_id = $1 AND scope = $2 AND target_id = $3",
        )
        .bind(org_id.as_str())
        .bind(scope.as_str())
        .bind(target_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if deleted {
            insert_audit(&mut tx, org_id, &audit, now).await?;
            record_change(&mut tx, ChangeKind::Limits, org_id, now).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// What a scope spent and has reserved in `period` (`YYYY-MM`).
    pub async fn spend_use(
        &self,
        scope: SpendScope,
        target_id: &str,
        period: &str,
    ) -> Result<SpendUse> {
        let row = sqlx::query(
            "SELECT spent, reserved FROM spend_periods WHERE scope = $1 AND target_id = $2 AND period = $3",
        )
        .bind(scope.as_str())
        .bind(target_id)
        .bind(period)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => SpendUse {
                spent: Money::from_micros(r.try_get("spent")?),
                reserved: Money::from_micros(r.try_get("reserved")?),
            },
            None => SpendUse::default(),
        })
    }

    /// Notes that `percent` of a scope's limit was reached in `period` and, the first time
    /// only, queues `emails` in the same transaction. True when this call sent them.
    pub async fn send_spend_alert(
        &self,
        (scope, target_id, period): (SpendScope, &str, &str),
        percent: u8,
        emails: &[OutgoingEmail],
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let first = sqlx::query(
            "INSERT INTO spend_alerts_sent (scope, target_id, period, percent, sent_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, target_id, period, percent) DO NOTHING",
        )
        .bind(scope.as_str())
        .bind(target_id)
        .bind(period)
        .bind(i64::from(percent))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            for email in emails {
                enqueue_email_in(&mut tx, email, now).await?;
            }
        }
        tx.commit().await?;
        Ok(first)
    }

    /// The thresholds already alerted for a scope in `period`.
    pub async fn spend_alerts_sent(
        &self,
        scope: SpendScope,
        target_id: &str,
        period: &str,
    ) -> Result<Vec<u8>> {
        let rows = sqlx::query(
            "SELECT percent FROM spend_alerts_sent WHERE scope = $1 AND target_id = $2 AND period = $3 ORDER BY percent",
        )
        .bind(scope.as_str())
        .bind(target_id)
        .bind(period)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let p: i64 = r.try_get("percent")?;
                u8::try_from(p).map_err(|_| corrupt(format!("alert percent {p}")))
            })
            .collect()
    }
}
