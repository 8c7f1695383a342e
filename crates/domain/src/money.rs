//! Money: integer micro-USD inside, decimal strings in USD outside (DESIGN §2). No floating
//! point touches an amount.

use std::fmt;

use crate::ValidationError;

/// An amount in micro-USD (1 USD = 1,000,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

const MICROS_PER_USD: i64 = 1_000_000;
const DECIMALS: usize = 6;

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `self + other`, `None` on overflow.
    pub const fn checked_add(self, other: Money) -> Option<Money> {
        match self.0.checked_add(other.0) {
            Some(m) => Some(Self(m)),
            None => None,
        }
    }

    /// `self − other`, `None` on overflow.
    pub const fn checked_sub(self, other: Money) -> Option<Money> {
        match self.0.checked_sub(other.0) {
            Some(m) => Some(Self(m)),
            None => None,
        }
    }

    /// `self + other`, held at the bounds of `i64` micro-USD.
    pub const fn saturating_add(self, other: Money) -> Money {
        Self(self.0.saturating_add(other.0))
    }

    /// `self − other`, held at the bounds of `i64` micro-USD.
    pub const fn saturating_sub(self, other: Money) -> Money {
        Self(self.0.saturating_sub(other.0))
    }

    /// `−self`, held at the bounds of `i64` micro-USD.
    pub const fn saturating_neg(self) -> Money {
        Self(self.0.saturating_neg())
    }

    /// `self / divisor`, rounded toward zero (a share of `self` split `divisor` ways); `None`
    /// when `divisor` is zero (or on the one overflow, `i64::MIN / −1`).
    pub const fn checked_div(self, divisor: i64) -> Option<Money> {
        match self.0.checked_div(divisor) {
            Some(m) => Some(Self(m)),
            None => None,
        }
    }

    /// The sum of `amounts`, `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Money>) -> Option<Money> {
        amounts
            .into_iter()
            .try_fold(Money::ZERO, |sum, m| sum.checked_add(m))
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parses a non-negative USD amount written as a decimal string: `"25"`, `"0.85"`,
    /// `"0.000125"`. At most six decimals (one micro-USD); no sign, exponent or spaces.
    pub fn parse_usd(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let bad = |why: &str| ValidationError::new(field, format!("'{raw}' {why}"));
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("is not an amount in USD like \"0.85\""));
        }
        if raw.contains('.') && frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("is not an amount in USD like \"0.85\""));
        }
        if frac.len() > DECIMALS {
            return Err(bad("has more than six decimals (one micro-dollar)"));
        }
        let too_large = || bad("is too large");
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let frac_micros: i64 = if frac.is_empty() {
            0
        } else {
            let digits: i64 = frac.parse().map_err(|_| too_large())?;
            digits * 10i64.pow(u32::try_from(DECIMALS - frac.len()).unwrap_or(0))
        };
        whole
            .checked_mul(MICROS_PER_USD)
            .and_then(|m| m.checked_add(frac_micros))
            .map(Self)
            .ok_or_else(too_large)
    }

    /// The amount in USD with at least two decimals and no trailing zeros past them:
    /// `25.00`, `0.85`, `0.000125`.
    pub fn to_usd_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let micros_per_usd = MICROS_PER_USD.unsigned_abs();
        let frac = format!("{:06}", abs % micros_per_usd);
        let trimmed = frac.trim_end_matches('0');
        let frac = if trimmed.len() < 2 {
            &frac[..2]
        } else {
            trimmed
        };
        format!("{sign}{}.{frac}", abs / micros_per_usd)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_usd_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_round_trip_exactly() {
        for (raw, micros, shown) in [
            ("0", 0, "0.00"),
            ("25", 25_000_000, "25.00"),
            ("25.00", 25_000_000, "25.00"),
            ("0.85", 850_000, "0.85"),
            ("0.1", 100_000, "0.10"),
            ("0.000125", 125, "0.000125"),
            ("1.234567", 1_234_567, "1.234567"),
            ("10000", 10_000_000_000, "10000.00"),
        ] {
            let m = Money::parse_usd("price", raw).unwrap();
            assert_eq!(m.micros(), micros, "{raw}");
            assert_eq!(m.to_usd_string(), shown, "{raw}");
        }
        assert_eq!(Money::from_micros(-1_500_000).to_usd_string(), "-1.50");
    }

    #[test]
    fn arithmetic_is_checked_or_saturating() {
        let (one, two) = (Money::from_micros(1), Money::from_micros(2));
        assert_eq!(one.checked_add(two), Some(Money::from_micros(3)));
        assert_eq!(one.checked_sub(two), Some(Money::from_micros(-1)));
        let max = Money::from_micros(i64::MAX);
        assert_eq!(max.checked_add(one), None);
        assert_eq!(Money::from_micros(i64::MIN).checked_sub(one), None);
        assert_eq!(max.saturating_add(one), max);
        assert_eq!(Money::from_micros(i64::MIN).saturating_neg(), max);
        assert_eq!(
            Money::checked_sum([one, two, one]),
            Some(Money::from_micros(4))
        );
        assert_eq!(Money::checked_sum([max, one]), None);
        assert_eq!(
            Money::from_micros(7).checked_div(2),
            Some(Money::from_micros(3))
        );
        assert_eq!(
            Money::from_micros(-7).checked_div(4),
            Some(Money::from_micros(-1))
        );
        assert_eq!(one.checked_div(0), None);
        assert_eq!(Money::from_micros(i64::MIN).checked_div(-1), None);
        assert!(
            one.is_positive() && !Money::ZERO.is_positive() && one.saturating_neg().is_negative()
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            "1e3",
            "0.0000001",
            " 1",
            "1 ",
            "1,5",
            "NaN",
            "0x10",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert!(Money::parse_usd("price", bad).is_err(), "{bad:?}");
        }
    }
}
