//! Subscriptions (DESIGN §2 "Subscriptions"): subscribing an organization to a tier of a model,
//! upgrading (at once, prorated), downgrading and canceling (at the period end, undoable), and
//! which tiers are Temporarily Sold Out. Org admins only. Renewals are in `crate::jobs::renewals`.

use std::collections::HashMap;
use tollgate_domain::{OrgId, SubscriptionId};

use serde_json::json;
use tollgate_domain::catalog::{Model, Tier};
use tollgate_domain::subscription::{
    day_label, period, plan_change, sold_out, tier_change_charge, ChangePlan, ChangeRequest,
    ChangeState, SubscriptionStatus,
};
use tollgate_domain::{Money, OrgAction, ValidationError};
use tollgate_store::{
    ChargeOutcome, NewSubscription, Subscription, SubscriptionError, TierState, User,
};

mod refusals;

use refusals::{already_subscribed, busy, change_refused, refusal, sold_out_error};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::charges::ChargeSpec;
use crate::service::{audit, ServiceError, ServiceResult};
use tollgate_domain::payment::{PaymentKind, PaymentStatus};

/// The text shown with a sold-out tier.
pub const SOLD_OUT_CONTACT: &str =
    "This tier is Temporarily Sold Out. Check back later, or contact support for availability.";

/// Seats taken and operator overrides of every tier, read once for a page or a list.
#[derive(Debug, Default)]
pub struct Availability {
    states: HashMap<(String, String), TierState>,
}

impl Availability {
    /// Temporarily Sold Out: marked so by the operator (the database's override, else the
    /// catalog's flag), or every seat taken.
    pub fn sold_out(&self, model: &Model, tier: &Tier) -> bool {
        let state = self.states.get(&(model.id.clone(), tier.id.clone()));
        let marked = state
            .and_then(|s| s.sold_out_override)
            .unwrap_or(tier.sold_out);
        sold_out(marked, tier.capacity, state.map_or(0, |s| s.taken))
    }

    /// Seats taken on a tier.
    pub fn taken(&self, model: &str, tier: &str) -> i64 {
        self.states
            .get(&(model.to_owned(), tier.to_owned()))
            .map_or(0, |s| s.taken)
    }
}

/// The model and tier a request names, from the catalog in force.
pub fn find_tier<'c>(
    catalog: &'c tollgate_domain::Catalog,
    model: &str,
    tier: &str,
) -> ServiceResult<(&'c Model, &'c Tier)> {
    let m = catalog.model(model).ok_or_else(|| {
        ValidationError::new("model", format!("'{model}' is not a model of the catalog."))
    })?;
    let t = m.tiers.iter().find(|t| t.id == tier).ok_or_else(|| {
        ValidationError::new(
            "tier",
            format!("'{tier}' is not a subscription tier of {}.", m.name),
        )
    })?;
    Ok((m, t))
}

/// What a payment for a subscription says it is for.
pub fn charge_description(model: &Model, tier: &Tier, what: &str) -> String {
    format!("{} {} subscription, {what}", model.name, tier.name)
}

/// The fingerprint of a subscription charge: the same key must always mean the same charge.
/// The amount is written in micro-USD, as it always was.
pub fn charge_fingerprint(sub_id: &str, tier: &str, amount: Money) -> String {
    format!("subscription:{sub_id}:{tier}:{}", amount.micros())
}

impl App {
    /// Seats and overrides of every tier.
    pub async fn tier_availability(&self) -> ServiceResult<Availability> {
        let states = self.store.tier_states().await?;
        Ok(Availability {
            states: states
                .into_iter()
                .map(|s| ((s.model.clone(), s.tier.clone()), s))
                .collect(),
        })
    }

    /// The organization's subscriptions, canceled ones included, oldest first.
    pub async fn list_subscriptions(
        &self,
        user: &User,
        org_id: &OrgId,
    ) -> ServiceResult<Vec<Subscription>> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        Ok(self.store.subscriptions(org_id).await?)
    }

    pub(crate) async fn own_subscription(
        &self,
        user: &User,
        org_id: &OrgId,
        sub_id: &SubscriptionId,
    ) -> ServiceResult<Subscription> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        self.store
            .subscription(org_id, sub_id)
            .await?
            .ok_or(ServiceError::NotFound("subscription"))
    }

    /// What subscribing the organization to `tier_id` of `model_id` would charge now (the
    /// monthly price), with the model and tier; refused when the model is already subscribed
    /// or the tier is sold out. `subscribe` and its preview both ask this.
    pub(crate) async fn plan_subscribe<'c>(
        &self,
        catalog: &'c tollgate_domain::Catalog,
        org_id: &OrgId,
        model_id: &str,
        tier_id: &str,
    ) -> ServiceResult<(&'c Model, &'c Tier, Money)> {
        let (model, tier) = find_tier(catalog, model_id, tier_id)?;
        if self
            .store
            .live_subscription(org_id, &model.id)
            .await?
            .is_some()
        {
            return Err(already_subscribed(model));
        }
        if self.tier_availability().await?.sold_out(model, tier) {
            return Err(sold_out_error(model, tier));
        }
        Ok((model, tier, tier.monthly_price))
    }

    /// Subscribes the organization to `tier` of `model`: takes a seat (refused when sold out),
    /// charges the monthly price to the saved card at once, and starts a one-month period.
    pub async fn subscribe(
        &self,
        user: &User,
        org_id: &OrgId,
        model_id: &str,
        tier_id: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Subscription> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let catalog = self.catalog.current();
        let (model, tier, amount) = self
            .plan_subscribe(&catalog, org_id, model_id, tier_id)
            .await?;
        self.require_payment_method(org_id).await?;
        let now = self.now();
        let (start, end) = period(now, 0);
        let id = SubscriptionId::generate();
        let key = format!("sub:{id}:{start}");
        let sub = self
            .store
            .start_subscription(
                &NewSubscription {
                    id: &id,
                    org_id,
                    model: &model.id,
                    tier: &tier.id,
                    capacity: tier.capacity,
                    period_start: start,
                    period_end: end,
                    charge_key: &key,
                    amount,
                },
                now,
            )
            .await
            .map_err(|e| refusal(e, model, tier))?;
        let description = charge_description(model, tier, &format!("from {}", day_label(start)));
        let entry = audit(
            user,
            client,
            "subscription.create",
            "subscription",
            &sub.id,
            json!({"model": model.id, "tier": tier.id, "amount": tier.monthly_price.to_usd_string()}),
        );
        let settled = self
            .settle_charge(&sub, &key, &tier.id, amount, &description, Some(&entry))
            .await?;
        self.entitlements.forget(org_id, &model.id);
        Ok(settled)
    }

    /// Charges a pending charge of `sub` and settles it either way. A refused charge (no card,
    /// declined) is settled as failed and its error returned; an internal error leaves the charge
    /// pending for the renewal job to finish with the same idempotency key.
    pub(crate) async fn settle_charge(
        &self,
        sub: &Subscription,
        key: &str,
        tier: &str,
        amount: Money,
        description: &str,
        entry: Option<&tollgate_store::AuditEntry<'_>>,
    ) -> ServiceResult<Subscription> {
        let charged = if amount.is_positive() {
            self.charge_subscription(
                &sub.org_id,
                amount,
                key,
                &charge_fingerprint(&sub.id, tier, amount),
                description,
            )
            .await
        } else {
            Ok(())
        };
        let (outcome, refused) = match charged {
            Ok(()) => (ChargeOutcome::Paid, None),
            Err(e @ ServiceError::Internal(_)) => return Err(e),
            Err(e) => (ChargeOutcome::Failed, Some(e)),
        };
        let settled = self
            .store
            .finish_charge(&sub.id, key, outcome, self.now(), entry)
            .await?;
        if let Some(e) = refused {
            return Err(e);
        }
        match settled {
            Some(s) => Ok(s),
            // Settled meanwhile by another process: answer what it settled.
            None => self
                .store
                .subscription(&sub.org_id, &sub.id)
                .await?
                .ok_or(ServiceError::NotFound("subscription")),
        }
    }

    /// Moves a subscription to another tier of its model: a dearer one at once, charging the
    /// prorated difference for the rest of the period; a cheaper one at the period end. Asking
    /// for the current tier while a downgrade is pending undoes the downgrade.
    pub async fn change_subscription_tier(
        &self,
        user: &User,
        org_id: &OrgId,
        sub_id: &SubscriptionId,
        tier_id: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Subscription> {
        let sub = self.own_subscription(user, org_id, sub_id).await?;
        let catalog = self.catalog.current();
        let (model, new_tier) = find_tier(&catalog, &sub.model, tier_id)?;
        let current_price = current_tier_price(model, &sub);
        let state = ChangeState {
            status: sub.status,
            cancel_at_period_end: sub.cancel_at_period_end,
            tier: &sub.tier,
            pending_tier: sub.pending_tier.as_deref(),
            tier_price: current_price,
        };
        let request = ChangeRequest {
            tier: &new_tier.id,
            price: new_tier.monthly_price,
            sold_out: self.tier_availability().await?.sold_out(model, new_tier),
        };
        let plan =
            plan_change(&state, &request).map_err(|r| change_refused(r, model, new_tier, &sub))?;
        let now = self.now();
        match plan {
            ChangePlan::UndoDowngrade { pending } => {
                let entry = audit(
                    user,
                    client,
                    "subscription.downgrade.undo",
                    "subscription",
                    &sub.id,
                    json!({"tier": pending}),
                );
                self.store
                    .set_pending_tier(org_id, &sub.id, Some(pending), None, None, now, &entry)
                    .await
                    .map_err(|e| refusal(e, model, new_tier))
            }
            ChangePlan::Downgrade => {
                let entry = audit(
                    user,
                    client,
                    "subscription.downgrade",
                    "subscription",
                    &sub.id,
                    json!({"from": sub.tier, "to": new_tier.id, "on": crate::time::rfc3339(sub.current_period_end)}),
                );
                self.store
                    .set_pending_tier(
                        org_id,
                        &sub.id,
                        sub.pending_tier.as_deref(),
                        Some(&new_tier.id),
                        new_tier.capacity,
                        now,
                        &entry,
                    )
                    .await
                    .map_err(|e| refusal(e, model, new_tier))
            }
            ChangePlan::Upgrade => {
                self.require_payment_method(org_id).await?;
                let amount = tier_change_charge(
                    current_price,
                    new_tier.monthly_price,
                    sub.current_period_start,
                    sub.current_period_end,
                    now,
                );
                let key = format!("sub:{}:upgrade:{}:{now}", sub.id, new_tier.id);
                let started = self
                    .store
                    .start_upgrade(
                        org_id,
                        &sub.id,
                        &sub.tier,
                        &new_tier.id,
                        new_tier.capacity,
                        &key,
                        amount,
                        now,
                    )
                    .await
                    .map_err(|e| refusal(e, model, new_tier))?;
                let description = charge_description(
                    model,
                    new_tier,
                    &format!("upgrade until {}", day_label(sub.current_period_end)),
                );
                let entry = audit(
                    user,
                    client,
                    "subscription.upgrade",
                    "subscription",
                    &sub.id,
                    json!({"from": sub.tier, "to": new_tier.id, "amount": amount.to_usd_string()}),
                );
                let settled = self
                    .settle_charge(
                        &started,
                        &key,
                        &new_tier.id,
                        amount,
                        &description,
                        Some(&entry),
                    )
                    .await?;
                self.entitlements.forget(org_id, &model.id);
                Ok(settled)
            }
        }
    }

    /// Cancels a subscription at the end of its period (`cancel`), or withdraws that before the
    /// period ends.
    pub async fn set_subscription_cancel(
        &self,
        user: &User,
        org_id: &OrgId,
        sub_id: &SubscriptionId,
        cancel: bool,
        client: &ClientInfo,
    ) -> ServiceResult<Subscription> {
        let sub = self.own_subscription(user, org_id, sub_id).await?;
        let conflict = |code, message: String| Err(ServiceError::Conflict { code, message });
        match (sub.status, sub.cancel_at_period_end, cancel) {
            (SubscriptionStatus::Canceled, _, true) => {
                return conflict(
                    "already_canceled",
                    "This subscription is already canceled.".to_owned(),
                )
            }
            (SubscriptionStatus::Canceled, _, false) => {
                return conflict(
                    "subscription_canceled",
                    "This subscription has ended; subscribe again instead.".to_owned(),
                )
            }
            (SubscriptionStatus::Incomplete, _, _) => return Err(busy()),
            (_, true, true) => {
                return conflict(
                    "cancel_pending",
                    format!(
                        "This subscription already ends on {}.",
                        day_label(sub.current_period_end)
                    ),
                )
            }
            (_, false, false) => {
                return conflict(
                    "not_canceled",
                    "This subscription is not being canceled.".to_owned(),
                )
            }
            _ => {}
        }
        let action = if cancel {
            "subscription.cancel"
        } else {
            "subscription.resume"
        };
        let entry = audit(
            user,
            client,
            action,
            "subscription",
            &sub.id,
            json!({"model": sub.model, "tier": sub.tier, "ends": crate::time::rfc3339(sub.current_period_end)}),
        );
        self.store
            .set_cancel_at_period_end(org_id, &sub.id, cancel, self.now(), &entry)
            .await
            .map_err(|e| match e {
                SubscriptionError::Refused(_) => busy(),
                SubscriptionError::Store(e) => e.into(),
            })
    }
}

impl App {
    /// Refuses early, before a seat is taken, when the organization has no card to charge.
    pub(crate) async fn require_payment_method(&self, org_id: &OrgId) -> ServiceResult<()> {
        if self.store.billing_profile(org_id).await?.card.is_some() {
            Ok(())
        } else {
            Err(ServiceError::Conflict {
                code: "no_payment_method",
                message: "There is no payment method on file: add a card on the Billing › Payment tab, then subscribe.".to_owned(),
            })
        }
    }

    /// Charges `amount` to the organization's saved card as a subscription payment (with its
    /// receipt), through the one charge flow. A payment whose outcome is not known yet counts as
    /// an internal error here: the charge stays pending and is finished later with the same key.
    pub(crate) async fn charge_subscription(
        &self,
        org_id: &OrgId,
        amount: Money,
        key: &str,
        fingerprint: &str,
        description: &str,
    ) -> ServiceResult<()> {
        let payment = self
            .charge_saved_card(ChargeSpec {
                org_id,
                kind: PaymentKind::Subscription,
                amount,
                idempotency_key: key,
                fingerprint,
                description,
                grant: None,
            })
            .await?;
        match payment.status {
            PaymentStatus::Succeeded => Ok(()),
            PaymentStatus::Failed => Err(ServiceError::PaymentRequired {
                code: "card_declined",
                message: "The card was declined.".to_owned(),
            }),
            PaymentStatus::Pending => Err(ServiceError::Internal(anyhow::anyhow!(
                "subscription payment {} is still pending at the provider",
                payment.id
            ))),
        }
    }
}

/// The monthly price of the subscription's current tier; 0 when the catalog no longer lists it.
pub fn current_tier_price(model: &Model, sub: &Subscription) -> Money {
    model
        .tiers
        .iter()
        .find(|t| t.id == sub.tier)
        .map_or(Money::ZERO, |t| t.monthly_price)
}
