//! What a billing action is about to charge, computed the way the action computes it, so that
//! the console can show the amount and the card and ask before money moves (issue 14, bug 7).
//! Nothing here writes.

use tollgate_domain::subscription::{day_label, tier_change_charge};
use tollgate_domain::{Money, OrgAction, OrgId, SubscriptionId};
use tollgate_store::User;

use crate::app::App;
use crate::service::auto_recharge::cap_in_force;
use crate::service::charges::card_label;
use crate::service::subscriptions::{current_tier_price, find_tier};
use crate::service::{ServiceError, ServiceResult};

/// A charge about to be made: `amount` to the card `card` ("Visa ending in 4242").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargePreview {
    pub amount: Money,
    pub card: String,
    /// What it is for, in the customer's words.
    pub what: String,
}

impl App {
    /// The card on file, as receipts name it; the same refusal as the charge when there is none.
    async fn card_on_file(&self, org_id: &OrgId) -> ServiceResult<String> {
        self.require_payment_method(org_id).await?;
        let profile = self.store.billing_profile(org_id).await?;
        Ok(profile
            .card
            .map(|c| card_label(&c.brand, &c.last4))
            .unwrap_or_default())
    }

    /// What subscribing to `tier` of `model` charges now: the monthly price. Refuses as
    /// `subscribe` would (already subscribed, sold out, no card).
    pub async fn preview_subscribe(
        &self,
        user: &User,
        org_id: &OrgId,
        model_id: &str,
        tier_id: &str,
    ) -> ServiceResult<ChargePreview> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let catalog = self.catalog.current();
        let (model, tier, amount) = self
            .plan_subscribe(&catalog, org_id, model_id, tier_id)
            .await?;
        Ok(ChargePreview {
            amount,
            card: self.card_on_file(org_id).await?,
            what: format!(
                "{} {}: the first month, then {} every month until you cancel",
                model.name,
                tier.name,
                tier.monthly_price.to_usd_string()
            ),
        })
    }

    /// What moving subscription `sub_id` to `tier_id` charges now: the prorated difference of
    /// an upgrade; `None` for a change that charges nothing now (a downgrade, or undoing one).
    pub async fn preview_tier_change(
        &self,
        user: &User,
        org_id: &OrgId,
        sub_id: &SubscriptionId,
        tier_id: &str,
    ) -> ServiceResult<Option<ChargePreview>> {
        let sub = self.own_subscription(user, org_id, sub_id).await?;
        let catalog = self.catalog.current();
        let (model, new_tier) = find_tier(&catalog, &sub.model, tier_id)?;
        // The same tier has the same price, so it charges nothing either.
        let amount = tier_change_charge(
            current_tier_price(model, &sub),
            new_tier.monthly_price,
            sub.current_period_start,
            sub.current_period_end,
            self.now(),
        );
        if amount == Money::ZERO {
            return Ok(None);
        }
        Ok(Some(ChargePreview {
            amount,
            card: self.card_on_file(org_id).await?,
            what: format!(
                "{} {}: the difference until {}, then {} every month",
                model.name,
                new_tier.name,
                day_label(sub.current_period_end),
                new_tier.monthly_price.to_usd_string()
            ),
        }))
    }

    /// What turning auto-recharge on with these settings charges at once: a top-up to
    /// `recharge_to` when available credit is already below `threshold` and the charge is within
    /// the purchase maximum and the monthly cap (`monthly_cap` as the form sets it: `None` keeps
    /// the one in force); `None` otherwise. The amount is `plan_auto_recharge`'s, as enabling's.
    pub async fn preview_auto_recharge(
        &self,
        user: &User,
        org_id: &OrgId,
        threshold: &str,
        recharge_to: &str,
        monthly_cap: Option<&str>,
    ) -> ServiceResult<Option<ChargePreview>> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let settings = self.auto_recharge_settings(threshold, recharge_to)?;
        let profile = self.store.billing_profile(org_id).await?;
        let monthly_cap = cap_in_force(monthly_cap, &profile)?;
        let amount = match self
            .plan_auto_recharge(org_id, settings, monthly_cap, self.now())
            .await?
        {
            Ok(Some(amount)) => amount,
            // Nothing due, or not charged: recorded as a refused recharge (above the purchase
            // maximum or past the monthly cap, `maybe_auto_recharge`).
            Ok(None) | Err(_) => return Ok(None),
        };
        let card = match self.card_on_file(org_id).await {
            Ok(card) => card,
            // Enabling refuses this with its own message.
            Err(ServiceError::Conflict { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(ChargePreview {
            amount,
            card,
            what: format!(
                "Available credit is below ${}: a top-up to ${}",
                settings.threshold.to_usd_string(),
                settings.recharge_to.to_usd_string()
            ),
        }))
    }
}
