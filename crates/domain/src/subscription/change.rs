//! The rules of a change of tier, without I/O: given where a subscription stands and the tier
//! asked for, what to do or why not. The service loads the state, asks `plan_change`, and stores
//! the plan.

use super::{classify_change, SubscriptionStatus, TierChange};
use crate::Money;

/// Where a subscription stands, as far as changing its tier is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeState<'a> {
    pub status: SubscriptionStatus,
    pub cancel_at_period_end: bool,
    pub tier: &'a str,
    /// A downgrade waiting for the period end.
    pub pending_tier: Option<&'a str>,
    pub tier_price: Money,
}

/// The tier asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRequest<'a> {
    pub tier: &'a str,
    pub price: Money,
    /// Temporarily Sold Out (`sold_out`) for new subscribers.
    pub sold_out: bool,
}

/// What the change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangePlan<'a> {
    /// Back to the current tier while a downgrade is pending: the downgrade is dropped.
    UndoDowngrade { pending: &'a str },
    /// Cheaper or the same price: at the period end, nothing charged now.
    Downgrade,
    /// Dearer: at once, the prorated difference charged now.
    Upgrade,
}

/// Why a change of tier is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    Canceled,
    /// Its first charge (or another change) is not settled yet.
    Busy,
    /// Canceled at the period end: resumed first.
    CancelPending,
    /// Already on the tier, nothing pending.
    SameTier,
    /// Already changing to the tier at the period end.
    ChangePending,
    /// An upgrade while the renewal is unpaid.
    PastDue,
    SoldOut,
}

/// The rules, in the order they are asked: the state of the subscription, then the tier.
pub fn plan_change<'a>(
    state: &ChangeState<'a>,
    request: &ChangeRequest<'_>,
) -> Result<ChangePlan<'a>, ChangeRefusal> {
    match state.status {
        SubscriptionStatus::Canceled => return Err(ChangeRefusal::Canceled),
        SubscriptionStatus::Incomplete => return Err(ChangeRefusal::Busy),
        SubscriptionStatus::Active | SubscriptionStatus::PastDue => {}
    }
    if state.cancel_at_period_end {
        return Err(ChangeRefusal::CancelPending);
    }
    if request.tier == state.tier {
        return match state.pending_tier {
            Some(pending) => Ok(ChangePlan::UndoDowngrade { pending }),
            None => Err(ChangeRefusal::SameTier),
        };
    }
    match classify_change(state.tier_price, request.price) {
        TierChange::Downgrade => {
            if state.pending_tier == Some(request.tier) {
                return Err(ChangeRefusal::ChangePending);
            }
            if request.sold_out {
                return Err(ChangeRefusal::SoldOut);
            }
            Ok(ChangePlan::Downgrade)
        }
        TierChange::Upgrade => {
            if state.status == SubscriptionStatus::PastDue {
                return Err(ChangeRefusal::PastDue);
            }
            if request.sold_out {
                return Err(ChangeRefusal::SoldOut);
            }
            Ok(ChangePlan::Upgrade)
        }
    }
}

/// Temporarily Sold Out: marked so by the operator (`marked`: the database's override, else the
/// catalog's flag), or every seat of a tier with a `capacity` taken.
pub fn sold_out(marked: bool, capacity: Option<u64>, taken: i64) -> bool {
    let full = capacity.is_some_and(|cap| u64::try_from(taken).unwrap_or(0) >= cap);
    marked || full
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIVE: ChangeState<'static> = ChangeState {
        status: SubscriptionStatus::Active,
        cancel_at_period_end: false,
        tier: "pro",
        pending_tier: None,
        tier_price: Money::from_micros(100),
    };

    fn ask(tier: &str, price_micros: i64) -> ChangeRequest<'_> {
        ChangeRequest {
            tier,
            price: Money::from_micros(price_micros),
            sold_out: false,
        }
    }

    #[test]
    fn dearer_is_an_upgrade_cheaper_or_equal_a_downgrade() {
        assert_eq!(
            plan_change(&ACTIVE, &ask("max", 200)),
            Ok(ChangePlan::Upgrade)
        );
        assert_eq!(
            plan_change(&ACTIVE, &ask("lite", 50)),
            Ok(ChangePlan::Downgrade)
        );
        assert_eq!(
            plan_change(&ACTIVE, &ask("twin", 100)),
            Ok(ChangePlan::Downgrade)
        );
    }

    #[test]
    fn the_state_of_the_subscription_refuses_first() {
        let canceled = ChangeState {
            status: SubscriptionStatus::Canceled,
            ..ACTIVE
        };
        assert_eq!(
            plan_change(&canceled, &ask("max", 200)),
            Err(ChangeRefusal::Canceled)
        );
        let incomplete = ChangeState {
            status: SubscriptionStatus::Incomplete,
            ..ACTIVE
        };
        assert_eq!(
            plan_change(&incomplete, &ask("pro", 100)),
            Err(ChangeRefusal::Busy)
        );
        let ending = ChangeState {
            cancel_at_period_end: true,
            ..ACTIVE
        };
        assert_eq!(
            plan_change(&ending, &ask("lite", 50)),
            Err(ChangeRefusal::CancelPending)
        );
    }

    #[test]
    fn the_same_tier_undoes_a_pending_downgrade_or_is_refused() {
        assert_eq!(
            plan_change(&ACTIVE, &ask("pro", 100)),
            Err(ChangeRefusal::SameTier)
        );
        let downgrading = ChangeState {
            pending_tier: Some("lite"),
            ..ACTIVE
        };
        // Sold out does not matter: the subscriber keeps the seat it has.
        let back = ChangeRequest {
            sold_out: true,
            ..ask("pro", 100)
        };
        assert_eq!(
            plan_change(&downgrading, &back),
            Ok(ChangePlan::UndoDowngrade { pending: "lite" })
        );
        assert_eq!(
            plan_change(&downgrading, &ask("lite", 50)),
            Err(ChangeRefusal::ChangePending)
        );
    }

    #[test]
    fn past_due_may_downgrade_but_not_upgrade() {
        let past_due = ChangeState {
            status: SubscriptionStatus::PastDue,
            ..ACTIVE
        };
        assert_eq!(
            plan_change(&past_due, &ask("max", 200)),
            Err(ChangeRefusal::PastDue)
        );
        assert_eq!(
            plan_change(&past_due, &ask("lite", 50)),
            Ok(ChangePlan::Downgrade)
        );
    }

    #[test]
    fn a_sold_out_tier_refuses_both_directions() {
        for (tier, price) in [("max", 200), ("lite", 50)] {
            let request = ChangeRequest {
                sold_out: true,
                ..ask(tier, price)
            };
            assert_eq!(plan_change(&ACTIVE, &request), Err(ChangeRefusal::SoldOut));
        }
    }

    #[test]
    fn sold_out_when_marked_or_full() {
        assert!(!sold_out(false, None, 1_000));
        assert!(sold_out(true, None, 0));
        assert!(!sold_out(false, Some(2), 1));
        assert!(sold_out(false, Some(2), 2));
        assert!(sold_out(false, Some(2), 3));
        assert!(!sold_out(false, Some(2), -1));
    }
}
