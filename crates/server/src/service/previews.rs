//! What a billing action is about to charge, computed the way the action computes it, so that
//! the console can show the amount and the card and ask before money moves (issue 14, bug 7).
//! Nothing here writes.

use tollgate_domain::ledger::prorated_difference;
use tollgate_domain::subscription::{classify_change, day_label, TierChange};
use tollgate_domain::OrgAction;
use tollgate_store::User;

use crate::app::App;
use crate::payments::MIN_CHARGE_MICROS;
use crate::service::charges::card_label;
use crate::service::subscriptions::{
    already_subscribed, find_tier, sold_out_error, upgrade_charge,
};
use crate::service::{ServiceError, ServiceResult};

/// A charge about to be made: `amount` micro-USD to the card `card` ("Visa ending in 4242").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargePreview {
    pub amount: i64,
    pub card: String,
    /// What it is for, in the customer's words.
    pub what: String,
}

impl App {
    /// The card on file, as receipts name it; the same refusal as the charge when there is none.
    async fn card_on_file(&self, org_id: &str) -> ServiceResult<String> {
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
        org_id: &str,
        model_id: &str,
        tier_id: &str,
    ) -> ServiceResult<ChargePreview> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let catalog = self.catalog.current();
        let (model, tier) = find_tier(&catalog, model_id, tier_id)?;
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
        Ok(ChargePreview {
            amount: tier.monthly_price.micros(),
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
        org_id: &str,
        sub_id: &str,
        tier_id: &str,
    ) -> ServiceResult<Option<ChargePreview>> {
        let sub = self.own_subscription(user, org_id, sub_id).await?;
        let catalog = self.catalog.current();
        let (model, new_tier) = find_tier(&catalog, &sub.model, tier_id)?;
        let current_price = model
            .tiers
            .iter()
            .find(|t| t.id == sub.tier)
            .map_or(0, |t| t.monthly_price.micros());
        let new_price = new_tier.monthly_price.micros();
        if new_tier.id == sub.tier
            || classify_change(current_price, new_price) != TierChange::Upgrade
        {
            return Ok(None);
        }
        let amount = upgrade_charge(prorated_difference(
            current_price,
            new_price,
            sub.current_period_start,
            sub.current_period_end,
            self.now(),
        ));
        if amount == 0 {
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
    /// `recharge_to` when available credit is already below `threshold`; `None` otherwise.
    pub async fn preview_auto_recharge(
        &self,
        user: &User,
        org_id: &str,
        threshold: &str,
        recharge_to: &str,
    ) -> ServiceResult<Option<ChargePreview>> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let settings = self.auto_recharge_settings(threshold, recharge_to)?;
        let account = self.store.credit_account(org_id).await?;
        if account.available() >= settings.threshold.micros() {
            return Ok(None);
        }
        let Some(amount) = settings.charge_for(account.balance, MIN_CHARGE_MICROS) else {
            return Ok(None);
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
