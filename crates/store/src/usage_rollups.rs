//! Usage rollups: sums of usage records per organization, project, key, model, plan and hour
//! (and two coarser daily grains), kept in the transaction that stores the records, rebuilt
//! from raw records on demand, and kept when raw records are pruned. Why three grains in one
//! table: docs/decisions/0015-usage-rollups.md.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use sqlx::{Any, Transaction};
use tollgate_domain::{CallerId, Money, OrgId, ProjectId, Timestamp};

use crate::{max_bind_params, placeholders, Engine, Result, Store, StoreError, UsageRecord};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The grains of `usage_rollups`, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grain {
    /// Per organization, project, key, model, plan and hour.
    Hour,
    /// Per organization, project, model, plan and UTC day (`key_id` = '').
    DayProject,
    /// Per organization, model, plan and UTC day (`project_id` = `key_id` = '').
    Day,
}

impl Grain {
    pub const ALL: [Grain; 3] = [Grain::Hour, Grain::DayProject, Grain::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::DayProject => "day_project",
            Self::Day => "day",
        }
    }

    /// The length of this grain's buckets.
    pub(crate) fn bucket_ms(self) -> i64 {
        match self {
            Self::Hour => HOUR_MS,
            Self::DayProject | Self::Day => DAY_MS,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn bucket(self, at: Timestamp) -> Timestamp {
        at - at.rem_euclid(self.bucket_ms())
    }

    /// This grain's (project, key) of a record: the dimensions it drops are none (stored as
    /// '').
    fn dims<'a>(
        self,
        project_id: &'a ProjectId,
        key_id: &'a CallerId,
    ) -> (Option<&'a ProjectId>, Option<&'a CallerId>) {
        match self {
            Self::Hour => (Some(project_id), Some(key_id)),
            Self::DayProject => (Some(project_id), None),
            Self::Day => (None, None),
        }
    }
}

/// Whether a record's status counts as an error. Kept in step with [`ERROR_SQL`]: the rollups
/// written from memory and the ones rebuilt in SQL must agree.
pub fn is_error_status(status: &str) -> bool {
    let success = status == "ok"
        || status == "success"
        || (status.chars().count() == 3 && status.starts_with('2'));
    !success
}

/// [`is_error_status`] in SQL, over `usage_records.status`: 1 for an error, else 0.
pub(crate) const ERROR_SQL: &str =
    "CASE WHEN status = 'ok' OR status = 'success' OR status LIKE '2__' THEN 0 ELSE 1 END";

/// A raw record's exact cost in SQL, as whole micro-USD and the pico-USD below (a record from
/// before exact pricing has only whole micro-USD): summed apart, so that no sum of pico-USD
/// overflows 64 bits (migration 0018).
pub(crate) const COST_MICROS_SQL: &str = "COALESCE(cost_picos / 1000000, cost)";
pub(crate) const COST_REM_SQL: &str = "COALESCE(cost_picos % 1000000, 0)";
const PICOS_PER_MICRO: i128 = 1_000_000;

/// The sums of one rollup row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// Σ exact cost, pico-USD (`usage_records.cost_picos`): what the ledger debited, exactly
    /// (stored as `cost` micro-USD and `cost_pico_rem`; 128 bits, as sums pass $9.2M).
    pub cost_picos: i128,
}

impl UsageTotals {
    /// Adds `other`, failing rather than wrapping.
    pub fn checked_add(&self, other: &UsageTotals) -> Option<UsageTotals> {
        Some(UsageTotals {
            requests: self.requests.checked_add(other.requests)?,
            errors: self.errors.checked_add(other.errors)?,
            input_tokens: self.input_tokens.checked_add(other.input_tokens)?,
            cached_input_tokens: self
                .cached_input_tokens
                .checked_add(other.cached_input_tokens)?,
            output_tokens: self.output_tokens.checked_add(other.output_tokens)?,
            cost_picos: self.cost_picos.checked_add(other.cost_picos)?,
        })
    }

    /// The cost rounded half up to the micro-dollar, for showing.
    pub fn cost(&self) -> Money {
        let micros = (self.cost_picos.max(0) + PICOS_PER_MICRO / 2) / PICOS_PER_MICRO;
        // Rollups hold at most what the ledger can (±$1T): beyond 64 bits of micro-USD only
        // a corrupt row goes, shown as the most there is rather than failing the page.
        Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// The stored pair (`cost`, `cost_pico_rem`) of the exact cost.
    fn cost_columns(&self) -> Result<(i64, i64)> {
        let micros =
            i64::try_from(self.cost_picos.div_euclid(PICOS_PER_MICRO)).map_err(|_| overflow())?;
        let rem =
            i64::try_from(self.cost_picos.rem_euclid(PICOS_PER_MICRO)).map_err(|_| overflow())?;
        Ok((micros, rem))
    }

    /// The exact cost from its stored pair.
    pub(crate) fn picos_of(micros: i64, rem: i64) -> i128 {
        i128::from(micros) * PICOS_PER_MICRO + i128::from(rem)
    }

    fn of(record: &UsageRecord) -> Self {
        Self {
            requests: 1,
            errors: i64::from(is_error_status(&record.status)),
            input_tokens: record.input_tokens,
            cached_input_tokens: record.cached_input_tokens,
            output_tokens: record.output_tokens,
            // Exact, as the ledger debits it (a rebuild sums `cost_picos` the same way).
            cost_picos: i128::from(record.cost.picos()),
        }
    }
}

/// One rollup row's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub org_id: OrgId,
    pub grain: Grain,
    pub bucket: Timestamp,
    /// `None` in the `Day` grain, which does not split by project (the column holds '').
    pub project_id: Option<ProjectId>,
    /// `None` in the daily grains, which do not split by key (the column holds '').
    pub key_id: Option<CallerId>,
    pub model: String,
    pub plan: String,
}

fn overflow() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "usage rollup sums overflow 64 bits".to_owned(),
    ))
}

/// The rollup rows `records` add up to, with each row's latest `occurred_at`.
pub fn aggregate<'a>(
    records: impl IntoIterator<Item = &'a UsageRecord>,
) -> Result<BTreeMap<RollupKey, (UsageTotals, Timestamp)>> {
    let mut rows: BTreeMap<RollupKey, (UsageTotals, Timestamp)> = BTreeMap::new();
    for r in records {
        let add = UsageTotals::of(r);
        for grain in Grain::ALL {
            let (project_id, key_id) = grain.dims(&r.project_id, &r.key_id);
            let entry = rows
                .entry(RollupKey {
                    org_id: r.org_id.clone(),
                    grain,
                    bucket: grain.bucket(r.occurred_at),
                    project_id: project_id.cloned(),
                    key_id: key_id.cloned(),
                    model: r.model.clone(),
                    plan: r.plan.to_owned(),
                })
                .or_insert((UsageTotals::default(), i64::MIN));
            entry.0 = entry.0.checked_add(&add).ok_or_else(overflow)?;
            entry.1 = entry.1.max(r.occurred_at);
        }
    }
    Ok(rows)
}

const ROLLUP_PARAMS_PER_ROW: usize = 15;

/// Adds to the rollups the records of `records` whose id is in `new_ids` (the ones the
/// transaction just stored; a repeat of an id within the batch counts once, like the insert).
/// Rows are upserted in key order, so that concurrent writers lock them in the same order.
pub(crate) async fn add_to_rollups_in(
    tx: &mut Transaction<'static, Any>,
    engine: Engine,
    records: &[UsageRecord],
    new_ids: &HashSet<String>,
) -> Result<()> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(new_ids.len());
    let fresh = records
        .iter()
        .filter(|r| new_ids.contains(&r.id) && seen.insert(r.id.as_str()));
    let rows: Vec<_> = aggregate(fresh)?.into_iter().collect();
    for chunk in rows.chunks(max_bind_params(engine) / ROLLUP_PARAMS_PER_ROW) {
        let mut sql = String::from(
            "INSERT INTO usage_rollups (org_id, grain, bucket, project_id, key_id, model, plan, \
             requests, errors, input_tokens, cached_input_tokens, output_tokens, cost, cost_pico_rem, last_at) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(
                sql,
                "({})",
                placeholders(1 + i * ROLLUP_PARAMS_PER_ROW, ROLLUP_PARAMS_PER_ROW)
            );
        }
        sql.push_str(
            " ON CONFLICT (org_id, grain, bucket, project_id, key_id, model, plan) DO UPDATE SET \
             requests = usage_rollups.requests + excluded.requests, \
             errors = usage_rollups.errors + excluded.errors, \
             input_tokens = usage_rollups.input_tokens + excluded.input_tokens, \
             cached_input_tokens = usage_rollups.cached_input_tokens + excluded.cached_input_tokens, \
             output_tokens = usage_rollups.output_tokens + excluded.output_tokens, \
             cost = usage_rollups.cost + excluded.cost, \
             cost_pico_rem = usage_rollups.cost_pico_rem + excluded.cost_pico_rem, \
             last_at = CASE WHEN excluded.last_at > usage_rollups.last_at \
                       THEN excluded.last_at ELSE usage_rollups.last_at END",
        );
        let mut query = sqlx::query(&sql);
        for (k, (t, last_at)) in chunk {
            let (cost, cost_rem) = t.cost_columns()?;
            query = query
                .bind(k.org_id.as_str())
                .bind(k.grain.as_str())
                .bind(k.bucket)
                .bind(k.project_id.as_ref().map_or("", ProjectId::as_str))
                .bind(k.key_id.as_ref().map_or("", CallerId::as_str))
                .bind(&k.model)
                .bind(&k.plan)
                .bind(t.requests)
                .bind(t.errors)
                .bind(t.input_tokens)
                .bind(t.cached_input_tokens)
                .bind(t.output_tokens)
                .bind(cost)
                .bind(cost_rem)
                .bind(*last_at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The SQL that sums raw usage records into one grain's rollup rows (for the rebuild and for
/// tests that compare). `$1` is the first bucket; `$2`, when `by_org`, the organization.
fn rebuild_select(grain: Grain, by_org: bool) -> String {
    let size = grain.bucket_ms();
    let (project, key) = match grain {
        Grain::Hour => ("project_id", "key_id"),
        Grain::DayProject => ("project_id", "''"),
        Grain::Day => ("''", "''"),
    };
    let org_filter = if by_org { " AND org_id = $2" } else { "" };
    // PostgreSQL refuses constants in GROUP BY: only the grain's real columns go there.
    let group: Vec<&str> = ["org_id", "b", project, key, "model", "plan"]
        .into_iter()
        .filter(|c| *c != "''")
        .collect();
    let group = group.join(", ");
    format!(
        "SELECT org_id, '{grain}', occurred_at - (occurred_at % {size}) AS b, {project}, {key}, model, plan, \
         COUNT(*), CAST(SUM({ERROR_SQL}) AS BIGINT), CAST(SUM(input_tokens) AS BIGINT), \
         CAST(SUM(cached_input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), \
         CAST(SUM({COST_MICROS_SQL}) AS BIGINT), CAST(SUM({COST_REM_SQL}) AS BIGINT), MAX(occurred_at) \
         FROM usage_records WHERE occurred_at >= $1{org_filter} \
         GROUP BY {group}",
        grain = grain.as_str(),
    )
}

impl Store {
    /// Recomputes the rollups from `since` (a UTC day start) on, of one organization or of
    /// all, from the raw records. Concurrent recording waits: on PostgreSQL the raw table is
    /// locked against writes for the transaction, on SQLite the write lock does that.
    pub async fn rebuild_rollups(&self, org_id: Option<&OrgId>, since: Timestamp) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        if self.engine() == Engine::Postgres {
            sqlx::query("LOCK TABLE usage_records IN SHARE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let org_filter = if org_id.is_some() {
            " AND org_id = $2"
        } else {
            ""
        };
        let sql = format!("DELETE FROM usage_rollups WHERE bucket >= $1{org_filter}");
        let mut query = sqlx::query(&sql).bind(since);
        if let Some(org) = org_id {
            query = query.bind(org.as_str());
        }
        query.execute(&mut *tx).await?;
        let mut written = 0;
        for grain in Grain::ALL {
            let sql = format!(
                "INSERT INTO usage_rollups (org_id, grain, bucket, project_id, key_id, model, plan, \
                 requests, errors, input_tokens, cached_input_tokens, output_tokens, cost, cost_pico_rem, last_at) {}",
                rebuild_select(grain, org_id.is_some())
            );
            let mut query = sqlx::query(&sql).bind(since);
            if let Some(org) = org_id {
                query = query.bind(org.as_str());
            }
            written += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Deletes raw usage records that occurred before `before`, a batch at a time (so that no
    /// transaction holds the write lock long); rollups are kept. Returns how many went.
    pub async fn prune_usage_records(&self, before: Timestamp, batch: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let deleted = sqlx::query(
                "DELETE FROM usage_records WHERE id IN \
                 (SELECT id FROM usage_records WHERE occurred_at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(batch)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += deleted;
            if deleted < u64::try_from(batch).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }

    /// Every rollup row (of one organization), as stored: for tests and the rebuild's check.
    pub async fn rollup_rows(
        &self,
        org_id: &OrgId,
    ) -> Result<BTreeMap<RollupKey, (UsageTotals, Timestamp)>> {
        let rows = sqlx::query(
            "SELECT org_id, grain, bucket, project_id, key_id, model, plan, requests, errors, \
             input_tokens, cached_input_tokens, output_tokens, cost, cost_pico_rem, last_at \
             FROM usage_rollups WHERE org_id = $1",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows_to_map(&rows)
    }

    /// Makes an organization's rollups wrong (one row off by one, one row gone), for tests of
    /// the rebuild.
    #[cfg(feature = "testing")]
    pub async fn corrupt_rollups_for_tests(&self, org_id: &OrgId) -> Result<()> {
        sqlx::query("UPDATE usage_rollups SET cost_pico_rem = cost_pico_rem + 1 WHERE org_id = $1 AND grain = 'day'")
            .bind(org_id.as_str())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "DELETE FROM usage_rollups WHERE org_id = $1 AND grain = 'hour' AND bucket = \
             (SELECT MIN(bucket) FROM usage_rollups WHERE org_id = $1 AND grain = 'hour')",
        )
        .bind(org_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What the rollups of one organization would be if rebuilt from the raw records now.
    pub async fn rollups_from_raw(
        &self,
        org_id: &OrgId,
    ) -> Result<BTreeMap<RollupKey, (UsageTotals, Timestamp)>> {
        let mut out = BTreeMap::new();
        for grain in Grain::ALL {
            let rows = sqlx::query(&rebuild_select(grain, true))
                .bind(i64::MIN)
                .bind(org_id.as_str())
                .fetch_all(&self.pool)
                .await?;
            out.extend(rows_to_map(&rows)?);
        }
        Ok(out)
    }
}

fn rows_to_map(
    rows: &[sqlx::any::AnyRow],
) -> Result<BTreeMap<RollupKey, (UsageTotals, Timestamp)>> {
    use sqlx::Row;
    let mut out = BTreeMap::new();
    for r in rows {
        let grain: String = r.try_get(1)?;
        let project_id: String = r.try_get(3)?;
        let key_id: String = r.try_get(4)?;
        let grain = match grain.as_str() {
            "hour" => Grain::Hour,
            "day_project" => Grain::DayProject,
            _ => Grain::Day,
        };
        out.insert(
            RollupKey {
                org_id: OrgId::from_stored(r.try_get(0)?),
                grain,
                bucket: r.try_get(2)?,
                project_id: (!project_id.is_empty()).then(|| ProjectId::from_stored(project_id)),
                key_id: (!key_id.is_empty()).then(|| CallerId::from_stored(key_id)),
                model: r.try_get(5)?,
                plan: r.try_get(6)?,
            },
            (
                UsageTotals {
                    requests: r.try_get(7)?,
                    errors: r.try_get(8)?,
                    input_tokens: r.try_get(9)?,
                    cached_input_tokens: r.try_get(10)?,
                    output_tokens: r.try_get(11)?,
                    cost_picos: UsageTotals::picos_of(r.try_get(12)?, r.try_get(13)?),
                },
                r.try_get(14)?,
            ),
        );
    }
    Ok(out)
}
