//! The credit ledger's rules (DESIGN §2 "Money, credits and the ledger"), without I/O: which
//! grants usage draws from, and the range every amount stays in. Amounts are integer micro-USD;
//! what usage costs is `crate::usage` (re-exported here).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::{Timestamp, ValidationError};

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
pub fn in_range(amount: i64) -> Result<i64, OutOfRange> {
    if (-LEDGER_LIMIT..=LEDGER_LIMIT).contains(&amount) {
        Ok(amount)
    } else {
        Err(OutOfRange)
    }
}

/// `a + b`, checked and within the ledger's range.
pub fn ledger_add(a: i64, b: i64) -> Result<i64, OutOfRange> {
    a.checked_add(b).ok_or(OutOfRange).and_then(in_range)
}

/// `a − b`, checked and within the ledger's range.
pub fn ledger_sub(a: i64, b: i64) -> Result<i64, OutOfRange> {
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

macro_rules! text_enum {
    ($ty:ident, $field:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| ValidationError::new($field, format!("'{s}' is not a known {}", $field)))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
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
    pub remaining: i64,
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
pub fn allocate(grants: &[GrantLot], amount: i64, now: Timestamp) -> (Vec<(String, i64)>, i64) {
    let mut usable: Vec<&GrantLot> = grants
        .iter()
        .filter(|g| {
            g.remaining > 0 && g.effective_at <= now && g.expires_at.is_none_or(|e| e > now)
        })
        .collect();
    usable.sort_by(|a, b| draw_order(a, b));
    let mut left = amount.max(0);
    let mut takes = Vec::new();
    for g in usable {
        if left == 0 {
            break;
        }
        let take = g.remaining.min(left);
        takes.push((g.id.clone(), take));
        left -= take;
    }
    (takes, left)
}

/// The charge for moving to a dearer plan for the rest of a period: the price difference times
/// the part of the period left, rounded half up. Zero when the new plan is not dearer.
pub fn prorated_difference(
    old_price: i64,
    new_price: i64,
    period_start: Timestamp,
    period_end: Timestamp,
    now: Timestamp,
) -> i64 {
    let total = i128::from((period_end - period_start).max(1));
    let left = i128::from((period_end - now).clamp(0, period_end - period_start));
    let diff = i128::from((new_price - old_price).max(0));
    i64::try_from((diff * left + total / 2) / total).unwrap_or(i64::MAX)
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
            remaining,
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
        let (takes, uncovered) = allocate(&grants, 450, 20);
        let order: Vec<_> = takes.iter().map(|(id, n)| (id.as_str(), *n)).collect();
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
        assert_eq!(uncovered, 0);
        let (_, uncovered) = allocate(&grants, 1_000, 20);
        assert_eq!(uncovered, 500, "usage beyond the grants is not covered");
    }

    #[test]
    fn upgrades_are_prorated_in_integers() {
        let day = 86_400_000;
        // $20 → $50 with 10 of 30 days left: $10.
        assert_eq!(
            prorated_difference(20_000_000, 50_000_000, 0, 30 * day, 20 * day),
            10_000_000
        );
        assert_eq!(
            prorated_difference(20_000_000, 50_000_000, 0, 30 * day, 0),
            30_000_000
        );
        assert_eq!(
            prorated_difference(20_000_000, 50_000_000, 0, 30 * day, 30 * day),
            0
        );
        assert_eq!(
            prorated_difference(50_000_000, 20_000_000, 0, 30 * day, 0),
            0,
            "downgrades charge nothing"
        );
        // 1/3 of $1 rounds half up to the micro-dollar.
        assert_eq!(prorated_difference(0, 1_000_000, 0, 3, 2), 333_333);
        assert_eq!(prorated_difference(0, 2_000_000, 0, 3, 2), 666_667);
    }

    #[test]
    fn ledger_arithmetic_stays_in_range() {
        assert_eq!(ledger_add(LEDGER_LIMIT - 1, 1), Ok(LEDGER_LIMIT));
        assert_eq!(ledger_add(LEDGER_LIMIT, 1), Err(OutOfRange));
        assert_eq!(ledger_sub(-LEDGER_LIMIT, 1), Err(OutOfRange));
        assert_eq!(ledger_sub(0, i64::MIN), Err(OutOfRange), "no wrapping");
        assert_eq!(ledger_add(i64::MAX, 1), Err(OutOfRange));
        assert_eq!(ledger_sub(5, 7), Ok(-2));
        // The difference of two amounts in range always fits an i64.
        assert!(LEDGER_LIMIT.checked_mul(2).is_some());
    }

    #[test]
    fn sources_and_categories_round_trip() {
        for s in GrantSource::ALL {
            assert_eq!(s.as_str().parse::<GrantSource>(), Ok(*s));
        }
        assert_eq!(
            GrantSource::Promotion.category(),
            GrantCategory::Promotional
        );
        assert_eq!(GrantSource::AutoRecharge.category(), GrantCategory::Paid);
        assert!("gift".parse::<GrantCategory>().is_err());
    }
}
