//! The JSON Stripe answers with, as far as Tollgate reads it, and what its statuses and error
//! objects mean for us.

use std::collections::HashMap;

use serde::Deserialize;

use super::types::{ChargeOutcome, DeclineCode, PaymentError};

/// The metadata key under which the caller's idempotency key is written on each PaymentIntent,
/// so that a charge can be found again when its answer was lost.
pub const IDEMPOTENCY_METADATA_KEY: &str = "tollgate_idempotency_key";

#[derive(Debug, Deserialize)]
pub struct Customer {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct SetupIntentObject {
    pub id: String,
    pub client_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub customer: Option<String>,
    pub card: Option<Card>,
}

#[derive(Debug, Deserialize)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub customer: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    pub last_payment_error: Option<ErrorObject>,
}

#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// `{"error": {...}}`, the body of every failed call.
#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorObject {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
    /// On a declined confirmation: the PaymentIntent that failed.
    pub payment_intent: Option<PaymentIntentRef>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentIntentRef {
    pub id: String,
}

impl ErrorObject {
    pub fn is_card_error(&self) -> bool {
        self.kind.as_deref() == Some("card_error")
    }

    pub fn decline_code(&self) -> DeclineCode {
        DeclineCode::from_stripe(self.code.as_deref(), self.decline_code.as_deref())
    }

    /// The message for the customer: Stripe's, or ours for the code.
    pub fn customer_message(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| self.decline_code().default_message().to_owned())
    }
}

/// A call that did not answer 2xx with the expected JSON.
#[derive(Debug)]
pub enum Failure {
    /// Connection refused, reset, timed out, or a 2xx body we could not read.
    Transport(String),
    /// Stripe answered with an error object.
    Stripe { status: u16, error: ErrorObject },
}

impl Failure {
    /// The error for a failure that is not a card decline. Card errors become `CardRejected`;
    /// where a card error is an outcome (charges) the caller handles it first.
    pub fn into_error(self) -> PaymentError {
        match self {
            Self::Transport(message) => PaymentError::Unavailable(message),
            Self::Stripe { status, error } => {
                let code = error.code.clone();
                let message = error.message.clone().unwrap_or_default();
                if error.is_card_error() {
                    PaymentError::CardRejected {
                        code: error.decline_code(),
                        message: error.customer_message(),
                    }
                } else if code.as_deref() == Some("idempotency_key_in_use")
                    || status == 429
                    || status >= 500
                {
                    PaymentError::Unavailable(format!("Stripe answered {status}: {message}"))
                } else if error.kind.as_deref() == Some("idempotency_error") {
                    PaymentError::IdempotencyConflict(message)
                } else {
                    PaymentError::Provider {
                        status,
                        code,
                        message,
                    }
                }
            }
        }
    }

    pub fn is_missing_resource(&self) -> bool {
        matches!(self, Self::Stripe { status: 404, .. })
    }
}

impl PaymentIntent {
    /// What a PaymentIntent's status means for the charge.
    pub fn outcome(&self) -> ChargeOutcome {
        let provider_payment_id = self.id.clone();
        match self.status.as_str() {
            "succeeded" => ChargeOutcome::Succeeded {
                provider_payment_id,
            },
            // A confirmed intent back at `requires_payment_method` was refused; its last error
            // says why.
            "requires_payment_method" => {
                let error = self.last_payment_error.as_ref();
                let code = error.map_or(DeclineCode::CardDeclined, ErrorObject::decline_code);
                ChargeOutcome::Declined {
                    code,
                    message: error.map_or_else(
                        || code.default_message().to_owned(),
                        ErrorObject::customer_message,
                    ),
                    provider_payment_id: Some(provider_payment_id),
                }
            }
            "canceled" => ChargeOutcome::Declined {
                code: DeclineCode::CardDeclined,
                message: "The payment was canceled.".to_owned(),
                provider_payment_id: Some(provider_payment_id),
            },
            // processing, requires_action, requires_confirmation, requires_capture, and any
            // status added later: not settled yet.
            _ => ChargeOutcome::Pending {
                provider_payment_id,
            },
        }
    }

    pub fn idempotency_key(&self) -> Option<&str> {
        self.metadata
            .get(IDEMPOTENCY_METADATA_KEY)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(json: serde_json::Value) -> PaymentIntent {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn statuses_become_outcomes() {
        let ok = intent(
            serde_json::json!({"id":"pi_1","status":"succeeded","amount":2500,"customer":"cus_1"}),
        );
        assert!(matches!(ok.outcome(), ChargeOutcome::Succeeded { .. }));
        let pending = intent(
            serde_json::json!({"id":"pi_2","status":"processing","amount":2500,"customer":null}),
        );
        assert!(matches!(pending.outcome(), ChargeOutcome::Pending { .. }));
        let refused = intent(serde_json::json!({
            "id":"pi_3","status":"requires_payment_method","amount":2500,"customer":"cus_1",
            "metadata":{"tollgate_idempotency_key":"k1"},
            "last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}
        }));
        assert_eq!(refused.idempotency_key(), Some("k1"));
        assert_eq!(
            refused.outcome(),
            ChargeOutcome::Declined {
                code: DeclineCode::InsufficientFunds,
                message: "Your card has insufficient funds.".into(),
                provider_payment_id: Some("pi_3".into()),
            }
        );
    }

    #[test]
    fn failures_are_sorted_into_errors() {
        let stripe = |status, json: serde_json::Value| Failure::Stripe {
            status,
            error: serde_json::from_value(json).unwrap(),
        };
        assert!(stripe(500, serde_json::json!({"type":"api_error"}))
            .into_error()
            .is_retryable());
        assert!(stripe(
            429,
            serde_json::json!({"type":"invalid_request_error","code":"rate_limit"})
        )
        .into_error()
        .is_retryable());
        assert!(matches!(
            stripe(
                400,
                serde_json::json!({"type":"idempotency_error","message":"m"})
            )
            .into_error(),
            PaymentError::IdempotencyConflict(_)
        ));
        assert!(matches!(
            stripe(
                401,
                serde_json::json!({"type":"invalid_request_error","message":"Invalid API Key"})
            )
            .into_error(),
            PaymentError::Provider { status: 401, .. }
        ));
        assert!(matches!(
            stripe(
                402,
                serde_json::json!({"type":"card_error","code":"expired_card"})
            )
            .into_error(),
            PaymentError::CardRejected {
                code: DeclineCode::ExpiredCard,
                ..
            }
        ));
    }
}
