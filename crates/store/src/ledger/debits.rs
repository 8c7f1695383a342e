//! Usage debits: one at a time (`debit_usage_in`) and in batches from the usage writer
//! (`debit_usage_batch_in`), each drawing from the grants in order with the sub-micro carry
//! (decision 0007).

use sqlx::{Any, Transaction};
use tollgate_domain::ledger::{in_range, ledger_sub, UsageCost};
use tollgate_domain::usage::carry_whole_micros;
use tollgate_domain::{new_time_ordered_id, IdPrefix, Money, OrgId, Timestamp};

use super::{append_entry, draw, open_account, LockedAccount};
use crate::error::corrupt;
use crate::{Result, Store};

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
    /// Usage records refused, nothing debited for them: their debit would leave the ledger's
    /// range.
    pub out_of_range: Vec<String>,
}

/// Walks `debits` in order from `account`: each debit's whole micro-dollars with the carry
/// (decision 0007) and the running balance, checked. A debit that would leave the ledger's range
/// is set aside (refused) and the rest go on without it. Returns the keys debited, the refused
/// keys, and the balance and the carry after.
fn plan_debits<'a>(
    debits: &[(&'a str, UsageCost)],
    account: LockedAccount,
) -> (Vec<&'a str>, Vec<&'a str>, Money, i64) {
    let (mut balance, mut carry) = (account.balance, account.usage_carry);
    let (mut planned, mut refused) = (Vec::new(), Vec::new());
    for &(key, cost) in debits {
        let step = carry_whole_micros(carry, cost).and_then(|(whole, rest)| {
            Some((rest, ledger_sub(balance, Money::from_micros(whole)).ok()?))
        });
        match step {
            Some((rest, after)) => {
                (balance, carry) = (after, rest);
                planned.push(key);
            }
            None => refused.push(key),
        }
    }
    (planned, refused, balance, carry)
}

/// Debits many usage costs of one organization at once, exactly, as one ledger entry: each
/// cost in whole micro-USD with the organization's carry (decision 0007), in order, a debit that
/// would leave the ledger's range refused alone; what the rest move together is one `usage`
/// entry (when it is at least one micro-dollar), one pass over the grants, the carry written
/// back.
///
/// `debits` are (usage record id, cost), each record new. The caller (`record_usage`) stores
/// each usage record once, its id the primary key, and debits only the records it stored in
/// this transaction, so a replay never reaches here: exactly once rests on that key. The
/// entry's idempotency key is a new id of its own (`usage-batch:ubt_…`, in time order), not
/// derived from the records, whose ids a usage reporter chooses and may use again once a
/// record is pruned. The usage records are the per-request account of what the entry sums.
pub(crate) async fn debit_usage_batch_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    debits: &[(&str, UsageCost)],
    now: Timestamp,
) -> Result<BatchDebit> {
    let account = open_account(tx, org_id, now).await?;
    let (planned, refused, balance, carry) = plan_debits(debits, account);
    let total = ledger_sub(account.balance, balance)?;
    if total.is_positive() {
        let reference = match planned.len() {
            1 => "1 usage record".to_owned(),
            n => format!("{n} usage records"),
        };
        let key = format!(
            "usage-batch:{}",
            new_time_ordered_id(IdPrefix::UsageBatch, now)
        );
        let appended = append_entry(
            tx,
            org_id,
            "usage",
            total.saturating_neg(),
            balance,
            &key,
            None,
            Some(&reference),
            now,
        )
        .await?;
        if !appended {
            return Err(corrupt(format!(
                "the new ledger key {key} of organization {org_id} was taken"
            )));
        }
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
