//! Debits: usage drawn from an organization's open grants in the order of the domain's
//! `allocate` (soonest expiring first), one usage entry per debit.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::str::FromStr;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::ledger::{allocate, GrantCategory, GrantLot};
use tollgate_domain::Timestamp;

use super::{append_entry, open_account};
use crate::error::corrupt;
use crate::{placeholders, Result};

/// The open grants of an organization usable at `now`.
async fn open_lots(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    now: Timestamp,
) -> Result<Vec<GrantLot>> {
    let rows = sqlx::query(
        "SELECT id, category, remaining, effective_at, expires_at FROM credit_grants \
         WHERE org_id = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(org_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|r| {
            let category: String = r.try_get("category")?;
            Ok(GrantLot {
                id: r.try_get("id")?,
                category: GrantCategory::from_str(&category).map_err(|e| corrupt(e.to_string()))?,
                remaining: r.try_get("remaining")?,
                effective_at: r.try_get("effective_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

/// Takes `amount` from the grants in draw order; what they do not cover becomes debt.
/// Returns the new balance. The caller has locked the account and appended the entries.
async fn draw(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    balance: i64,
    amount: i64,
    now: Timestamp,
) -> Result<i64> {
    let lots = open_lots(tx, org_id, now).await?;
    let (takes, uncovered) = allocate(&lots, amount, now);
    for (grant_id, take) in takes {
        sqlx::query("UPDATE credit_grants SET remaining = remaining - $1 WHERE id = $2")
            .bind(take)
            .bind(grant_id)
            .execute(&mut **tx)
            .await?;
    }
    let balance_after = balance - amount;
    sqlx::query("UPDATE credit_accounts SET balance = $1, debt = debt + $2 WHERE org_id = $3")
        .bind(balance_after)
        .bind(uncovered)
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(balance_after)
}

/// Debits usage inside `tx`; false when the idempotency key was used before (nothing changed).
pub async fn debit_usage_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    amount: i64,
    idempotency_key: &str,
    reference: Option<&str>,
    now: Timestamp,
) -> Result<bool> {
    let (balance, _) = open_account(tx, org_id, now).await?;
    if !append_entry(
        tx,
        org_id,
        "usage",
        -amount,
        balance - amount,
        idempotency_key,
        None,
        reference,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    if amount > 0 {
        draw(tx, org_id, balance, amount, now).await?;
    }
    Ok(true)
}

/// Debits many usage amounts of one organization at once: one entry each (skipping keys seen
/// before), one pass over the grants for their sum. Returns how many were new.
pub(crate) async fn debit_usage_batch_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    debits: &[(&str, i64)],
    max_params: usize,
    now: Timestamp,
) -> Result<usize> {
    let (balance, _) = open_account(tx, org_id, now).await?;
    // A key repeated within the batch counts once, at its first occurrence, as it would have
    // entry by entry; this keeps two rows with one key out of a single INSERT.
    let mut seen = HashSet::new();
    let debits: Vec<(&str, i64)> = debits
        .iter()
        .copied()
        .filter(|(key, _)| seen.insert(*key))
        .collect();

    // Multi-row inserts, one round trip per chunk (DESIGN §5). Each entry's balance_after is
    // the running balance in batch order, written assuming every key is new — the case of
    // `record_usage`, whose usage ids were already deduplicated by its own insert. RETURNING
    // names the keys that were.
    let mut inserted: HashSet<String> = HashSet::new();
    let mut running = balance;
    // Entry rows per statement: three bound per row, organization and time once.
    for chunk in debits.chunks((max_params - 2) / 3) {
        let mut sql = String::from(
            "INSERT INTO ledger_entries (org_id, kind, amount, balance_after, idempotency_key, created_at) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            // $1 is the organization, $2 the time, shared by every row.
            let _ = write!(sql, "($1, 'usage', {}, $2)", placeholders(3 + i * 3, 3));
        }
        sql.push_str(" ON CONFLICT (org_id, idempotency_key) DO NOTHING RETURNING idempotency_key");
        let mut query = sqlx::query(&sql).bind(org_id).bind(now);
        for (key, amount) in chunk {
            running -= amount;
            query = query.bind(-amount).bind(running).bind(*key);
        }
        for row in query.fetch_all(&mut **tx).await? {
            inserted.insert(row.try_get("idempotency_key")?);
        }
    }

    // Keys used before were skipped, so the entries after them were written with a balance that
    // counted a debit that did not happen: recompute over the new entries alone and correct the
    // ones that differ. Rare (only a caller replaying keys), and safe: the account lock keeps
    // other writers of this organization out, and the rows are this transaction's own.
    if inserted.len() < debits.len() {
        let (mut assumed, mut actual) = (balance, balance);
        for (key, amount) in &debits {
            assumed -= amount;
            if !inserted.contains(*key) {
                continue;
            }
            actual -= amount;
            if actual != assumed {
                sqlx::query(
                    "UPDATE ledger_entries SET balance_after = $1 WHERE org_id = $2 AND idempotency_key = $3",
                )
                .bind(actual)
                .bind(org_id)
                .bind(*key)
                .execute(&mut **tx)
                .await?;
            }
        }
    }

    let total: i64 = debits
        .iter()
        .filter(|(key, _)| inserted.contains(*key))
        .map(|(_, amount)| amount)
        .sum();
    if total > 0 {
        draw(tx, org_id, balance, total, now).await?;
    }
    Ok(inserted.len())
}
