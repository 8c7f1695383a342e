//! `POST /api/v1/webhooks/stripe`: checks the signature and hands the event to whoever settles
//! payments. What to do with an event is not decided here; mount the route with a handler:
//!
//! ```text
//! let routes = stripe_webhook_routes(secret, app.clock.clone(), Arc::new(MyBilling { … }));
//! Router::new().merge(routes) …
//! ```
//!
//! Answers: 200 `{"received": true}` once the handler accepted the event; 400 for a missing or
//! wrong signature or a body that is not an event (Stripe does not retry those usefully); 500
//! when the handler failed, so that Stripe delivers the event again later.

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tollgate_domain::Clock;

use super::stripe_webhook::{verify_event, StripeEvent};

pub const STRIPE_WEBHOOK_PATH: &str = "/api/v1/webhooks/stripe";

/// What the billing side does with a verified event. Stripe may deliver one event more than
/// once and in any order: handle each `event.id` (or each payment) once.
pub trait StripeEventHandler: Send + Sync + 'static {
    fn handle(&self, event: StripeEvent) -> impl Future<Output = anyhow::Result<()>> + Send;
}

struct WebhookState<H> {
    secret: String,
    clock: Arc<dyn Clock>,
    handler: Arc<H>,
}

impl<H> Clone for WebhookState<H> {
    fn clone(&self) -> Self {
        Self {
            secret: self.secret.clone(),
            clock: self.clock.clone(),
            handler: self.handler.clone(),
        }
    }
}

/// The webhook route, with its own state, ready to merge into any router.
pub fn stripe_webhook_routes<S, H>(
    webhook_secret: impl Into<String>,
    clock: Arc<dyn Clock>,
    handler: Arc<H>,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    H: StripeEventHandler,
{
    Router::new()
        .route(STRIPE_WEBHOOK_PATH, post(receive::<H>))
        .with_state(WebhookState {
            secret: webhook_secret.into(),
            clock,
            handler,
        })
}

async fn receive<H: StripeEventHandler>(
    State(state): State<WebhookState<H>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(signature) = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return refuse(
            "missing_signature",
            "the Stripe-Signature header is missing",
        );
    };
    let event = match verify_event(&body, signature, &state.secret, state.clock.now_ms()) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "refused a Stripe webhook");
            return refuse("invalid_signature", &e.to_string());
        }
    };
    let id = event.id.clone();
    match state.handler.handle(event).await {
        Ok(()) => Json(json!({"received": true})).into_response(),
        Err(e) => {
            tracing::error!(event = %id, error = ?e, "handling a Stripe webhook failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"code": "internal", "message": "the event could not be handled; it will be retried"}})),
            )
                .into_response()
        }
    }
}

fn refuse(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}
