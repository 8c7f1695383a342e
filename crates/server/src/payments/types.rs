//! The values that go in and out of a payment provider. Both providers speak these, so that
//! billing and subscriptions are written once.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::amount::AmountError;
use super::card::{CardBrand, CardDetails, CardError};

/// The provider's customer for an organization (Stripe: `cus_…`). Created once by
/// `Payments::ensure_customer` and stored by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerRef(String);

/// A saved card at the provider (Stripe: a PaymentMethod `pm_…`; sandbox: `pm_sbx_…`). Carries
/// no card number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CardRef(String);

macro_rules! provider_ref {
    ($t:ident) => {
        impl $t {
            /// A reference read back from the database.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
provider_ref!(CustomerRef);
provider_ref!(CardRef);

/// What is kept about a card: enough to show "Visa ending 4242, expires 12/2030" and to charge
/// it again. Never the number or the CVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCard {
    pub provider_ref: CardRef,
    pub brand: CardBrand,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

/// A card to save, as the provider's card form delivers it: typed details for the sandbox,
/// the id of a PaymentMethod made by Stripe's own card form (Stripe.js with a SetupIntent) for
/// stripe. `Payments::card_form` says which one the page must offer.
#[derive(Debug, Clone)]
pub enum CardInput {
    Details(CardDetails),
    PaymentMethod { payment_method_id: String },
}

/// What the "add a card" page must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardForm {
    /// A plain form posting `{card_number, exp_month, exp_year, cvc}`.
    Sandbox,
    /// Stripe.js's card element with this publishable key, confirming a SetupIntent made by
    /// `Payments::create_setup_intent`, then posting `{payment_method_id}`.
    Stripe { publishable_key: String },
}

/// A SetupIntent: Stripe.js confirms it in the browser with `client_secret`, which saves the
/// card to the customer for later off-session charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupIntent {
    pub id: String,
    pub client_secret: String,
}

/// One charge of a saved card, in USD, off-session (the customer is not there to authenticate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub customer: CustomerRef,
    pub card: CardRef,
    /// Micro-USD (1 USD = 1,000,000). Must be whole cents, from $0.50 to $999,999.99: anything
    /// else is refused with `PaymentError::InvalidAmount` before the provider is called.
    pub amount_micros: i64,
    /// Unique per intended charge: the same key never charges twice, and a retry with it
    /// answers the first outcome. Use the payment row's id (`pay_…`, or a per-period key for
    /// renewals). 1–200 printable ASCII characters.
    pub idempotency_key: String,
    /// Shown on the provider's dashboard and the receipt ("Tollgate credits").
    pub description: String,
}

/// The answer of a charge. A decline is an outcome, not an error: nothing went wrong on our side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money is taken: grant the credit now.
    Succeeded { provider_payment_id: String },
    /// The card was refused; nothing was taken. `message` is fit to show to the customer.
    Declined {
        code: DeclineCode,
        message: String,
        /// The provider's record of the failed attempt, when it made one.
        provider_payment_id: Option<String>,
    },
    /// Neither taken nor refused yet (Stripe `processing`, `requires_action`, …): keep the
    /// payment pending; a webhook or `Payments::retrieve_charge` settles it later.
    Pending { provider_payment_id: String },
}

impl ChargeOutcome {
    pub fn provider_payment_id(&self) -> Option<&str> {
        match self {
            Self::Succeeded {
                provider_payment_id,
            }
            | Self::Pending {
                provider_payment_id,
            } => Some(provider_payment_id),
            Self::Declined {
                provider_payment_id,
                ..
            } => provider_payment_id.as_deref(),
        }
    }
}

/// Why a card was refused, as a stable code for the API's 402 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    /// Refused by the issuer, for no reason given (and every reason not listed here).
    CardDeclined,
    InsufficientFunds,
    ExpiredCard,
    IncorrectCvc,
    /// The issuer could not process it; trying again later may work.
    ProcessingError,
    /// The bank wants the customer to authenticate (3-D Secure), which an off-session charge
    /// cannot do: the customer must add the card again or pay on-session.
    AuthenticationRequired,
}

impl DeclineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardDeclined => "card_declined",
            Self::InsufficientFunds => "insufficient_funds",
            Self::ExpiredCard => "expired_card",
            Self::IncorrectCvc => "incorrect_cvc",
            Self::ProcessingError => "processing_error",
            Self::AuthenticationRequired => "authentication_required",
        }
    }

    /// Stripe's `code` and `decline_code` of a card error, to ours. The decline code is the
    /// more precise: a `card_declined` with `insufficient_funds` is insufficient funds.
    pub fn from_stripe(code: Option<&str>, decline_code: Option<&str>) -> Self {
        for c in [decline_code, code].into_iter().flatten() {
            match c {
                "insufficient_funds" => return Self::InsufficientFunds,
                "expired_card" => return Self::ExpiredCard,
                "incorrect_cvc" | "invalid_cvc" => return Self::IncorrectCvc,
                "processing_error" => return Self::ProcessingError,
                "authentication_required" => return Self::AuthenticationRequired,
                _ => {}
            }
        }
        Self::CardDeclined
    }

    /// A sentence for the customer when the provider gave none.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::CardDeclined => "Your card was declined.",
            Self::InsufficientFunds => "Your card has insufficient funds.",
            Self::ExpiredCard => "Your card has expired.",
            Self::IncorrectCvc => "Your card's security code is incorrect.",
            Self::ProcessingError => {
                "An error occurred while processing your card. Try again in a little bit."
            }
            Self::AuthenticationRequired => {
                "Your bank requires authentication for this payment; add the card again."
            }
        }
    }
}

impl fmt::Display for DeclineCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong talking to a provider, other than a declined charge.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Typed card details are invalid (sandbox). For the person: 422 on the card field.
    #[error("{0}")]
    InvalidCard(#[from] CardError),
    /// The amount cannot be charged (fractional cent, below $0.50, above $999,999.99).
    #[error("{0}")]
    InvalidAmount(#[from] AmountError),
    /// A caller's mistake caught before any call: a bad idempotency key, card input of the
    /// other provider's kind, a reference of the other provider.
    #[error("{0}")]
    InvalidRequest(String),
    /// The provider refused to save the card (its verification was declined).
    #[error("{message}")]
    CardRejected { code: DeclineCode, message: String },
    /// The provider could not be reached, timed out, failed (5xx) or asked to slow down (429).
    /// The outcome of a charge is then unknown: keep it pending and retry with the same
    /// idempotency key, or let the reconciler ask `retrieve_charge`.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The idempotency key was used before with different parameters. Nothing was charged.
    #[error("idempotency key reused with different parameters: {0}")]
    IdempotencyConflict(String),
    /// Any other refusal by the provider (bad API key, unknown customer or payment method,
    /// invalid parameters). Retrying will not help.
    #[error("payment provider refused the request ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Provider {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The operation does not exist for this provider (a SetupIntent on the sandbox).
    #[error("{0} is not supported by the {1} payment provider")]
    Unsupported(&'static str, &'static str),
}

impl PaymentError {
    /// True when trying the same call again later (same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Checks an idempotency key before it is used: Stripe allows 255 characters, and the stripe
/// client prefixes the customer id, so callers get 200.
pub(crate) fn check_idempotency_key(key: &str) -> Result<(), PaymentError> {
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PaymentError::InvalidRequest(
            "the idempotency key must be 1 to 200 printable ASCII characters without spaces".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_codes_map_to_ours() {
        use DeclineCode as D;
        for (code, decline, ours) in [
            (
                Some("card_declined"),
                Some("generic_decline"),
                D::CardDeclined,
            ),
            (
                Some("card_declined"),
                Some("insufficient_funds"),
                D::InsufficientFunds,
            ),
            (Some("expired_card"), None, D::ExpiredCard),
            (Some("incorrect_cvc"), None, D::IncorrectCvc),
            (Some("processing_error"), None, D::ProcessingError),
            (
                Some("authentication_required"),
                Some("authentication_required"),
                D::AuthenticationRequired,
            ),
            (Some("card_declined"), Some("stolen_card"), D::CardDeclined),
            (None, None, D::CardDeclined),
        ] {
            assert_eq!(D::from_stripe(code, decline), ours, "{code:?} {decline:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(check_idempotency_key("pay_01HZX").is_ok());
        for bad in ["", "has space", "é", &"k".repeat(201)] {
            assert!(check_idempotency_key(bad).is_err(), "{bad}");
        }
    }
}
