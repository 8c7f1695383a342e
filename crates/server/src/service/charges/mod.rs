//! The charge flow: one function, `App::charge_saved_card`, used by credit purchases,
//! auto-recharge and subscriptions, and the reconciler that settles payments left pending.
//!
//! 1. A payment row is written `pending` with the caller's idempotency key and a fingerprint of
//!    what was asked. Its id (`pay_…`) is the provider's idempotency key.
//! 2. The provider charges the saved card.
//! 3. Success writes the payment, its grant and the ledger entry in one transaction (credit is
//!    spendable when this returns); a decline marks the payment `failed` and answers 402.
//!
//! A crash between 2 and 3 leaves the payment pending: the reconciler (`reconcile_payments`)
//! asks the provider what became of it (`retrieve_charge`) and settles it, or charges again with
//! the same key when the provider never saw it — the key makes that safe. Every settle is
//! guarded by `status = 'pending'`, so a live request, the reconciler and a webhook settle one
//! payment once. Decision record: docs/decisions/0006-payment-flow.md.

use tollgate_domain::ledger::GrantSource;
use tollgate_domain::payment::{PaymentKind, PaymentStatus};
use tollgate_domain::{Money, OrgId, PaymentId, ValidationError};
use tollgate_store::{BeganPayment, Conflict, NewPayment, Payment, StoreError};

use crate::app::App;
use crate::config::millis;
use crate::payments::amount::Cents;
use crate::payments::{
    CardRef, ChargeOutcome, ChargeRequest, CustomerRef, PaymentError, PaymentProvider,
};
use crate::service::{ServiceError, ServiceResult};

mod settle;

/// One charge of an organization's saved card.
#[derive(Debug, Clone)]
pub struct ChargeSpec<'a> {
    pub org_id: &'a OrgId,
    pub kind: PaymentKind,
    /// Whole cents.
    pub amount: Money,
    /// The caller's key: the same key with the same fingerprint answers the first result and
    /// charges once; with another fingerprint it is refused (409).
    pub idempotency_key: &'a str,
    /// What was asked with the key (e.g. `credits:25000000`).
    pub fingerprint: &'a str,
    pub description: &'a str,
    /// The credit to add on success; `None` for subscriptions.
    pub grant: Option<GrantSource>,
}

/// What one call of the charge flow did.
#[derive(Debug)]
pub struct Charge {
    /// The id of the payment this call wrote; `None` when the key's earlier payment answered
    /// (or nothing was written).
    pub made: Option<PaymentId>,
    pub result: ServiceResult<Payment>,
}

/// Faults tests inject into the charge flow (feature `testing`).
#[cfg(feature = "testing")]
#[derive(Debug, Default)]
pub struct ChargeFaults {
    crash_after_charge: std::sync::atomic::AtomicU32,
}

#[cfg(feature = "testing")]
impl ChargeFaults {
    /// The next `n` charge flows stop after the provider charged and before anything is
    /// written, as if the process had died there.
    pub fn crash_after_charge(&self, n: u32) {
        self.crash_after_charge
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    fn take_crash(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.crash_after_charge
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The answer to a charge the provider refused.
pub fn declined(code: &str, message: &str) -> ServiceError {
    let code = crate::payments::DeclineCode::from_stripe(Some(code), None).as_str();
    ServiceError::PaymentRequired {
        code,
        message: message.to_owned(),
    }
}

fn no_payment_method() -> ServiceError {
    ServiceError::Conflict {
        code: "no_payment_method",
        message:
            "There is no payment method on file: add a card on the Billing › Payment tab first."
                .to_owned(),
    }
}

/// A second pending auto-recharge of one organization, refused by the store.
fn in_flight(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(Conflict::RechargeInFlight) => ServiceError::Conflict {
            code: "recharge_in_flight",
            message: "An auto-recharge of this organization is already in progress.".to_owned(),
        },
        other => other.into(),
    }
}

fn key_reused() -> ServiceError {
    ServiceError::Conflict {
        code: "idempotency_key_reused",
        message: "This Idempotency-Key was already used with a different request.".to_owned(),
    }
}

fn request_of(p: &Payment) -> ChargeRequest {
    ChargeRequest {
        customer: CustomerRef::new(&p.customer_ref),
        card: CardRef::new(&p.card_ref),
        amount_micros: p.amount.micros(),
        idempotency_key: p.id.to_string(),
        description: p.description.clone(),
    }
}

/// "Visa ending in 4242", as the console and emails show a card.
pub fn card_label(brand: &str, last4: &str) -> String {
    let brand = crate::payments::CardBrand::from_stripe(brand).display_name();
    format!("{brand} ending in {last4}")
}

impl App {
    /// Charges the organization's saved card; see the module documentation. A payment still
    /// pending (the provider's answer is not final or did not arrive) is returned as it is:
    /// the reconciler or a webhook settles it.
    pub async fn charge_saved_card(&self, spec: ChargeSpec<'_>) -> ServiceResult<Payment> {
        self.charge(spec).await.result
    }

    /// `charge_saved_card`, also telling whether this call wrote the payment: a retry with the
    /// key of an earlier payment is answered from it, and must not be recorded twice (audit).
    pub async fn charge(&self, spec: ChargeSpec<'_>) -> Charge {
        if let Err(e) = Cents::from_micros(spec.amount.micros()) {
            let invalid =
                ValidationError::new("amount", format!("{}.", capitalize(&e.to_string())));
            return Charge {
                made: None,
                result: Err(invalid.into()),
            };
        }
        let began = match self.begin_charge(&spec).await {
            Ok(began) => began,
            Err(e) => {
                return Charge {
                    made: None,
                    result: Err(e),
                }
            }
        };
        match began {
            BeganPayment::Created(payment) => Charge {
                made: Some(payment.id.clone()),
                result: self.drive_charge(payment).await,
            },
            BeganPayment::Existing(payment) => {
                let result = if payment.fingerprint != spec.fingerprint || payment.kind != spec.kind
                {
                    Err(key_reused())
                } else {
                    match payment.status {
                        PaymentStatus::Succeeded => Ok(payment),
                        PaymentStatus::Failed => Err(failed_answer(&payment)),
                        // Another request is charging it, or one died doing so: asking the
                        // provider with the same key is safe either way.
                        PaymentStatus::Pending => self.drive_charge(payment).await,
                    }
                };
                Charge { made: None, result }
            }
        }
    }

    /// Writes the pending payment of `spec` against the saved card, or finds the one with its
    /// key.
    async fn begin_charge(&self, spec: &ChargeSpec<'_>) -> ServiceResult<BeganPayment> {
        let profile = self.store.billing_profile(spec.org_id).await?;
        let (Some(card), Some(customer)) = (profile.card, profile.customer_ref) else {
            return Err(no_payment_method());
        };
        let id = PaymentId::generate();
        let label = card_label(&card.brand, &card.last4);
        self.store
            .begin_payment(
                &NewPayment {
                    id: &id,
                    org_id: spec.org_id,
                    kind: spec.kind,
                    amount: spec.amount,
                    idempotency_key: spec.idempotency_key,
                    fingerprint: spec.fingerprint,
                    customer_ref: &customer,
                    card_ref: &card.card_ref,
                    payment_method: &label,
                    bill_to: profile.address.as_ref(),
                    grant_source: spec.grant,
                    description: spec.description,
                },
                self.now(),
            )
            .await
            .map_err(in_flight)
    }

    /// Records a charge that is not made (an automatic charge above a ceiling): a failed
    /// payment with `code` and `message`, settled like a decline — counted, backed off and
    /// emailed for auto-recharge — without calling the provider. A payment already made with
    /// the key is returned as it is.
    pub async fn record_refused_charge(
        &self,
        spec: ChargeSpec<'_>,
        code: &str,
        message: &str,
    ) -> ServiceResult<Payment> {
        let began = self.begin_charge(&spec).await?;
        match began {
            BeganPayment::Created(payment) => Ok(self
                .settle_failed(&payment, code, message, None)
                .await?
                .payment),
            BeganPayment::Existing(payment) => Ok(payment),
        }
    }

    async fn drive_charge(&self, payment: Payment) -> ServiceResult<Payment> {
        let request = request_of(&payment);
        let outcome = self.payments.charge(&request).await;
        #[cfg(feature = "testing")]
        if self.charge_faults.take_crash() {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "injected crash after the provider's charge of {}",
                payment.id
            )));
        }
        self.apply_outcome(&payment, outcome).await
    }

    /// Writes what the provider answered about `payment`.
    async fn apply_outcome(
        &self,
        payment: &Payment,
        outcome: Result<ChargeOutcome, PaymentError>,
    ) -> ServiceResult<Payment> {
        match outcome {
            Ok(ChargeOutcome::Succeeded {
                provider_payment_id,
            }) => Ok(self
                .settle_succeeded(payment, &provider_payment_id)
                .await?
                .payment),
            Ok(ChargeOutcome::Declined {
                code,
                message,
                provider_payment_id,
            }) => {
                let settled = self
                    .settle_failed(
                        payment,
                        code.as_str(),
                        &message,
                        provider_payment_id.as_deref(),
                    )
                    .await?;
                Err(failed_answer(&settled.payment))
            }
            Ok(ChargeOutcome::Pending {
                provider_payment_id,
            }) => {
                self.store
                    .note_pending_payment(&payment.id, Some(&provider_payment_id), self.now())
                    .await?;
                Ok(self
                    .store
                    .payment_by_id(&payment.id)
                    .await?
                    .unwrap_or_else(|| payment.clone()))
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(payment = %payment.id, error = %e, "charge outcome unknown; the reconciler will ask again");
                self.store
                    .note_pending_payment(&payment.id, None, self.now())
                    .await?;
                Ok(payment.clone())
            }
            Err(e) => {
                // Nothing was charged: the payment failed, for a reason that is ours.
                let message = e.to_string();
                self.settle_failed(payment, "payment_error", &message, None)
                    .await?;
                Err(match e {
                    PaymentError::InvalidAmount(a) => {
                        ValidationError::new("amount", capitalize(&a.to_string())).into()
                    }
                    PaymentError::CardRejected { code, message } => {
                        declined(code.as_str(), &message)
                    }
                    other => ServiceError::Internal(anyhow::anyhow!(
                        "payment {} refused by the provider: {other}",
                        payment.id
                    )),
                })
            }
        }
    }

    /// Settles payments pending longer than `billing.reconcile_after`: asks the provider what
    /// became of each, or charges again with the same key when it never saw it. Returns how
    /// many were settled. Safe in every process at once.
    pub async fn reconcile_payments(&self) -> ServiceResult<usize> {
        let now = self.now();
        let due = self
            .store
            .stale_pending_payments(now - millis(self.config.billing.reconcile_after), 100)
            .await?;
        let mut settled = 0;
        for payment in due {
            let request = request_of(&payment);
            let outcome = match self
                .payments
                .retrieve_charge(&request, payment.provider_payment_id.as_deref())
                .await
            {
                Ok(Some(outcome)) => Ok(outcome),
                Ok(None) => self.payments.charge(&request).await,
                Err(e) => Err(e),
            };
            let was_pending = matches!(outcome, Ok(ChargeOutcome::Pending { .. }))
                || matches!(&outcome, Err(e) if e.is_retryable());
            match self.apply_outcome(&payment, outcome).await {
                Ok(_) | Err(ServiceError::PaymentRequired { .. }) if !was_pending => settled += 1,
                Ok(_) | Err(ServiceError::PaymentRequired { .. }) => {}
                Err(e) => {
                    tracing::warn!(payment = %payment.id, error = %e, "reconciling a payment failed")
                }
            }
        }
        Ok(settled)
    }

    /// Settles the payment a Stripe webhook is about, once; events for payments Tollgate did
    /// not make, or already settled, change nothing.
    pub async fn settle_from_webhook(
        &self,
        payment_intent_id: &str,
        idempotency_key: Option<&PaymentId>,
        outcome: ChargeOutcome,
    ) -> ServiceResult<Option<Payment>> {
        let by_key = match idempotency_key {
            Some(key) => self.store.payment_by_id(key).await?,
            None => None,
        };
        let payment = match by_key {
            Some(p) => Some(p),
            None => self.store.payment_by_provider_id(payment_intent_id).await?,
        };
        let Some(payment) = payment else {
            return Ok(None);
        };
        if payment.status != PaymentStatus::Pending {
            return Ok(Some(payment));
        }
        match self.apply_outcome(&payment, Ok(outcome)).await {
            Ok(p) => Ok(Some(p)),
            Err(ServiceError::PaymentRequired { .. }) => {
                Ok(self.store.payment_by_id(&payment.id).await?)
            }
            Err(e) => Err(e),
        }
    }
}

/// The 402 a failed payment answers, from what was stored of its failure.
fn failed_answer(p: &Payment) -> ServiceError {
    let code = p.failure_code.as_deref().unwrap_or("card_declined");
    let message = p
        .failure_message
        .as_deref()
        .unwrap_or("Your card was declined.");
    declined(code, message)
}

fn capitalize(s: &str) -> String {
    let mut out = s.to_owned();
    if let Some(first) = out.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    out
}
