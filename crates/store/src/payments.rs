//! Payments: a row is written `pending` before the provider is called, and settled once —
//! `succeeded` with its grant and ledger entry in the same transaction, or `failed`. Every
//! settling update is guarded by `status = 'pending'`, so that a live request, the reconciler
//! and a webhook racing to settle one payment settle it exactly once.

use std::str::FromStr;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::payment::{recharge_backoff_ms, PaymentKind, PaymentStatus};
use tollgate_domain::{Money, OrgId, PaymentId, Timestamp};

use crate::billing::{ensure_profile_in, PostalAddress};
use crate::cursor::{Keyset, Order, PageRequest};
use crate::error::corrupt;
use crate::ledger::{grant_credits_in, lock_account, Granted, NewGrant};
use crate::outbox::{enqueue_email_in, OutgoingEmail};
use crate::{Conflict, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub org_id: OrgId,
    pub kind: PaymentKind,
    pub amount: Money,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub customer_ref: String,
    pub card_ref: String,
    /// The card as shown when it was charged ("Visa ending in 4242").
    pub payment_method: String,
    /// The billing address when the payment was made (`None`: there was none).
    pub bill_to: Option<PostalAddress>,
    pub provider_payment_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The credit the payment buys; `None` for subscriptions.
    pub grant_source: Option<GrantSource>,
    pub grant_id: Option<String>,
    pub description: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub settled_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, org_id, kind, amount, status, idempotency_key, fingerprint, customer_ref, card_ref, \
     payment_method, provider_payment_id, failure_code, failure_message, grant_source, grant_id, description, \
     created_at, updated_at, settled_at, bill_to";

fn payment_from_row(r: &sqlx::any::AnyRow) -> Result<Payment> {
    let parse_err = |e: tollgate_domain::ValidationError| corrupt(e.to_string());
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    let grant_source: Option<String> = r.try_get("grant_source")?;
    Ok(Payment {
        id: PaymentId::from_stored(r.try_get("id")?),
        org_id: OrgId::from_stored(r.try_get("org_id")?),
        kind: PaymentKind::from_str(&kind).map_err(parse_err)?,
        amount: Money::from_micros(r.try_get("amount")?),
        status: PaymentStatus::from_str(&status).map_err(parse_err)?,
        idempotency_key: r.try_get("idempotency_key")?,
        fingerprint: r.try_get("fingerprint")?,
        customer_ref: r.try_get("customer_ref")?,
        card_ref: r.try_get("card_ref")?,
        payment_method: r.try_get("payment_method")?,
        bill_to: r
            .try_get::<Option<String>, _>("bill_to")?
            .as_deref()
            .map(decode_address)
            .transpose()?,
        provider_payment_id: r.try_get("provider_payment_id")?,
        failure_code: r.try_get("failure_code")?,
        failure_message: r.try_get("failure_message")?,
        grant_source: grant_source
            .as_deref()
            .map(GrantSource::from_str)
            .transpose()
            .map_err(parse_err)?,
        grant_id: r.try_get("grant_id")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        settled_at: r.try_get("settled_at")?,
    })
}

fn encode_address(a: &PostalAddress) -> String {
    serde_json::json!({"name": a.name, "line1": a.line1, "line2": a.line2, "city": a.city,
        "state": a.state, "postal_code": a.postal_code, "country": a.country})
    .to_string()
}

fn decode_address(raw: &str) -> Result<PostalAddress> {
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| corrupt(format!("payments.bill_to: {e}")))?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Ok(PostalAddress {
        name: field("name"),
        line1: field("line1"),
        line2: field("line2"),
        city: field("city"),
        state: field("state"),
        postal_code: field("postal_code"),
        country: field("country"),
    })
}

/// A payment about to be charged.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    /// `pay_…`: also the provider's idempotency key.
    pub id: &'a PaymentId,
    pub org_id: &'a OrgId,
    pub kind: PaymentKind,
    pub amount: Money,
    pub idempotency_key: &'a str,
    pub fingerprint: &'a str,
    pub customer_ref: &'a str,
    pub card_ref: &'a str,
    pub payment_method: &'a str,
    /// The billing address now, kept on the payment for its receipt.
    pub bill_to: Option<&'a PostalAddress>,
    pub grant_source: Option<GrantSource>,
    pub description: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeganPayment {
    /// The row was written: call the provider.
    Created(Payment),
    /// A payment with this idempotency key exists already (whatever its fingerprint).
    Existing(Payment),
}

/// How a payment ended at the provider.
#[derive(Debug, Clone)]
pub enum Settlement<'a> {
    Succeeded {
        provider_payment_id: &'a str,
        /// When the credit bought expires.
        grant_expires_at: Option<Timestamp>,
    },
    Failed {
        code: &'a str,
        message: &'a str,
        provider_payment_id: Option<&'a str>,
    },
}

/// What else happens, in the same transaction, when a payment is settled by this call.
#[derive(Debug, Clone, Default)]
pub struct SettleEffects<'a> {
    /// Emails to send (a receipt, a recharge notice): enqueued only by the call that settles.
    pub emails: &'a [OutgoingEmail],
    /// For auto-recharge payments: declines before auto-recharge turns itself off, and the
    /// first back-off (doubled after each further decline).
    pub recharge_max_failures: i64,
    pub recharge_backoff_base_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub payment: Payment,
    /// False when the payment was settled before (by another process, a webhook…): nothing
    /// changed.
    pub changed: bool,
    /// Auto-recharge: consecutive failures after this one, and whether it turned itself off.
    pub recharge_failures: i64,
    pub recharge_disabled: bool,
}

async fn payment_in(tx: &mut Transaction<'static, Any>, id: &PaymentId) -> Result<Payment> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    payment_from_row(&row)
}

impl Store {
    /// Writes a pending payment, or finds the one with the same idempotency key. A second
    /// pending auto-recharge of one organization is refused with `Conflict::RechargeInFlight`
    /// by a unique index.
    pub async fn begin_payment(
        &self,
        new: &NewPayment<'_>,
        now: Timestamp,
    ) -> Result<BeganPayment> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO payments (id, org_id, kind, amount, status, idempotency_key, fingerprint, customer_ref, card_ref, \
             payment_method, grant_source, description, created_at, updated_at, bill_to) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) \
             ON CONFLICT (org_id, idempotency_key) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(new.id.as_str())
        .bind(new.org_id.as_str())
        .bind(new.kind.as_str())
        .bind(new.amount.micros())
        .bind(new.idempotency_key)
        .bind(new.fingerprint)
        .bind(new.customer_ref)
        .bind(new.card_ref)
        .bind(new.payment_method)
        .bind(new.grant_source.map(GrantSource::as_str))
        .bind(new.description)
        .bind(now)
        .bind(new.bill_to.map(encode_address))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::unique(e, Conflict::RechargeInFlight))?;
        if let Some(row) = inserted {
            return Ok(BeganPayment::Created(payment_from_row(&row)?));
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE org_id = $1 AND idempotency_key = $2"
        ))
        .bind(new.org_id.as_str())
        .bind(new.idempotency_key)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(BeganPayment::Existing(payment_from_row(&row)?))
    }

    /// Notes the provider's id of a payment still pending (and when it was last looked at, for
    /// the reconciler's pace).
    pub async fn note_pending_payment(
        &self,
        id: &PaymentId,
        provider_payment_id: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE payments SET provider_payment_id = COALESCE($1, provider_payment_id), updated_at = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(provider_payment_id)
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Settles a pending payment, once: on success the payment, its grant and ledger entry (and
    /// `effects`) are written in one transaction, so credit is spendable the moment this
    /// returns. A payment settled before is returned as it is, with `changed: false`.
    pub async fn settle_payment(
        &self,
        id: &PaymentId,
        settlement: &Settlement<'_>,
        effects: &SettleEffects<'_>,
        now: Timestamp,
    ) -> Result<Settled> {
        let mut tx = self.begin_write().await?;
        let current = payment_in(&mut tx, id).await?;
        // Lock the account first, as every ledger writer does, so that concurrent settlers of
        // one organization queue here on PostgreSQL.
        lock_account(&mut tx, &current.org_id, now).await?;
        let (status, provider_id, code, message) = match settlement {
            Settlement::Succeeded {
                provider_payment_id,
                ..
            } => ("succeeded", Some(*provider_payment_id), None, None),
            Settlement::Failed {
                code,
                message,
                provider_payment_id,
            } => ("failed", *provider_payment_id, Some(*code), Some(*message)),
        };
        let updated = sqlx::query(
            "UPDATE payments SET status = $1, provider_payment_id = COALESCE($2, provider_payment_id), \
             failure_code = $3, failure_message = $4, updated_at = $5, settled_at = $5 \
             WHERE id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(provider_id)
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Settled by someone else meanwhile: read it again, as it is now.
            let payment = payment_in(&mut tx, id).await?;
            tx.rollback().await?;
            return Ok(Settled {
                payment,
                changed: false,
                recharge_failures: 0,
                recharge_disabled: false,
            });
        }
        if let (
            Settlement::Succeeded {
                grant_expires_at, ..
            },
            Some(source),
        ) = (settlement, current.grant_source)
        {
            let key = format!("payment:{id}");
            let granted = grant_credits_in(
                &mut tx,
                &current.org_id,
                &NewGrant {
                    source,
                    amount: current.amount,
                    expires_at: *grant_expires_at,
                    idempotency_key: &key,
                    reference: Some(id),
                    description: &current.description,
                },
                now,
            )
            .await?;
            if let Granted::Created(grant) = granted {
                sqlx::query("UPDATE payments SET grant_id = $1 WHERE id = $2")
                    .bind(&grant.id)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let (mut failures, mut disabled) = (0, false);
        if current.kind == PaymentKind::AutoRecharge {
            ensure_profile_in(&mut tx, &current.org_id, now).await?;
            let row = sqlx::query(
                "SELECT auto_recharge_failures FROM billing_profiles WHERE org_id = $1",
            )
            .bind(current.org_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let before: i64 = row.try_get("auto_recharge_failures")?;
            match settlement {
                Settlement::Succeeded { .. } => {
                    sqlx::query(
                        "UPDATE billing_profiles SET auto_recharge_failures = 0, auto_recharge_next_at = NULL, \
                         updated_at = $1 WHERE org_id = $2",
                    )
                    .bind(now)
                    .bind(current.org_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                Settlement::Failed { .. } => {
                    failures = before + 1;
                    disabled = failures >= effects.recharge_max_failures;
                    let next =
                        now + recharge_backoff_ms(failures, effects.recharge_backoff_base_ms);
                    sqlx::query(
                        "UPDATE billing_profiles SET auto_recharge_failures = $1, auto_recharge_next_at = $2, \
                         auto_recharge_enabled = CASE WHEN $3 = 1 THEN 0 ELSE auto_recharge_enabled END, \
                         updated_at = $4 WHERE org_id = $5",
                    )
                    .bind(failures)
                    .bind(next)
                    .bind(i64::from(disabled))
                    .bind(now)
                    .bind(current.org_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for email in effects.emails {
            enqueue_email_in(&mut tx, email, now).await?;
        }
        let payment = payment_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Settled {
            payment,
            changed: true,
            recharge_failures: failures,
            recharge_disabled: disabled,
        })
    }

    pub async fn payment_by_id(&self, id: &PaymentId) -> Result<Option<Payment>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// An organization's payment; `None` for another organization's.
    pub async fn payment(&self, org_id: &OrgId, id: &PaymentId) -> Result<Option<Payment>> {
        Ok(self
            .payment_by_id(id)
            .await?
            .filter(|p| p.org_id == *org_id))
    }

    pub async fn payment_by_provider_id(
        &self,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE provider_payment_id = $1"
        ))
        .bind(provider_payment_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// An organization's payments, newest first, paged by payment id (`page.limit + 1`
    /// rows). `after` naming no payment of the organization answers `NotFound`.
    pub async fn payments(&self, org_id: &OrgId, page: PageRequest<'_>) -> Result<Vec<Payment>> {
        const ORDER: &str = "created_at, id";
        let payments = Keyset::by_time(
            "SELECT created_at, id FROM payments WHERE org_id = $1 AND id = $2",
            Order::Descending,
        );
        let (after_time, after_id) = payments.start(&self.pool, org_id, None, page).await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE org_id = $1 AND {} {} LIMIT $4",
            payments.after_sql(ORDER, 2),
            payments.order_sql(ORDER),
        ))
        .bind(org_id.as_str())
        .bind(after_time)
        .bind(after_id)
        .bind(page.rows())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payment_from_row).collect()
    }

    /// Payments still pending that nobody looked at since `updated_before`, oldest first: the
    /// reconciler's work.
    pub async fn stale_pending_payments(
        &self,
        updated_before: Timestamp,
        limit: i64,
    ) -> Result<Vec<Payment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE status = 'pending' AND updated_at <= $1 ORDER BY updated_at, id LIMIT $2"
        ))
        .bind(updated_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payment_from_row).collect()
    }

    /// How many auto-recharges of an organization were settled, either way: it names the next
    /// recharge, so that triggers racing on one drop in credit agree on one payment.
    pub async fn settled_recharge_count(&self, org_id: &OrgId) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM payments WHERE org_id = $1 AND kind = 'auto_recharge' AND status <> 'pending'",
        )
        .bind(org_id.as_str())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// How many payments of each status an organization has: for tests and operators.
    pub async fn count_payments(&self, org_id: &OrgId, status: PaymentStatus) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM payments WHERE org_id = $1 AND status = $2")
                .bind(org_id.as_str())
                .bind(status.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}
