//! The credit ledger's rules (DESIGN §2 "Money, credits and the ledger"), without I/O: which
//! grants usage draws from, and what usage costs. Amounts are integer micro-USD.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::{Timestamp, ValidationError};

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

/// Prices of one model in micro-USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPrices {
    pub input: i64,
    pub cached_input: i64,
    pub output: i64,
}

/// The cost of one usage record in micro-USD, rounded half up once for the whole record.
/// `cached_input` is the part of `input` served from cache (as in OpenAI's usage object).
pub fn usage_cost(
    prices: TokenPrices,
    input: i64,
    cached_input: i64,
    output: i64,
) -> Result<i64, ValidationError> {
    if input < 0 || cached_input < 0 || output < 0 {
        return Err(ValidationError::new(
            "tokens",
            "Token counts cannot be negative.",
        ));
    }
    if cached_input > input {
        return Err(ValidationError::new(
            "cached_input_tokens",
            "cached_input_tokens is the cached part of input_tokens and cannot exceed it.",
        ));
    }
    let uncached = i128::from(input - cached_input);
    let scaled = uncached * i128::from(prices.input)
        + i128::from(cached_input) * i128::from(prices.cached_input)
        + i128::from(output) * i128::from(prices.output);
    let micros = (scaled + 500_000) / 1_000_000;
    i64::try_from(micros).map_err(|_| ValidationError::new("tokens", "Token counts are too large."))
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
    fn usage_is_priced_once_per_record() {
        let p = TokenPrices {
            input: 850_000,
            cached_input: 425_000,
            output: 1_200_000,
        };
        // 1,000 input (200 cached) and 500 output tokens:
        // Per token: 0.85, 0.425 and 1.2 µUSD. 800 × 0.85 + 200 × 0.425 + 500 × 1.2 = 1365 µUSD.
        assert_eq!(usage_cost(p, 1_000, 200, 500), Ok(1_365));
        // 3 × 0.85 = 2.55 → 3; each token alone would round to 1 and sum to 3 as well, but
        // 1 cached (0.425 → 0) + 1 input (0.85 → 1) rounded separately is 1, together 1.275 → 1.
        assert_eq!(usage_cost(p, 3, 0, 0), Ok(3));
        assert_eq!(usage_cost(p, 2, 1, 0), Ok(1));
        assert_eq!(usage_cost(p, 1_000_000, 0, 0), Ok(850_000));
        assert_eq!(usage_cost(p, 1, 0, 0), Ok(1), "0.85 µUSD rounds up to 1");
        assert_eq!(usage_cost(p, 0, 0, 0), Ok(0));
        assert!(usage_cost(p, 10, 11, 0).is_err());
        assert!(usage_cost(p, -1, 0, 0).is_err());
        assert!(usage_cost(p, i64::MAX, 0, i64::MAX).is_err());
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
