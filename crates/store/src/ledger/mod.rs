//! The credit ledger: grants (lots), append-only entries with a per-organization idempotency
//! key, and holds. Rules (draw order, pricing) live in `tollgate_domain::ledger`; this module
//! makes them atomic.
//!
//! Every write starts by upserting the organization's `credit_accounts` row, which serialises
//! writers of one organization on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already does. Under
//! that lock every new amount is computed here, checked and within `±LEDGER_LIMIT`, and written
//! as a value: no `column = column + $1` in SQL, where SQLite would turn an overflow into a REAL
//! and PostgreSQL into an error.

use std::str::FromStr;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::ledger::{
    allocate, in_range, ledger_add, ledger_sub, GrantCategory, GrantLot, GrantSource,
};
use tollgate_domain::{new_id, IdPrefix, Money, OrgId, Timestamp};

use crate::cursor::{Keyset, Order, PageRequest};
use crate::error::corrupt;
use crate::stored_id::StoredId;
use crate::{Result, Store, StoreError};

mod debits;
mod holds;

pub(crate) use debits::debit_usage_batch_in;

/// The grant history as a list, newest first.
const GRANTS: Keyset = Keyset::by_time(
    "SELECT created_at, id FROM credit_grants WHERE org_id = $1 AND id = $2",
    Order::Descending,
);

/// An organization's credit, read in O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditAccount {
    /// Σ ledger entries: what the organization has (negative when usage outran its credit).
    pub balance: Money,
    /// Σ live holds: reserved by requests in flight.
    pub held: Money,
    /// Pico-USD of usage not yet debited because it is less than one micro-dollar, in
    /// `0..1_000_000` (decision 0007).
    pub usage_carry: i64,
}

impl CreditAccount {
    /// What a new request may reserve: `balance − held` (exact: both lie within
    /// `±LEDGER_LIMIT`, so their difference fits an `i64`).
    pub fn available(self) -> Money {
        self.balance.saturating_sub(self.held)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub org_id: OrgId,
    pub category: GrantCategory,
    pub source: GrantSource,
    pub amount: Money,
    pub remaining: Money,
    pub effective_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub reference: Option<String>,
    pub description: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    #[sqlx(try_from = "StoredId")]
    org_id: OrgId,
    category: String,
    source: String,
    amount: i64,
    remaining: i64,
    effective_at: i64,
    expires_at: Option<i64>,
    reference: Option<String>,
    description: String,
    created_at: i64,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(r: GrantRow) -> Result<Self> {
        Ok(Grant {
            category: GrantCategory::from_str(&r.category).map_err(|e| corrupt(e.to_string()))?,
            source: GrantSource::from_str(&r.source).map_err(|e| corrupt(e.to_string()))?,
            id: r.id,
            org_id: r.org_id,
            amount: Money::from_micros(r.amount),
            remaining: Money::from_micros(r.remaining),
            effective_at: r.effective_at,
            expires_at: r.expires_at,
            reference: r.reference,
            description: r.description,
            created_at: r.created_at,
        })
    }
}

const GRANT_COLUMNS: &str =
    "id, org_id, category, source, amount, remaining, effective_at, expires_at, reference, description, created_at";

/// Credit to add. The idempotency key makes a replay (a retried payment, a re-run command) a
/// no-op.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    pub source: GrantSource,
    pub amount: Money,
    pub expires_at: Option<Timestamp>,
    pub idempotency_key: &'a str,
    /// What caused it, e.g. a payment id.
    pub reference: Option<&'a str>,
    pub description: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    Created(Grant),
    /// The idempotency key was used before: nothing changed.
    Duplicate,
}

/// An account row as locked by a writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockedAccount {
    pub balance: Money,
    pub held: Money,
    pub debt: Money,
    pub usage_carry: i64,
}

/// The account row, created on first use and locked for the rest of the transaction.
pub(crate) async fn lock_account(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    now: Timestamp,
) -> Result<LockedAccount> {
    let row = sqlx::query(
        "INSERT INTO credit_accounts (org_id, updated_at) VALUES ($1, $2) \
         ON CONFLICT (org_id) DO UPDATE SET updated_at = excluded.updated_at \
         RETURNING balance, held, debt, usage_carry",
    )
    .bind(org_id.as_str())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(LockedAccount {
        balance: Money::from_micros(row.try_get("balance")?),
        held: Money::from_micros(row.try_get("held")?),
        debt: Money::from_micros(row.try_get("debt")?),
        usage_carry: row.try_get("usage_carry")?,
    })
}

/// Appends an entry unless its idempotency key was used before; true when appended.
#[allow(clippy::too_many_arguments)]
async fn append_entry(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    kind: &str,
    amount: Money,
    balance_after: Money,
    idempotency_key: &str,
    grant_id: Option<&str>,
    reference: Option<&str>,
    now: Timestamp,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO ledger_entries (org_id, kind, amount, balance_after, idempotency_key, grant_id, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(org_id.as_str())
    .bind(kind)
    .bind(amount.micros())
    .bind(balance_after.micros())
    .bind(idempotency_key)
    .bind(grant_id)
    .bind(reference)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.is_some())
}

/// Writes off what is left of the organization's grants past their expiry (one `expiry` entry
/// each) and returns the balance after. Called under the account lock by every writer, so that
/// credit is never spent or reserved past its expiry, and by the periodic job for the rest.
async fn expire_due_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    balance: Money,
    now: Timestamp,
) -> Result<Money> {
    let due = sqlx::query(
        "SELECT id, remaining FROM credit_grants \
         WHERE org_id = $1 AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $2 ORDER BY expires_at, id",
    )
    .bind(org_id.as_str())
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    if due.is_empty() {
        return Ok(balance);
    }
    let mut running = balance;
    for row in due {
        let (id, remaining): (String, i64) = (row.try_get("id")?, row.try_get("remaining")?);
        let remaining = Money::from_micros(remaining);
        let after = ledger_sub(running, remaining)?;
        if append_entry(
            tx,
            org_id,
            "expiry",
            remaining.saturating_neg(),
            after,
            &format!("expiry:{id}"),
            Some(&id),
            None,
            now,
        )
        .await?
        {
            running = after;
        }
        sqlx::query("UPDATE credit_grants SET remaining = 0 WHERE id = $1")
            .bind(&id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE credit_accounts SET balance = $1 WHERE org_id = $2")
        .bind(running.micros())
        .bind(org_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(running)
}

/// Locks the account and writes off expired grants: the balance every writer starts from.
pub(crate) async fn open_account(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    now: Timestamp,
) -> Result<LockedAccount> {
    let account = lock_account(tx, org_id, now).await?;
    Ok(LockedAccount {
        balance: expire_due_in(tx, org_id, account.balance, now).await?,
        ..account
    })
}

/// Adds a grant inside `tx` (a payment's transaction, for instance). Outstanding debt is paid
/// from it first.
pub(crate) async fn grant_credits_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    grant: &NewGrant<'_>,
    now: Timestamp,
) -> Result<Granted> {
    let amount = grant.amount;
    if !amount.is_positive() {
        return Err(corrupt(format!("a grant must be positive, not {amount}")));
    }
    let LockedAccount { balance, debt, .. } = open_account(tx, org_id, now).await?;
    let id = new_id(IdPrefix::Grant);
    let balance_after = ledger_add(balance, in_range(amount)?)?;
    if !append_entry(
        tx,
        org_id,
        "grant",
        amount,
        balance_after,
        grant.idempotency_key,
        Some(&id),
        grant.reference,
        now,
    )
    .await?
    {
        return Ok(Granted::Duplicate);
    }
    let repaid = debt.min(amount);
    // 0 ≤ repaid ≤ amount: cannot overflow.
    let grant_remaining = amount.saturating_sub(repaid);
    let row: GrantRow = sqlx::query_as(&format!(
        "INSERT INTO credit_grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $7) \
         RETURNING {GRANT_COLUMNS}"
    ))
    .bind(&id)
    .bind(org_id.as_str())
    .bind(grant.source.category().as_str())
    .bind(grant.source.as_str())
    .bind(amount.micros())
    .bind(grant_remaining.micros())
    .bind(now)
    .bind(grant.expires_at)
    .bind(grant.reference)
    .bind(grant.description)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("UPDATE credit_accounts SET balance = $1, debt = $2 WHERE org_id = $3")
        .bind(balance_after.micros())
        .bind(ledger_sub(debt, repaid)?.micros())
        .bind(org_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(Granted::Created(row.try_into()?))
}

/// The open grants of an organization usable at `now`.
async fn open_lots(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    now: Timestamp,
) -> Result<Vec<GrantLot>> {
    let rows = sqlx::query(
        "SELECT id, category, remaining, effective_at, expires_at FROM credit_grants \
         WHERE org_id = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(org_id.as_str())
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|r| {
            let category: String = r.try_get("category")?;
            Ok(GrantLot {
                id: r.try_get("id")?,
                category: GrantCategory::from_str(&category).map_err(|e| corrupt(e.to_string()))?,
                remaining: Money::from_micros(r.try_get("remaining")?),
                effective_at: r.try_get("effective_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

/// Takes `amount` from the grants in draw order; what they do not cover becomes debt.
/// Returns the new balance. The caller has locked the account (`account`, as it was before
/// this debit) and appended the entries.
async fn draw(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    account: LockedAccount,
    amount: Money,
    now: Timestamp,
) -> Result<Money> {
    // Both checked before anything is written.
    let balance_after = ledger_sub(account.balance, in_range(amount)?)?;
    let lots = open_lots(tx, org_id, now).await?;
    let (takes, uncovered) = allocate(&lots, amount, now);
    let debt_after = ledger_add(account.debt, uncovered)?;
    for (grant_id, take) in takes {
        sqlx::query("UPDATE credit_grants SET remaining = remaining - $1 WHERE id = $2")
            .bind(take.micros())
            .bind(grant_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE credit_accounts SET balance = $1, debt = $2 WHERE org_id = $3")
        .bind(balance_after.micros())
        .bind(debt_after.micros())
        .bind(org_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(balance_after)
}

impl Store {
    pub async fn credit_account(&self, org_id: &OrgId) -> Result<CreditAccount> {
        let row =
            sqlx::query("SELECT balance, held, usage_carry FROM credit_accounts WHERE org_id = $1")
                .bind(org_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => CreditAccount {
                balance: Money::from_micros(r.try_get("balance")?),
                held: Money::from_micros(r.try_get("held")?),
                usage_carry: r.try_get("usage_carry")?,
            },
            None => CreditAccount::default(),
        })
    }

    pub async fn grant_credits(
        &self,
        org_id: &OrgId,
        grant: &NewGrant<'_>,
        now: Timestamp,
    ) -> Result<Granted> {
        let mut tx = self.begin_write().await?;
        let granted = grant_credits_in(&mut tx, org_id, grant, now).await?;
        tx.commit().await?;
        Ok(granted)
    }

    /// The grant history, newest first, paged by grant id (`limit + 1` rows). `NotFound` when
    /// `after` is not a grant of the organization.
    pub async fn credit_grants(&self, org_id: &OrgId, page: PageRequest<'_>) -> Result<Vec<Grant>> {
        const ORDER: &str = "created_at, id";
        let (after_time, after_id) = GRANTS.start(&self.pool, org_id, None, page).await?;
        sqlx::query_as::<_, GrantRow>(&format!(
            "SELECT {GRANT_COLUMNS} FROM credit_grants WHERE org_id = $1 AND {} {} LIMIT $4",
            GRANTS.after_sql(ORDER, 2),
            GRANTS.order_sql(ORDER),
        ))
        .bind(org_id.as_str())
        .bind(after_time)
        .bind(after_id)
        .bind(page.rows())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(Grant::try_from)
        .collect()
    }

    /// Writes off what is left of grants past their expiry, in every organization: one
    /// `expiry` entry each. Returns how many organizations had some.
    pub async fn expire_grants(&self, now: Timestamp) -> Result<u64> {
        let orgs = sqlx::query(
            "SELECT DISTINCT org_id FROM credit_grants WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut touched = 0;
        for row in orgs {
            let org_id = OrgId::from_stored(row.try_get("org_id")?);
            let mut tx = self.begin_write().await?;
            open_account(&mut tx, &org_id, now).await?;
            tx.commit().await?;
            touched += 1;
        }
        Ok(touched)
    }

    /// Σ ledger entries of an organization: for the invariant checks of tests and operators
    /// (the balance itself is read from the account row).
    pub async fn ledger_total(&self, org_id: &OrgId) -> Result<Money> {
        Ok(Money::from_micros(sqlx::query("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM ledger_entries WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get("total")?))
    }

    /// How many ledger entries an organization has, for the checks of tests and operators.
    pub async fn ledger_entry_count(&self, org_id: &OrgId) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM ledger_entries WHERE org_id = $1")
                .bind(org_id.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Σ remaining of unexpired grants, and the debt: balance = grants − debt.
    pub async fn grants_remaining_and_debt(
        &self,
        org_id: &OrgId,
        now: Timestamp,
    ) -> Result<(Money, Money)> {
        let grants: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) AS total FROM credit_grants \
             WHERE org_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(org_id.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await?
        .try_get("total")?;
        let debt: Option<i64> = sqlx::query("SELECT debt FROM credit_accounts WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("debt"))
            .transpose()?;
        Ok((
            Money::from_micros(grants),
            Money::from_micros(debt.unwrap_or(0)),
        ))
    }
}
