//! What a change of tier charges now: pure arithmetic on prices and the period, shared by the
//! change itself and its preview.

use super::{classify_change, TierChange};
use crate::ledger::prorated_difference;
use crate::payment::{MICROS_PER_CENT, MIN_CHARGE};
use crate::Money;

/// What moving a subscription from a tier priced `current_price` to one priced `new_price`
/// charges at `now`, within the period `period_start..period_end`: an upgrade, the prorated
/// difference (`upgrade_charge`); anything else (a downgrade, the same price) nothing now.
/// The change and its preview both ask this.
pub fn tier_change_charge(
    current_price: Money,
    new_price: Money,
    period_start: i64,
    period_end: i64,
    now: i64,
) -> Money {
    if classify_change(current_price, new_price) != TierChange::Upgrade {
        return Money::ZERO;
    }
    upgrade_charge(prorated_difference(
        current_price,
        new_price,
        period_start,
        period_end,
        now,
    ))
}

/// What an upgrade charges: the prorated difference in whole cents (half up); amounts below
/// the smallest charge the provider takes are not charged at all.
pub fn upgrade_charge(prorated: Money) -> Money {
    let cents = Money::from_micros(
        prorated.micros().saturating_add(MICROS_PER_CENT / 2) / MICROS_PER_CENT * MICROS_PER_CENT,
    );
    if cents < MIN_CHARGE {
        Money::ZERO
    } else {
        cents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(micros: i64) -> Money {
        Money::from_micros(micros)
    }

    #[test]
    fn upgrade_charges_are_whole_cents_and_tiny_ones_are_waived() {
        assert_eq!(upgrade_charge(m(333_333_333)), m(333_330_000));
        assert_eq!(upgrade_charge(m(666_667)), m(670_000));
        assert_eq!(
            upgrade_charge(m(1_005_000)),
            m(1_010_000),
            "half a cent rounds up"
        );
        assert_eq!(upgrade_charge(m(494_999)), Money::ZERO, "below $0.50");
        assert_eq!(upgrade_charge(m(495_000)), m(500_000));
        assert_eq!(upgrade_charge(Money::ZERO), Money::ZERO);
    }

    #[test]
    fn only_upgrades_charge_now_and_the_charge_is_prorated() {
        let (start, end) = (1_000, 31_000);
        let (ten, thirty) = (m(10_000_000), m(30_000_000));
        // Half the period left: half the difference, in whole cents.
        assert_eq!(tier_change_charge(ten, thirty, start, end, 16_000), ten);
        // At the very start the whole difference; at the end nothing.
        assert_eq!(
            tier_change_charge(ten, thirty, start, end, start),
            m(20_000_000)
        );
        assert_eq!(
            tier_change_charge(ten, thirty, start, end, end),
            Money::ZERO
        );
        // A downgrade or the same price charges nothing now.
        assert_eq!(
            tier_change_charge(thirty, ten, start, end, start),
            Money::ZERO
        );
        assert_eq!(
            tier_change_charge(thirty, thirty, start, end, start),
            Money::ZERO
        );
        // A tiny difference is waived, as `upgrade_charge` waives it.
        assert_eq!(
            tier_change_charge(ten, m(10_400_000), start, end, start),
            Money::ZERO
        );
    }
}
