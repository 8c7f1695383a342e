//! Usage records: one row per request, the record id making a replay change nothing, each new
//! record's cost debited from the ledger in the same transaction. A record the ledger cannot
//! take (its debit would leave the ledger's range) is rejected alone, never its batch.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use sqlx::Row;
use tollgate_domain::ledger::{OutOfRange, UsageCost};
use tollgate_domain::usage::PICOS_PER_MICRO;
use tollgate_domain::{CallerId, Money, OrgId, ProjectId, Timestamp};

use crate::error::corrupt;
use crate::leases::shrink_hold_in;
use crate::ledger::debit_usage_batch_in;
use crate::spend_leases::{settle_spend_in, SpendHolds};
use crate::usage_rollups::add_to_rollups_in;
use crate::{max_bind_params, placeholders, Engine, Result, Store};

/// Bound per row of the multi-row insert (`recorded_at` is bound once per statement).
const USAGE_PARAMS_PER_ROW: usize = 16;

/// Records per INSERT statement. SQLite: as many as its bind limit allows. PostgreSQL: far
/// fewer than its bind limit would allow (62), because each statement is one uninterrupted
/// burst of the database's CPU, and on a machine that also runs the gateway a longer burst
/// delays the requests whose threads wake meanwhile on that core. The gateway benchmark's p99
/// added was lower with 31 or 15 records per statement than with 62, and higher again with 8
/// (decision 0027).
fn usage_rows_per_statement(engine: Engine) -> usize {
    match engine {
        Engine::Sqlite => (max_bind_params(engine) - 1) / USAGE_PARAMS_PER_ROW,
        Engine::Postgres => 15,
    }
}

/// A priced usage record, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub id: String,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    /// The API key, or the Playground's pass, the request was made with.
    pub key_id: CallerId,
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// Exact, at the price in force (`tollgate_domain::usage::usage_cost`); zero under a
    /// subscription. Stored exactly (`cost_picos`) and rounded to the micro-dollar (`cost`).
    pub cost: UsageCost,
    /// `payg` or `subscription`.
    pub plan: &'static str,
    pub status: String,
    pub latency_ms: Option<i64>,
    /// Time to the first token of a streamed answer.
    pub ttft_ms: Option<i64>,
    /// The tokens were counted from the delivered text: the upstream reported no `usage`.
    pub estimated: bool,
    pub occurred_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordedUsage {
    pub accepted: usize,
    pub duplicates: usize,
    /// Records not stored, with the reason: their debit would leave the ledger's range.
    pub rejected: Vec<(String, String)>,
}

impl Store {
    /// Stores a batch of usage records and debits their cost, in one transaction. Records whose
    /// id was stored before are counted as duplicates and change nothing.
    pub async fn record_usage(
        &self,
        records: &[UsageRecord],
        now: Timestamp,
    ) -> Result<RecordedUsage> {
        self.record_usage_on_holds(records, &[], now).await
    }

    /// `record_usage` for records admitted against credit holds (the gateway's leases):
    /// `holds[i]` is the hold record `i` was reserved from, or `None`; empty when none was. In
    /// the same transaction each hold shrinks by the cost of its new records (rounded up to the
    /// micro-dollar, as reserved; at most to nothing), so that the debit and the end of the
    /// reservation happen exactly once, with the record.
    pub async fn record_usage_on_holds(
        &self,
        records: &[UsageRecord],
        holds: &[Option<&str>],
        now: Timestamp,
    ) -> Result<RecordedUsage> {
        self.record_usage_on_leases(records, holds, &[], now).await
    }

    /// `record_usage_on_holds` for records admitted against spend-limit leases too:
    /// `spend_holds[i]` names the spend holds record `i` was reserved from (empty when none
    /// was). Every stored record adds its cost to its organization's, project's and key's month
    /// (`spend_periods`), and its spend holds shrink by as much, in the same transaction.
    pub async fn record_usage_on_leases(
        &self,
        records: &[UsageRecord],
        holds: &[Option<&str>],
        spend_holds: &[SpendHolds],
        now: Timestamp,
    ) -> Result<RecordedUsage> {
        if (!holds.is_empty() && holds.len() != records.len())
            || (!spend_holds.is_empty() && spend_holds.len() != records.len())
        {
            return Err(corrupt(format!(
                "{} holds and {} spend holds for {} usage records",
                holds.len(),
                spend_holds.len(),
                records.len()
            )));
        }
        let mut tx = self.begin_write().await?;
        // One multi-row INSERT per chunk rather than one per record: the round trips, not the
        // rows, are what kept PostgreSQL under DESIGN §5's 20,000 records/s. RETURNING names the
        // ids that were new; a conflicting id was stored before.
        let mut new_ids: HashSet<String> = HashSet::new();
        // Inserted in id order (stable: a repeated id's first record stays first), so that
        // concurrent batches sharing ids take their index locks in one order: in any other
        // order two replays of overlapping batches deadlock on PostgreSQL.
        let mut sorted: Vec<&UsageRecord> = records.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        for chunk in sorted.chunks(usage_rows_per_statement(self.engine())) {
            let mut sql = String::from(
                "INSERT INTO usage_records (id, org_id, project_id, key_id, model, input_tokens, cached_input_tokens, \
                 output_tokens, cost, cost_picos, plan, status, latency_ms, ttft_ms, estimated, occurred_at, recorded_at) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                // $1 is `now`, the recorded_at of every row.
                let _ = write!(
                    sql,
                    "({}, $1)",
                    placeholders(2 + i * USAGE_PARAMS_PER_ROW, USAGE_PARAMS_PER_ROW)
                );
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let mut query = sqlx::query(&sql).bind(now);
            for r in chunk {
                query = query
                    .bind(&r.id)
                    .bind(r.org_id.as_str())
                    .bind(r.project_id.as_str())
                    .bind(r.key_id.as_str())
                    .bind(&r.model)
                    .bind(r.input_tokens)
                    .bind(r.cached_input_tokens)
                    .bind(r.output_tokens)
                    .bind(r.cost.rounded().micros())
                    .bind(r.cost.picos())
                    .bind(r.plan)
                    .bind(&r.status)
                    .bind(r.latency_ms)
                    .bind(r.ttft_ms)
                    .bind(i64::from(r.estimated))
                    .bind(r.occurred_at);
            }
            for row in query.fetch_all(&mut *tx).await? {
                new_ids.insert(row.try_get("id")?);
            }
        }
        let mut outcome = RecordedUsage::default();
        let mut unclaimed = new_ids.clone();
        // Per organization: (record id, cost) of each new record that costs something.
        let mut debits: BTreeMap<&OrgId, Vec<(&str, UsageCost)>> = BTreeMap::new();
        // New records reserved from a hold: (organization, hold, record id, cost rounded up).
        let mut on_holds: Vec<(&OrgId, &str, &str, Money)> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            // A new id is claimed by its first record: a repeat within the batch was skipped by
            // the insert (its first occurrence was stored) and is a duplicate too.
            if !unclaimed.remove(r.id.as_str()) {
                outcome.duplicates += 1;
                continue;
            }
            outcome.accepted += 1;
            if r.cost > UsageCost::ZERO {
                debits
                    .entry(&r.org_id)
                    .or_default()
                    .push((r.id.as_str(), r.cost));
                if let Some(Some(hold_id)) = holds.get(i) {
                    on_holds.push((&r.org_id, hold_id, &r.id, r.cost.ceil()));
                }
            }
        }
        let mut refused: Vec<String> = Vec::new();
        for (org_id, org_debits) in debits {
            let debited = debit_usage_batch_in(&mut tx, org_id, &org_debits, now).await?;
            refused.extend(debited.out_of_range);
        }
        // Records the ledger could not take leave no trace: the sender is told, and may not
        // resend them as they are (the same bounds apply).
        for chunk in refused.chunks(max_bind_params(self.engine())) {
            let sql = format!(
                "DELETE FROM usage_records WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&mut *tx).await?;
        }
        // Per organization, per hold: what its stored records cost. The debits locked the
        // accounts, so the holds change under the same locks.
        let mut shrinks: BTreeMap<(&OrgId, &str), Money> = BTreeMap::new();
        for (org_id, hold_id, id, cost) in on_holds {
            if !refused.iter().any(|r| r == id) {
                let by = shrinks.entry((org_id, hold_id)).or_default();
                *by = by.saturating_add(cost);
            }
        }
        for ((org_id, hold_id), by) in shrinks {
            shrink_hold_in(&mut tx, org_id, hold_id, by, None).await?;
        }
        for id in &refused {
            new_ids.remove(id);
        }
        settle_spend_in(&mut tx, records, &new_ids, spend_holds, now).await?;
        add_to_rollups_in(&mut tx, self.engine(), records, &new_ids).await?;
        outcome.accepted = outcome.accepted.saturating_sub(refused.len());
        outcome.rejected = refused
            .into_iter()
            .map(|id| (id, OutOfRange.to_string()))
            .collect();
        tx.commit().await?;
        Ok(outcome)
    }

    /// A stored usage record: (organization, cost rounded half up to the micro-dollar, plan).
    pub async fn usage_record(&self, id: &str) -> Result<Option<(OrgId, Money, String)>> {
        let row = sqlx::query("SELECT org_id, cost, plan FROM usage_records WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                OrgId::from_stored(r.try_get("org_id")?),
                Money::from_micros(r.try_get("cost")?),
                r.try_get("plan")?,
            ))
        })
        .transpose()
    }

    /// Σ exact cost of an organization's usage records in pico-USD, as an `i128` (records from
    /// before exact pricing count their whole micro-USD): for the exactness checks of tests and
    /// operators. Summed here rather than in SQL, where the sum could overflow a BIGINT.
    pub async fn usage_cost_picos(&self, org_id: &OrgId) -> Result<i128> {
        let rows = sqlx::query("SELECT cost, cost_picos FROM usage_records WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut total: i128 = 0;
        for r in rows {
            let exact: Option<i64> = r.try_get("cost_picos")?;
            let picos = match exact {
                Some(p) => i128::from(p),
                None => i128::from(r.try_get::<i64, _>("cost")?)
                    .checked_mul(i128::from(PICOS_PER_MICRO))
                    .ok_or(crate::StoreError::OutOfRange(OutOfRange))?,
            };
            total = total
                .checked_add(picos)
                .ok_or_else(|| crate::StoreError::OutOfRange(OutOfRange))?;
        }
        Ok(total)
    }
}
