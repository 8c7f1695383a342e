//! Stripe's webhooks: the `Stripe-Signature` check and the events Tollgate acts on.
//!
//! Stripe signs `"{t}.{payload}"` with HMAC-SHA256 under the endpoint's secret and sends
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (several `v1` while a secret is
//! being rolled). An event is accepted when one `v1` matches, compared in constant time, and
//! `t` is within five minutes of now, so that a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tollgate_domain::Timestamp;

use super::amount::micros_from_cents;
use super::stripe_wire::{ErrorObject, PaymentIntent};
use super::types::DeclineCode;

/// How far the signature's timestamp may be from now, in seconds (Stripe's libraries' default).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the Stripe-Signature header is malformed")]
    MalformedHeader,
    #[error("no signature matches the payload")]
    BadSignature,
    #[error("the signature is {age_secs} s from now, more than the {SIGNATURE_TOLERANCE_SECS} s allowed")]
    Stale { age_secs: i64 },
    #[error("the event is not valid JSON of the expected shape: {0}")]
    BadPayload(String),
}

/// A verified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    /// `evt_…`: Stripe may deliver an event more than once; handle each id once.
    pub id: String,
    pub kind: StripeEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeEventKind {
    /// `payment_intent.succeeded`: the money is taken.
    PaymentSucceeded {
        payment_intent_id: String,
        /// The `idempotency_key` of the `ChargeRequest` that made it; `None` for an intent not
        /// created by Tollgate.
        idempotency_key: Option<String>,
        amount_micros: i64,
    },
    /// `payment_intent.payment_failed`: the attempt was refused.
    PaymentFailed {
        payment_intent_id: String,
        idempotency_key: Option<String>,
        code: DeclineCode,
        message: String,
    },
    /// Any other event type: acknowledge it and do nothing.
    Other { event_type: String },
}

/// Checks the signature, then reads the event. `now` is the server clock (injectable in tests).
pub fn verify_event(
    payload: &[u8],
    signature_header: &str,
    secret: &str,
    now: Timestamp,
) -> Result<StripeEvent, WebhookError> {
    verify_signature(payload, signature_header, secret, now)?;
    parse_event(payload)
}

/// The signature check alone.
pub fn verify_signature(
    payload: &[u8],
    signature_header: &str,
    secret: &str,
    now: Timestamp,
) -> Result<(), WebhookError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in signature_header.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            return Err(WebhookError::MalformedHeader);
        };
        match name {
            "t" => {
                let t = value.parse().map_err(|_| WebhookError::MalformedHeader)?;
                timestamp = Some(t);
            }
            // Undecodable values cannot match; skipping them keeps a v0 or a future scheme
            // beside a good v1 from failing the whole header.
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else {
        return Err(WebhookError::MalformedHeader);
    };
    if signatures.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    // HMAC takes keys of any length: this fails for no secret.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    // `verify_slice` compares in constant time.
    let matched = signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok());
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    let age_secs = now.div_euclid(1000).saturating_sub(t);
    if age_secs.saturating_abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(WebhookError::Stale { age_secs });
    }
    Ok(())
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// Reads an event's JSON (without checking its signature: use `verify_event`).
pub fn parse_event(payload: &[u8]) -> Result<StripeEvent, WebhookError> {
    let bad = |e: serde_json::Error| WebhookError::BadPayload(e.to_string());
    let event: Event = serde_json::from_slice(payload).map_err(bad)?;
    let intent = || serde_json::from_value::<PaymentIntent>(event.data.object.clone()).map_err(bad);
    let kind = match event.kind.as_str() {
        "payment_intent.succeeded" => {
            let pi = intent()?;
            StripeEventKind::PaymentSucceeded {
                idempotency_key: pi.idempotency_key().map(str::to_owned),
                amount_micros: micros_from_cents(pi.amount).ok_or_else(|| {
                    WebhookError::BadPayload(format!("amount {} is out of range", pi.amount))
                })?,
                payment_intent_id: pi.id,
            }
        }
        "payment_intent.payment_failed" => {
            let pi = intent()?;
            let error = pi.last_payment_error.as_ref();
            let code = error.map_or(DeclineCode::CardDeclined, ErrorObject::decline_code);
            StripeEventKind::PaymentFailed {
                idempotency_key: pi.idempotency_key().map(str::to_owned),
                code,
                message: error.map_or_else(
                    || code.default_message().to_owned(),
                    ErrorObject::customer_message,
                ),
                payment_intent_id: pi.id,
            }
        }
        other => StripeEventKind::Other {
            event_type: other.to_owned(),
        },
    };
    Ok(StripeEvent { id: event.id, kind })
}
