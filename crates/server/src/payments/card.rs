//! Card numbers typed into the sandbox's card form: validation (Luhn, length, expiry, CVC) and
//! brand detection. The full number and the CVC live only in `CardDetails`, whose `Debug`
//! hides them; what is kept is a `SavedCard` (brand, last four digits, expiry).

use std::fmt;

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use tollgate_domain::clock::to_datetime;
use tollgate_domain::Timestamp;

/// Card details as typed by a person. Deserializes from the sandbox's
/// `{"card_number","exp_month","exp_year","cvc"}`; never logged, never stored.
#[derive(Clone, Deserialize)]
pub struct CardDetails {
    pub card_number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

// Written by hand: the number and the CVC must never reach a log line or an error message.
impl fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardDetails")
            .field("card_number", &"[redacted]")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &"[redacted]")
            .finish()
    }
}

/// A card network, named as Stripe names it in `card.brand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Diners,
    Jcb,
    Unionpay,
    Unknown,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Discover => "discover",
            Self::Diners => "diners",
            Self::Jcb => "jcb",
            Self::Unionpay => "unionpay",
            Self::Unknown => "unknown",
        }
    }

    /// Stripe's `card.brand`; anything unrecognised is `Unknown`.
    pub fn from_stripe(brand: &str) -> Self {
        match brand {
            "visa" => Self::Visa,
            "mastercard" => Self::Mastercard,
            "amex" => Self::Amex,
            "discover" => Self::Discover,
            "diners" => Self::Diners,
            "jcb" => Self::Jcb,
            "unionpay" => Self::Unionpay,
            _ => Self::Unknown,
        }
    }

    /// For people: "Visa", "American Express", …
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Visa => "Visa",
            Self::Mastercard => "Mastercard",
            Self::Amex => "American Express",
            Self::Discover => "Discover",
            Self::Diners => "Diners Club",
            Self::Jcb => "JCB",
            Self::Unionpay => "UnionPay",
            Self::Unknown => "Card",
        }
    }

    /// The network of a card number (digits only), by its issuer prefix.
    pub fn detect(digits: &str) -> Self {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        let in_range =
            |n: usize, lo: u32, hi: u32| prefix(n).is_some_and(|p| (lo..=hi).contains(&p));
        if digits.starts_with('4') {
            Self::Visa
        } else if in_range(2, 34, 34) || in_range(2, 37, 37) {
            Self::Amex
        } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
            Self::Mastercard
        } else if in_range(4, 6011, 6011) || in_range(3, 644, 649) || in_range(2, 65, 65) {
            Self::Discover
        } else if in_range(4, 3528, 3589) {
            Self::Jcb
        } else if in_range(3, 300, 305) || in_range(2, 36, 36) || in_range(2, 38, 39) {
            Self::Diners
        } else if in_range(2, 62, 62) {
            Self::Unionpay
        } else {
            Self::Unknown
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why typed card details were refused. The messages are for the person who typed them and
/// never repeat the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the card number may contain only digits and spaces")]
    NotDigits,
    #[error("a card number has 13 to 19 digits")]
    BadLength,
    #[error("the card number is not valid (check the digits)")]
    BadChecksum,
    #[error("the expiry month must be 1 to 12")]
    BadExpiryMonth,
    #[error("the expiry year must be written with four digits, e.g. 2030")]
    BadExpiryYear,
    #[error("the card has expired")]
    Expired,
    #[error("the security code (CVC) has 3 or 4 digits")]
    BadCvc,
}

impl CardError {
    /// The input field the error is about, for inline form errors.
    pub fn field(self) -> &'static str {
        match self {
            Self::NotDigits | Self::BadLength | Self::BadChecksum => "card_number",
            Self::BadExpiryMonth => "exp_month",
            Self::BadExpiryYear | Self::Expired => "exp_year",
            Self::BadCvc => "cvc",
        }
    }
}

/// A card number that passed validation. Holds the digits, so it stays private to this module
/// and the sandbox.
pub(crate) struct ValidCard {
    pub digits: String,
    pub brand: CardBrand,
    pub exp_month: u32,
    pub exp_year: u32,
}

impl ValidCard {
    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }
}

/// Cards are good through the last day of their expiry month; years beyond this many from now
/// are a typing mistake.
const MAX_YEARS_AHEAD: i32 = 20;

impl CardDetails {
    /// Checks the details the way a card form does; `now` decides expiry.
    pub(crate) fn validate(&self, now: Timestamp) -> Result<ValidCard, CardError> {
        let digits = normalize_number(&self.card_number)?;
        if !(13..=19).contains(&digits.len()) {
            return Err(CardError::BadLength);
        }
        if !luhn_valid(&digits) {
            return Err(CardError::BadChecksum);
        }
        if !(1..=12).contains(&self.exp_month) {
            return Err(CardError::BadExpiryMonth);
        }
        let today = to_datetime(now);
        let year = i32::try_from(self.exp_year).map_err(|_| CardError::BadExpiryYear)?;
        if !(2000..=today.year() + MAX_YEARS_AHEAD).contains(&year) {
            return Err(CardError::BadExpiryYear);
        }
        if (year, self.exp_month) < (today.year(), today.month()) {
            return Err(CardError::Expired);
        }
        let cvc = self.cvc.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::BadCvc);
        }
        Ok(ValidCard {
            brand: CardBrand::detect(&digits),
            digits,
            exp_month: self.exp_month,
            exp_year: self.exp_year,
        })
    }
}

/// The digits of a number typed with optional spaces or dashes between groups.
fn normalize_number(typed: &str) -> Result<String, CardError> {
    let mut digits = String::with_capacity(19);
    for c in typed.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => return Err(CardError::NotDigits),
        }
    }
    Ok(digits)
}

/// The Luhn checksum every card number carries in its last digit.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 {
                    d - 9
                } else {
                    d
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_numbers_and_refuses_one_digit_off() {
        for n in [
            "4242424242424242",
            "4000000000000002",
            "4000000000009995",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
            "3056930009020004",
            "3566002020360505",
            "6200000000000005",
        ] {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("4000000000000003"));
    }

    #[test]
    fn brands_are_told_by_prefix() {
        for (n, brand) in [
            ("4242424242424242", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("2223003122003222", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("371449635398431", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
            ("3056930009020004", CardBrand::Diners),
            ("36227206271667", CardBrand::Diners),
            ("3566002020360505", CardBrand::Jcb),
            ("6200000000000005", CardBrand::Unionpay),
            ("9999999999999995", CardBrand::Unknown),
        ] {
            assert_eq!(CardBrand::detect(n), brand, "{n}");
            assert_eq!(CardBrand::from_stripe(brand.as_str()), brand);
        }
    }
}
