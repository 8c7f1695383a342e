//! Tollgate counts money in micro-USD; card networks and Stripe count it in cents. The one
//! conversion between them lives here and is exact: an amount that is not a whole number of
//! cents is refused, never rounded.

use std::fmt;

pub use tollgate_domain::payment::{MAX_CHARGE_MICROS, MICROS_PER_CENT, MIN_CHARGE_MICROS};

/// Why an amount cannot be charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount must be a whole number of cents ({0} micro-USD is not)")]
    FractionalCent(i64),
    #[error("the smallest charge is $0.50")]
    TooSmall,
    #[error("the largest charge is $999,999.99")]
    TooLarge,
}

/// A chargeable USD amount in whole cents, $0.50 to $999,999.99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(i64);

impl Cents {
    /// Converts micro-USD to cents, refusing fractional cents and amounts Stripe would refuse.
    pub fn from_micros(amount_micros: i64) -> Result<Self, AmountError> {
        if amount_micros < MIN_CHARGE_MICROS {
            return Err(AmountError::TooSmall);
        }
        if amount_micros > MAX_CHARGE_MICROS {
            return Err(AmountError::TooLarge);
        }
        if amount_micros % MICROS_PER_CENT != 0 {
            return Err(AmountError::FractionalCent(amount_micros));
        }
        Ok(Self(amount_micros / MICROS_PER_CENT))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Back to micro-USD; exact, since cents are within the range checked at construction.
    pub fn to_micros(self) -> i64 {
        self.0 * MICROS_PER_CENT
    }
}

/// Micro-USD from an amount in cents reported by the provider (webhooks, retrieved charges).
/// `None` when it cannot be represented, which no real amount reaches.
pub fn micros_from_cents(cents: i64) -> Option<i64> {
    cents.checked_mul(MICROS_PER_CENT)
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_cents_convert_exactly_and_others_are_refused() {
        assert_eq!(Cents::from_micros(25_000_000).map(Cents::get), Ok(2500));
        assert_eq!(Cents::from_micros(500_000).map(Cents::get), Ok(50));
        assert_eq!(
            Cents::from_micros(MAX_CHARGE_MICROS).map(Cents::get),
            Ok(99_999_999)
        );
        assert_eq!(
            Cents::from_micros(25_000_001),
            Err(AmountError::FractionalCent(25_000_001))
        );
        assert_eq!(
            Cents::from_micros(10_005_000),
            Err(AmountError::FractionalCent(10_005_000))
        );
        assert_eq!(Cents::from_micros(490_000), Err(AmountError::TooSmall));
        assert_eq!(Cents::from_micros(0), Err(AmountError::TooSmall));
        assert_eq!(Cents::from_micros(-25_000_000), Err(AmountError::TooSmall));
        assert_eq!(Cents::from_micros(i64::MIN), Err(AmountError::TooSmall));
        assert_eq!(
            Cents::from_micros(MAX_CHARGE_MICROS + MICROS_PER_CENT),
            Err(AmountError::TooLarge)
        );
        assert_eq!(Cents::from_micros(i64::MAX), Err(AmountError::TooLarge));
        let c = Cents::from_micros(1_234_560_000).unwrap();
        assert_eq!(
            (c.to_string(), c.to_micros()),
            ("$1234.56".into(), 1_234_560_000)
        );
        assert_eq!(micros_from_cents(2500), Some(25_000_000));
        assert_eq!(micros_from_cents(i64::MAX), None);
    }
}
