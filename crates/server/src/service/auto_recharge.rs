//! Auto-recharge: its settings, the charge it starts when available credit falls below the
//! threshold (within the monthly cap), and the periodic sweep over organizations that are due.

use serde_json::json;
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::payment::{
    month_start, parse_monthly_cap, AutoRecharge, PaymentKind, PaymentStatus, RechargeRefusal,
    MIN_CHARGE,
};
use tollgate_domain::OrgId;
use tollgate_domain::{Money, OrgAction, ValidationError};
use tollgate_store::{BillingProfile, Payment, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::charges::ChargeSpec;
use crate::service::{audit, ServiceError, ServiceResult};

impl App {
    /// Turns auto-recharge on or off. On: `recharge_to` must exceed `threshold` and a card must
    /// be on file; when available credit is already below the threshold a recharge starts.
    /// `monthly_cap`: `None` keeps the cap in force, `Some("")` removes it, `Some(amount)` sets
    /// it.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_auto_recharge(
        &self,
        user: &User,
        org_id: &OrgId,
        enabled: bool,
        threshold: &str,
        recharge_to: &str,
        monthly_cap: Option<&str>,
        client: &ClientInfo,
    ) -> ServiceResult<BillingProfile> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let settings = self.auto_recharge_settings(threshold, recharge_to)?;
        let profile = self.store.billing_profile(org_id).await?;
        let monthly_cap = cap_in_force(monthly_cap, &profile)?;
        if enabled && profile.card.is_none() {
            return Err(ServiceError::Conflict {
                code: "no_payment_method",
                message: "Auto-recharge needs a payment method: add a card on the Billing › Payment tab first.".into(),
            });
        }
        let profile = self
            .store
            .set_auto_recharge(
                org_id,
                enabled,
                settings.threshold,
                settings.recharge_to,
                monthly_cap,
                self.now(),
                audit(
                    user,
                    client,
                    if enabled {
                        "billing.auto_recharge.enable"
                    } else {
                        "billing.auto_recharge.disable"
                    },
                    "organization",
                    org_id,
                    json!({"threshold": settings.threshold.to_usd_string(), "recharge_to": settings.recharge_to.to_usd_string(),
                           "monthly_cap": monthly_cap.map(Money::to_usd_string)}),
                ),
            )
            .await?;
        if enabled {
            // Enabled while already below the threshold: recharge now, not at the next usage.
            if let Err(e) = self.maybe_auto_recharge(org_id).await {
                tracing::warn!(org = org_id.as_str(), error = %e, "auto-recharge after enabling failed");
            }
            return Ok(self.store.billing_profile(org_id).await?);
        }
        Ok(profile)
    }

    /// Auto-recharge settings from a form: two non-negative amounts, `recharge_to` above
    /// `threshold` and within the largest purchase.
    pub(crate) fn auto_recharge_settings(
        &self,
        threshold: &str,
        recharge_to: &str,
    ) -> Result<AutoRecharge, ValidationError> {
        let parse = |field: &'static str, raw: &str| {
            let raw = raw.trim();
            if raw.starts_with('-') {
                return Err(ValidationError::new(
                    field,
                    "The amount must not be negative.",
                ));
            }
            Money::parse_usd(field, raw)
        };
        AutoRecharge::new(
            parse("threshold", threshold)?,
            parse("recharge_to", recharge_to)?,
            self.config.billing.max_purchase,
        )
    }

    /// Starts the organization's auto-recharge when it is on, its back-off has passed and
    /// available credit is below the threshold: one payment of `recharge_to − balance`. Racing
    /// callers agree on one payment (its key names the recharge by how many came before, and a
    /// unique index allows one pending recharge). `Ok(None)` when nothing was due. A charge
    /// above the purchase maximum or past the monthly cap is not made: it is recorded as a
    /// failed payment, with a decline's effects (counted toward turning auto-recharge off,
    /// backed off, emailed to the admins).
    pub async fn maybe_auto_recharge(&self, org_id: &OrgId) -> ServiceResult<Option<Payment>> {
        let profile = self.store.billing_profile(org_id).await?;
        let ar = &profile.auto_recharge;
        let now = self.now();
        if !ar.enabled || profile.card.is_none() || ar.next_attempt_at.is_some_and(|t| t > now) {
            return Ok(None);
        }
        // Read the count before the balance: a racer that saw the balance before a recharge
        // settled also saw the count before it, and so names the same payment.
        let generation = self.store.settled_recharge_count(org_id).await?;
        let settings = AutoRecharge {
            threshold: ar.threshold,
            recharge_to: ar.recharge_to,
        };
        let planned = self
            .plan_auto_recharge(org_id, settings, ar.monthly_cap, now)
            .await?;
        let key = format!("auto_recharge:{generation}");
        let spec = |amount: Money| ChargeSpec {
            org_id,
            kind: PaymentKind::AutoRecharge,
            amount,
            idempotency_key: &key,
            fingerprint: "auto_recharge",
            description: "Auto-recharge credits",
            grant: Some(GrantSource::AutoRecharge),
        };
        let amount = match planned {
            Ok(Some(amount)) => amount,
            Ok(None) => return Ok(None),
            Err(refusal) => {
                let needed = match refusal {
                    RechargeRefusal::AboveMaximum { needed, .. }
                    | RechargeRefusal::MonthlyCap { needed, .. } => needed,
                };
                tracing::warn!(
                    org = org_id.as_str(),
                    reason = refusal.code(),
                    "auto-recharge refused"
                );
                return match self
                    .record_refused_charge(spec(needed), refusal.code(), &refusal.message())
                    .await
                {
                    Ok(_)
                    | Err(ServiceError::Conflict {
                        code: "recharge_in_flight",
                        ..
                    }) => Ok(None),
                    Err(e) => Err(e),
                };
            }
        };
        match self.charge_saved_card(spec(amount)).await {
            Ok(p) => Ok(Some(p)),
            // Declined (counted, backed off, emailed) or another recharge in flight: not an
            // error of whoever triggered it.
            Err(ServiceError::PaymentRequired { .. }) => Ok(None),
            Err(ServiceError::Conflict {
                code: "recharge_in_flight",
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What auto-recharge with `settings` and `monthly_cap` charges at `now`: nothing while
    /// available credit is at or above the threshold; otherwise the domain's plan (a top-up to
    /// `recharge_to`, or a refusal past the purchase maximum or the monthly cap). The recharge
    /// and its preview both ask this, so the amount confirmed is the amount charged.
    pub(crate) async fn plan_auto_recharge(
        &self,
        org_id: &OrgId,
        settings: AutoRecharge,
        monthly_cap: Option<Money>,
        now: i64,
    ) -> ServiceResult<Result<Option<Money>, RechargeRefusal>> {
        let account = self.store.credit_account(org_id).await?;
        if account.available() >= settings.threshold {
            return Ok(Ok(None));
        }
        let charged = match monthly_cap {
            Some(_) => {
                self.store
                    .auto_recharged_since(org_id, month_start(now))
                    .await?
            }
            None => Money::ZERO,
        };
        Ok(settings.plan_charge(
            account.balance,
            MIN_CHARGE,
            self.config.billing.max_purchase,
            monthly_cap,
            charged,
        ))
    }

    /// One pass of auto-recharge over every organization that is due (the periodic job).
    pub async fn auto_recharge_sweep(&self) -> ServiceResult<usize> {
        let due = self.store.orgs_due_for_recharge(self.now(), 100).await?;
        let mut started = 0;
        for org_id in due {
            match self.maybe_auto_recharge(&org_id).await {
                Ok(Some(p)) if p.status == PaymentStatus::Succeeded => started += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(org = %org_id, error = %e, "auto-recharge failed"),
            }
        }
        Ok(started)
    }
}

/// The monthly cap once a form is saved: `None` keeps the one in force, `Some("")` removes it,
/// `Some(amount)` sets it.
pub(crate) fn cap_in_force(
    raw: Option<&str>,
    profile: &BillingProfile,
) -> Result<Option<Money>, ValidationError> {
    Ok(match raw {
        Some(raw) => parse_monthly_cap(raw)?,
        None => profile.auto_recharge.monthly_cap,
    })
}
