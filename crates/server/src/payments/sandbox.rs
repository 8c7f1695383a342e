//! The sandbox provider: no network, no state, Stripe's test-mode card numbers.
//!
//! A saved card's reference records how the card behaves (`pm_sbx_declined_…`), never its
//! number, so that a charge's outcome is a pure function of (customer, card reference, amount,
//! idempotency key). Charging twice with one key therefore answers the same outcome with the
//! same payment id, and "retrieving" a charge after a crash or a restart recomputes it: there is
//! nothing to lose. Nothing is ever taken from anyone, so "charging twice" cannot happen.

use rand::RngCore;
use sha2::{Digest, Sha256};
use tollgate_domain::Timestamp;

use super::amount::Cents;
use super::types::{
    check_idempotency_key, CardInput, CardRef, ChargeOutcome, ChargeRequest, CustomerRef,
    DeclineCode, PaymentError, SavedCard, SetupIntent,
};
use super::PaymentProvider;

const PROVIDER: &str = "sandbox";
const CARD_PREFIX: &str = "pm_sbx_";

/// How a test card behaves when charged, as in Stripe's test mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeeds,
    Declines(DeclineCode),
}

/// Stripe's test numbers that do something other than succeed. Every other valid number pays.
const SPECIAL_CARDS: &[(&str, DeclineCode)] = &[
    ("4000000000000002", DeclineCode::CardDeclined),
    ("4000000000000341", DeclineCode::CardDeclined),
    ("4000000000009995", DeclineCode::InsufficientFunds),
    ("4000000000000069", DeclineCode::ExpiredCard),
    ("4000000000000127", DeclineCode::IncorrectCvc),
    ("4000000000000119", DeclineCode::ProcessingError),
    ("4000002760003184", DeclineCode::AuthenticationRequired),
];

impl Behaviour {
    fn of_number(digits: &str) -> Self {
        SPECIAL_CARDS
            .iter()
            .find(|(number, _)| *number == digits)
            .map_or(Self::Succeeds, |(_, code)| Self::Declines(*code))
    }

    fn token(self) -> &'static str {
        match self {
            Self::Succeeds => "ok",
            Self::Declines(DeclineCode::CardDeclined) => "declined",
            Self::Declines(DeclineCode::InsufficientFunds) => "funds",
            Self::Declines(DeclineCode::ExpiredCard) => "expired",
            Self::Declines(DeclineCode::IncorrectCvc) => "cvc",
            Self::Declines(DeclineCode::ProcessingError) => "processing",
            Self::Declines(DeclineCode::AuthenticationRequired) => "auth",
        }
    }

    fn from_token(token: &str) -> Option<Self> {
        [
            Self::Succeeds,
            Self::Declines(DeclineCode::CardDeclined),
            Self::Declines(DeclineCode::InsufficientFunds),
            Self::Declines(DeclineCode::ExpiredCard),
            Self::Declines(DeclineCode::IncorrectCvc),
            Self::Declines(DeclineCode::ProcessingError),
            Self::Declines(DeclineCode::AuthenticationRequired),
        ]
        .into_iter()
        .find(|b| b.token() == token)
    }
}

/// The sandbox provider. Holds nothing: see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sandbox;

impl PaymentProvider for Sandbox {
    /// The customer of an organization: derived from its id, so asking twice answers the same.
    async fn ensure_customer(
        &self,
        org_id: &str,
        _email: &str,
        _name: &str,
    ) -> Result<CustomerRef, PaymentError> {
        if org_id.is_empty() || !org_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PaymentError::InvalidRequest(
                "an organization id is required".into(),
            ));
        }
        Ok(CustomerRef::new(format!("cus_sbx_{org_id}")))
    }

    /// Validates typed card details (Luhn, length, expiry against `now`, CVC) and returns what
    /// may be kept. The number and CVC are dropped here.
    async fn create_setup_intent(&self, _: &CustomerRef) -> Result<SetupIntent, PaymentError> {
        Err(PaymentError::Unsupported("a SetupIntent", PROVIDER))
    }

    async fn save_card(
        &self,
        customer: &CustomerRef,
        input: &CardInput,
        now: Timestamp,
    ) -> Result<SavedCard, PaymentError> {
        let CardInput::Details(details) = input else {
            return Err(PaymentError::InvalidRequest(
                "the sandbox takes card details (card_number, exp_month, exp_year, cvc), \
                 not a payment_method_id"
                    .into(),
            ));
        };
        let card = details.validate(now)?;
        let behaviour = Behaviour::of_number(&card.digits);
        let mut random = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut random);
        let provider_ref = CardRef::new(format!(
            "{CARD_PREFIX}{}_{}_{}",
            behaviour.token(),
            customer_tag(customer),
            hex::encode(random)
        ));
        Ok(SavedCard {
            provider_ref,
            brand: card.brand,
            last4: card.last4().to_owned(),
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        })
    }

    /// Charges a saved card: its behaviour decides the outcome, the request decides the id.
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
        outcome(request)
    }

    /// The outcome of an earlier `charge` of `request`: the same, recomputed. When the caller
    /// knows the payment id, it must be the one this request produces.
    async fn retrieve_charge(
        &self,
        request: &ChargeRequest,
        provider_payment_id: Option<&str>,
    ) -> Result<Option<ChargeOutcome>, PaymentError> {
        let outcome = outcome(request)?;
        match provider_payment_id {
            Some(id) if outcome.provider_payment_id() != Some(id) => {
                Err(PaymentError::InvalidRequest(format!(
                    "payment {id} was not made by this request (sandbox)"
                )))
            }
            _ => Ok(Some(outcome)),
        }
    }
}

/// The one function every sandbox charge is.
fn outcome(request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
    Cents::from_micros(request.amount_micros)?;
    check_idempotency_key(&request.idempotency_key)?;
    let behaviour = card_behaviour(&request.customer, &request.card)?;
    let provider_payment_id = payment_id(request);
    Ok(match behaviour {
        Behaviour::Succeeds => ChargeOutcome::Succeeded {
            provider_payment_id,
        },
        Behaviour::Declines(code) => ChargeOutcome::Declined {
            code,
            message: code.default_message().to_owned(),
            provider_payment_id: Some(provider_payment_id),
        },
    })
}

/// A short digest of the customer, written into card references so that one organization's
/// card cannot be charged to another's customer.
fn customer_tag(customer: &CustomerRef) -> String {
    hex::encode(&Sha256::digest(customer.as_str().as_bytes())[..4])
}

fn card_behaviour(customer: &CustomerRef, card: &CardRef) -> Result<Behaviour, PaymentError> {
    let not_ours = || {
        PaymentError::InvalidRequest(format!(
            "{card} is not a sandbox card of customer {customer}"
        ))
    };
    let rest = card
        .as_str()
        .strip_prefix(CARD_PREFIX)
        .ok_or_else(not_ours)?;
    let mut parts = rest.split('_');
    let (Some(token), Some(tag), Some(_random), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_ours());
    };
    if tag != customer_tag(customer) {
        return Err(not_ours());
    }
    Behaviour::from_token(token).ok_or_else(not_ours)
}

fn payment_id(request: &ChargeRequest) -> String {
    let mut h = Sha256::new();
    for part in [
        request.customer.as_str(),
        request.card.as_str(),
        &request.amount_micros.to_string(),
        &request.idempotency_key,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("pi_sbx_{}", &hex::encode(h.finalize())[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_survive_their_token() {
        for (_, code) in SPECIAL_CARDS {
            let b = Behaviour::Declines(*code);
            assert_eq!(Behaviour::from_token(b.token()), Some(b));
        }
        assert_eq!(Behaviour::from_token("ok"), Some(Behaviour::Succeeds));
        assert_eq!(Behaviour::from_token("nope"), None);
    }
}
