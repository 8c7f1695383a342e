//! How the service answers a subscription operation the store or the domain refused: one
//! place for the codes and messages of every refusal.

use tollgate_domain::catalog::{Model, Tier};
use tollgate_domain::subscription::{day_label, ChangeRefusal};
use tollgate_store::{Subscription, SubscriptionError, SubscriptionRefusal};

use crate::service::ServiceError;

pub(crate) fn sold_out_error(model: &Model, tier: &Tier) -> ServiceError {
    ServiceError::Conflict {
        code: "tier_sold_out",
        message: format!(
            "{} {} is Temporarily Sold Out. Check back later, or contact support for availability.",
            model.name, tier.name
        ),
    }
}

pub(super) fn busy() -> ServiceError {
    ServiceError::Conflict {
        code: "subscription_busy",
        message: "The subscription is being changed or renewed right now; try again in a moment."
            .to_owned(),
    }
}

/// The store's answer to creating or changing a subscription of `model` to `tier`.
pub(super) fn refusal(e: SubscriptionError, model: &Model, tier: &Tier) -> ServiceError {
    match e {
        SubscriptionError::Refused(SubscriptionRefusal::SoldOut) => sold_out_error(model, tier),
        SubscriptionError::Refused(SubscriptionRefusal::AlreadySubscribed) => {
            already_subscribed(model)
        }
        SubscriptionError::Refused(SubscriptionRefusal::Busy) => busy(),
        SubscriptionError::Store(e) => e.into(),
    }
}

/// The domain's refusal of a change of tier, as the service answers it.
pub(super) fn change_refused(
    r: ChangeRefusal,
    model: &Model,
    tier: &Tier,
    sub: &Subscription,
) -> ServiceError {
    let conflict = |code, message: String| ServiceError::Conflict { code, message };
    match r {
        ChangeRefusal::Canceled => conflict(
            "subscription_canceled",
            "This subscription is canceled; subscribe again instead.".to_owned(),
        ),
        ChangeRefusal::Busy => busy(),
        ChangeRefusal::CancelPending => conflict(
            "cancel_pending",
            "This subscription is canceled at the end of its period; resume it before changing its tier.".to_owned(),
        ),
        ChangeRefusal::SameTier => conflict(
            "same_tier",
            format!("The subscription is already on {}.", tier.name),
        ),
        ChangeRefusal::ChangePending => conflict(
            "change_pending",
            format!(
                "The subscription already changes to {} on {}.",
                tier.name,
                day_label(sub.current_period_end)
            ),
        ),
        ChangeRefusal::PastDue => conflict(
            "subscription_past_due",
            "This subscription's renewal is unpaid; update the payment method before upgrading.".to_owned(),
        ),
        ChangeRefusal::SoldOut => sold_out_error(model, tier),
    }
}

pub(crate) fn already_subscribed(model: &Model) -> ServiceError {
    ServiceError::Conflict {
        code: "already_subscribed",
        message: format!(
            "This organization already has a subscription to {}; change its tier instead.",
            model.name
        ),
    }
}
