//! The credit ledger's rules (DESIGN §2 "Money, credits and the ledger"), without I/O: which
//! grants usage draws from, and the range every amount stays in. Amounts are integer micro-USD;
//! what usage costs is `crate::usage` (re-exported here).

use std::cmp::Ordering;
use std::fmt;

use crate::text_enum::text_enum;
use crate::{Money, Timestamp};

pub use crate::usage::{usage_cost, TokenCounts, TokenPrices, UsageCost};

/// The most any amount of the ledger may reach either way: a balance, a debt, the sum held, a
/// grant, a hold or one debit. One trillion USD in micro-USD: far above any real account and
/// far inside `i64` (≈ 9.2 × 10¹⁸), so that a difference SQL computes from two of them
/// (`balance - held`) cannot overflow either, and no engine ever stores anything but a BIGINT.
pub const LEDGER_LIMIT: i64 = 1_000_000_000_000_000_000;

/// An amount would leave the ledger's range (`±LEDGER_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the amount would leave the ledger's range of ±$1,000,000,000,000")
    }
}

impl std::error::Error for OutOfRange {}

/// `amount` when it lies within `±LEDGER_LIMIT`.
pub fn in_range(amount: Money) -> Result<Money, OutOfRange> {
    if (-LEDGER_LIMIT..=LEDGER_LIMIT).contains(&amount.micros()) {
        Ok(amount)
    } else {
        Err(OutOfRange)
    }
}

/// `a + b`, checked and within the ledger's range.
pub fn ledger_add(a: Money, b: Money) -> Result<Money, OutOfRange> {
    a.checked_add(b).ok_or(OutOfRange).and_then(in_range)
}

/// `a − b`, checked and within the ledger's range.
pub fn ledger_sub(a: Money, b: Money) -> Result<Money, OutOfRange> {
    a.checked_sub(b).ok_or(OutOfRange).and_then(in_range)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantCategory {
    Paid,
    Promotional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantSource {
    Purchase,
    AutoRecharge,
    Promotion,
    Refund,
    Adjustment,
}

text_enum!(GrantCategory, "category", Paid => "paid", Promotional => "promotional");
text_enum!(
    GrantSource, "source",
    Purchase => "purchase", AutoRecharge => "auto_recharge", Promotion => "promotion",
    Refund => "refund", Adjustment => "adjustment",
);

impl GrantSource {
    /// The category a grant of this source belongs to.
    pub fn category(self) -> GrantCategory {
        match self {
            Self::Purchase | Self::AutoRecharge | Self::Refund => GrantCategory::Paid,
            Self::Promotion | Self::Adjustment => GrantCategory::Promotional,
        }
    }
}

/// What the draw order needs to know of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLot {
    pub id: String,
    pub category: GrantCategory,
    pub remaining: Money,
    pub effective_at: Timestamp,
    /// `None`: never expires.
    pub expires_at: Option<Timestamp>,
}

/// Usage draws from grants soonest expiry first (never-expiring last), then promotional before
/// paid, then oldest first; the id breaks remaining ties so the order is total.
pub fn draw_order(a: &GrantLot, b: &GrantLot) -> Ordering {
    let expiry = |g: &GrantLot| g.expires_at.unwrap_or(Timestamp::MAX);
    let paid_last = |g: &GrantLot| g.category == GrantCategory::Paid;
    expiry(a)
        .cmp(&expiry(b))
        .then(paid_last(a).cmp(&paid_last(b)))
        .then(a.effective_at.cmp(&b.effective_at))
        .then(a.id.cmp(&b.id))
}

/// How a debit of `amount` is taken from the usable grants at `now`: `(grant id, amount)` in
/// draw order, and what no grant covers (usage may take the balance below zero).
pub fn allocate(
    grants: &[GrantLot],
    amount: Money,
    now: Timestamp,
) -> (Vec<(String, Money)>, Money) {
    let mut usable: Vec<&GrantLot> = grants
        .iter()
        .filter(|g| {
            g.remaining.is_positive()
                && g.effective_at <= now
                && g.expires_at.is_none_or(|e| e > now)
        })
        .collect();
    usable.sort_by(|a, b| draw_order(a, b));
    let mut left = amount.max(Money::ZERO);
    let mut takes = Vec::new();
    for g in usable {
        if left == Money::ZERO {
            break;
        }
        let take = g.remaining.min(left);
        takes.push((g.id.clone(), take));
        // 0 < take ≤ left: cannot overflow.
        left = left.saturating_sub(take);
    }
    (takes, left)
}

/// The charge for moving to a dearer plan for the rest of a period: the price difference times
/// the part of the period left, rounded half up. Zero when the new plan is not dearer.
pub fn prorated_difference(
    old_price: Money,
    new_price: Money,
    period_start: Timestamp,
    period_end: Timestamp,
    now: Timestamp,
) -> Money {
    let total = i128::from((period_end - period_start).max(1));
    let left = i128::from((period_end - now).clamp(0, period_end - period_start));
    // In i128: the difference of two i64 amounts cannot overflow there.
    let diff = (i128::from(new_price.micros()) - i128::from(old_price.micros())).max(0);
    Money::from_micros(i64::try_from((diff * left + total / 2) / total).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(
        id: &str,
        category: GrantCategory,
        remaining: i64,
        effective_at: i64,
        expires_at: Option<i64>,
    ) -> GrantLot {
        GrantLot {
            id: id.into(),
            category,
            remaining: Money::from_micros(remaining),
            effective_at,
            expires_at,
        }
    }

    #[test]
    fn usage_draws_soonest_expiry_then_promotional_then_oldest() {
        use GrantCategory::*;
        let grants = [
            lot("paid-never", Paid, 100, 1, None),
            lot("paid-late", Paid, 100, 1, Some(1_000)),
            lot("promo-late", Promotional, 100, 2, Some(1_000)),
            lot("paid-soon", Paid, 100, 3, Some(500)),
            lot("paid-late-older", Paid, 100, 0, Some(1_000)),
            lot("expired", Promotional, 100, 0, Some(10)),
            lot("future", Promotional, 100, 50, None),
            lot("empty", Promotional, 0, 0, Some(20)),
        ];
        let (takes, uncovered) = allocate(&grants, Money::from_micros(450), 20);
        let order: Vec<_> = takes
            .iter()
            .map(|(id, n)| (id.as_str(), n.micros()))
            .collect();
        assert_eq!(
            order,
            [
                ("paid-soon", 100),
                ("promo-late", 100),
                ("paid-late-older", 100),
                ("paid-late", 100),
                ("paid-never", 50)
            ]
        );
        assert_eq!(uncovered, Money::ZERO);
        let (_, uncovered) = allocate(&grants, Money::from_micros(1_000), 20);
        assert_eq!(
            uncovered,
            Money::from_micros(500),
            "usage beyond the grants is not covered"
        );
    }

    #[test]
    fn upgrades_are_prorated_in_integers() {
        let day = 86_400_000;
        let m = Money::from_micros;
        // $20 → $50 with 10 of 30 days left: $10.
        assert_eq!(
            prorated_difference(m(20_000_000), m(50_000_000), 0, 30 * day, 20 * day),
            m(10_000_000)
        );
        assert_eq!(
            prorated_difference(m(20_000_000), m(50_000_000), 0, 30 * day, 0),
            m(30_000_000)
        );
        assert_eq!(
            prorated_difference(m(20_000_000), m(50_000_000), 0, 30 * day, 30 * day),
            Money::ZERO
        );
        assert_eq!(
            prorated_difference(m(50_000_000), m(20_000_000), 0, 30 * day, 0),
            Money::ZERO,
            "downgrades charge nothing"
        );
        // 1/3 of $1 rounds half up to the micro-dollar.
        assert_eq!(prorated_difference(m(0), m(1_000_000), 0, 3, 2), m(333_333));
        assert_eq!(prorated_difference(m(0), m(2_000_000), 0, 3, 2), m(666_667));
    }

    #[test]
    fn ledger_arithmetic_stays_in_range() {
        let m = Money::from_micros;
        assert_eq!(ledger_add(m(LEDGER_LIMIT - 1), m(1)), Ok(m(LEDGER_LIMIT)));
        assert_eq!(ledger_add(m(LEDGER_LIMIT), m(1)), Err(OutOfRange));
        assert_eq!(ledger_sub(m(-LEDGER_LIMIT), m(1)), Err(OutOfRange));
        assert_eq!(
            ledger_sub(m(0), m(i64::MIN)),
            Err(OutOfRange),
            "no wrapping"
        );
        assert_eq!(ledger_add(m(i64::MAX), m(1)), Err(OutOfRange));
        assert_eq!(ledger_sub(m(5), m(7)), Ok(m(-2)));
        // The difference of two amounts in range always fits an i64.
        assert!(LEDGER_LIMIT.checked_mul(2).is_some());
    }

    #[test]
    fn sources_and_categories_round_trip() {
        for s in GrantSource::ALL {
            assert_eq!(s.as_str().parse::<GrantSource>(), Ok(s));
        }
        assert_eq!(
            GrantSource::Promotion.category(),
            GrantCategory::Promotional
        );
        assert_eq!(GrantSource::AutoRecharge.category(), GrantCategory::Paid);
        assert!("gift".parse::<GrantCategory>().is_err());
    }
}
