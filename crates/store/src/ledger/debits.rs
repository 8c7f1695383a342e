//! Usage debits: one at a time (`debit_usage_in`) and in batches from the usage writer
//! (`debit_usage_batch_in`), each drawing from the grants in order with the sub-micro carry
//! (decision 0007).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::ledger::{in_range, ledger_sub, UsageCost};
use tollgate_domain::usage::carry_whole_micros;
use tollgate_domain::{Money, OrgId, Timestamp};

use super::{append_entry, draw, open_account, LockedAccount};
use crate::error::corrupt;
use crate::{placeholders, Result, Store};

/// Debits usage inside `tx`; false when the idempotency key was used before (nothing changed).
pub(super) async fn debit_usage_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    amount: Money,
    idempotency_key: &str,
    reference: Option<&str>,
    now: Timestamp,
) -> Result<bool> {
    if amount.is_negative() {
        return Err(corrupt(format!("a debit cannot be negative, not {amount}")));
    }
    let account = open_account(tx, org_id, now).await?;
    let balance_after = ledger_sub(account.balance, in_range(amount)?)?;
    if !append_entry(
        tx,
        org_id,
        "usage",
        amount.saturating_neg(),
        balance_after,
        idempotency_key,
        None,
        reference,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    if amount.is_positive() {
        draw(tx, org_id, account, amount, now).await?;
    }
    Ok(true)
}

/// What `debit_usage_batch_in` did.
#[derive(Debug, Default)]
pub(crate) struct BatchDebit {
    /// Keys refused, nothing written for them: their debit would leave the ledger's range.
    pub out_of_range: Vec<String>,
}

/// One usage debit as planned: its key, the whole micro-USD it moves (with the carry) and the
/// balance after it.
struct Planned<'a> {
    key: &'a str,
    amount: Money,
    balance_after: Money,
}

/// Walks `debits` in order from `account`: each debit's whole micro-dollars with the carry
/// (decision 0007) and the running balance, checked. A debit that would leave the ledger's range
/// is set aside (`out_of_range`) and the rest go on without it; keys in `skip` were debited
/// before and move nothing. Returns the plan, the refused keys, the balance and the carry after.
fn plan_debits<'a>(
    debits: &[(&'a str, UsageCost)],
    skip: &HashSet<&str>,
    account: LockedAccount,
) -> (Vec<Planned<'a>>, Vec<&'a str>, Money, i64) {
    let (mut balance, mut carry) = (account.balance, account.usage_carry);
    let (mut planned, mut refused) = (Vec::new(), Vec::new());
    for &(key, cost) in debits {
        if skip.contains(key) {
            continue;
        }
        let step = carry_whole_micros(carry, cost).and_then(|(whole, rest)| {
            let whole = Money::from_micros(whole);
            Some((whole, rest, ledger_sub(balance, whole).ok()?))
        });
        match step {
            Some((amount, rest, after)) => {
                (balance, carry) = (after, rest);
                planned.push(Planned {
                    key,
                    amount,
                    balance_after: after,
                });
            }
            None => refused.push(key),
        }
    }
    (planned, refused, balance, carry)
}

/// Debits many usage costs of one organization at once, exactly: each in whole micro-USD with
/// the organization's carry, one entry per debit that moves at least one micro-dollar (skipping
/// keys seen before), one pass over the grants for their sum, the carry written back. A debit
/// that would leave the ledger's range is refused alone.
pub(crate) async fn debit_usage_batch_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    debits: &[(String, UsageCost)],
    max_params: usize,
    now: Timestamp,
) -> Result<BatchDebit> {
    let account = open_account(tx, org_id, now).await?;
    // A key repeated within the batch counts once, at its first occurrence, as it would have
    // entry by entry; this keeps two rows with one key out of a single INSERT.
    let mut seen = HashSet::new();
    let debits: Vec<(&str, UsageCost)> = debits
        .iter()
        .map(|(key, cost)| (key.as_str(), *cost))
        .filter(|(key, _)| seen.insert(*key))
        .collect();
    let (planned, mut refused, mut balance, mut carry) =
        plan_debits(&debits, &HashSet::new(), account);

    // Multi-row inserts, one round trip per chunk (DESIGN §5), written assuming every key is
    // new — the case of `record_usage`, whose usage ids were already deduplicated by its own
    // insert. RETURNING names the keys that were. A debit below one micro-dollar only moves the
    // carry and has no entry.
    let mut inserted: HashSet<String> = HashSet::new();
    let written: Vec<&Planned> = planned.iter().filter(|p| p.amount.is_positive()).collect();
    // Entry rows per statement: three bound per row, organization and time once.
    for chunk in written.chunks((max_params - 2) / 3) {
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
        let mut query = sqlx::query(&sql).bind(org_id.as_str()).bind(now);
        for p in chunk {
            query = query
                .bind(p.amount.saturating_neg().micros())
                .bind(p.balance_after.micros())
                .bind(p.key);
        }
        for row in query.fetch_all(&mut **tx).await? {
            inserted.insert(row.try_get("idempotency_key")?);
        }
    }

    // Keys used before were skipped, so the entries after them were written with amounts and
    // balances that counted a debit that did not happen: plan again without those keys (and
    // without the refused ones) and correct the entries that differ. Rare (only a caller
    // replaying keys), and safe: the account lock keeps other writers of this organization out,
    // and the rows are this transaction's own.
    if inserted.len() < written.len() {
        let mut skip: HashSet<&str> = written
            .iter()
            .filter(|p| !inserted.contains(p.key))
            .map(|p| p.key)
            .collect();
        skip.extend(refused.iter().copied());
        let first: HashMap<&str, (Money, Money)> = planned
            .iter()
            .map(|p| (p.key, (p.amount, p.balance_after)))
            .collect();
        let replanned = plan_debits(&debits, &skip, account);
        for p in &replanned.0 {
            let was_written = inserted.contains(p.key);
            if was_written && first.get(p.key) != Some(&(p.amount, p.balance_after)) {
                sqlx::query(
                    "UPDATE ledger_entries SET amount = $1, balance_after = $2 WHERE org_id = $3 AND idempotency_key = $4",
                )
                .bind(p.amount.saturating_neg().micros())
                .bind(p.balance_after.micros())
                .bind(org_id.as_str())
                .bind(p.key)
                .execute(&mut **tx)
                .await?;
            }
        }
        // A debit the first plan moved nothing for has no entry even when the new plan moves a
        // micro-dollar for it: write those now.
        for p in &replanned.0 {
            if p.amount.is_positive() && first.get(p.key).is_some_and(|(a, _)| *a == Money::ZERO) {
                append_entry(
                    tx,
                    org_id,
                    "usage",
                    p.amount.saturating_neg(),
                    p.balance_after,
                    p.key,
                    None,
                    None,
                    now,
                )
                .await?;
            }
        }
        // Fewer debits only raise the balance, so the new plan refuses nothing the first did
        // not, short of a carry overflow; should it, that debit's entry goes too.
        for key in &replanned.1 {
            if inserted.contains(*key) {
                sqlx::query(
                    "DELETE FROM ledger_entries WHERE org_id = $1 AND idempotency_key = $2",
                )
                .bind(org_id.as_str())
                .bind(*key)
                .execute(&mut **tx)
                .await?;
            }
        }
        refused.extend(replanned.1.iter().copied());
        (balance, carry) = (replanned.2, replanned.3);
    }

    let total = ledger_sub(account.balance, balance)?;
    if total.is_positive() {
        draw(tx, org_id, account, total, now).await?;
    }
    if carry != account.usage_carry {
        sqlx::query("UPDATE credit_accounts SET usage_carry = $1 WHERE org_id = $2")
            .bind(carry)
            .bind(org_id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(BatchDebit {
        out_of_range: refused.into_iter().map(str::to_owned).collect(),
    })
}

impl Store {
    pub async fn debit_usage(
        &self,
        org_id: &OrgId,
        amount: Money,
        idempotency_key: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let applied = debit_usage_in(&mut tx, org_id, amount, idempotency_key, None, now).await?;
        tx.commit().await?;
        Ok(applied)
    }
}
