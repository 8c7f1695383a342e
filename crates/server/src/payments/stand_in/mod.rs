//! A stand-in for Stripe's API, for tests: an HTTP server on a loopback port that speaks
//! Stripe's wire format for the endpoints Tollgate calls — form-encoded requests, JSON answers
//! and error objects, the bearer secret key, `Idempotency-Key` replays — with Stripe test mode's
//! magic payment methods (`pm_card_visa`, `pm_card_chargeDeclined`, …).
//!
//! It shares no code with the client in `payments::stripe`: it builds and reads Stripe's JSON
//! on its own, so that a test against it checks the client's requests, not the client's idea
//! of them. It records every request for tests to inspect, and can send signed webhooks.
//!
//! Endpoints: `POST /v1/customers`, `POST /v1/setup_intents`, `GET /v1/payment_methods/{id}`,
//! `POST /v1/payment_methods/{id}/attach`, `POST /v1/payment_intents`,
//! `GET /v1/payment_intents/{id}`, `GET /v1/payment_intents?customer=…`.

mod cards;
mod objects;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::oneshot;

use crate::payments::config::StripeConfig;
pub use cards::MAGIC_PAYMENT_METHODS;
use objects::Objects;

pub const STAND_IN_SECRET_KEY: &str = "sk_test_tollgate_stand_in";
pub const STAND_IN_PUBLISHABLE_KEY: &str = "pk_test_tollgate_stand_in";
pub const STAND_IN_WEBHOOK_SECRET: &str = "whsec_tollgate_stand_in";

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the query string.
    pub path: String,
    /// The form body of a POST, the query of a GET, in the order sent.
    pub params: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub content_type: Option<String>,
}

impl RecordedRequest {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Replay {
    fingerprint: String,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
struct Shared {
    requests: Vec<RecordedRequest>,
    idempotent: HashMap<String, Replay>,
    objects: Objects,
    /// Answer this many of the next requests with a 500 `api_error`, as if Stripe had a bad
    /// moment, before doing anything.
    fail_next: usize,
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(state: &SharedState) -> MutexGuard<'_, Shared> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running stand-in. Stops when dropped.
pub struct StripeStandIn {
    pub base_url: String,
    pub addr: SocketAddr,
    state: SharedState,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

#[allow(clippy::expect_used)]
impl StripeStandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the Stripe stand-in");
        let addr = listener.local_addr().expect("stand-in address");
        let state: SharedState = Arc::default();
        let router = Router::new().fallback(handle).with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base_url: format!("http://{addr}"),
            addr,
            state,
            shutdown: Some(tx),
            served: Some(served),
        }
    }

    /// Configuration for a stripe client talking to this stand-in.
    pub fn config(&self) -> StripeConfig {
        let mut c = StripeConfig::new(STAND_IN_SECRET_KEY, STAND_IN_PUBLISHABLE_KEY);
        c.api_base = self.base_url.clone();
        c.webhook_secret = Some(STAND_IN_WEBHOOK_SECRET.to_owned());
        c
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    /// The recorded requests with this method and path.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// PaymentIntents created (each one a charge attempt; replays create none).
    pub fn payment_intents_created(&self) -> usize {
        lock(&self.state).objects.payment_intent_count()
    }

    /// PaymentIntents that took money.
    pub fn succeeded_charges(&self) -> usize {
        lock(&self.state).objects.succeeded_count()
    }

    /// What Stripe.js does in the browser: confirms a SetupIntent with one of the magic test
    /// payment methods, which attaches a new PaymentMethod to the intent's customer. Returns
    /// that PaymentMethod's id, as Stripe.js hands it to the page.
    pub fn confirm_setup_intent(
        &self,
        setup_intent_id: &str,
        magic: &str,
    ) -> Result<String, String> {
        lock(&self.state)
            .objects
            .confirm_setup_intent(setup_intent_id, magic)
    }

    /// Moves a PaymentIntent to another status, as Stripe does when a `processing` payment
    /// settles; returns false for an unknown id.
    pub fn set_payment_intent_status(&self, id: &str, status: &str) -> bool {
        lock(&self.state).objects.set_status(id, status)
    }

    /// The next `n` requests answer 500 without doing anything.
    pub fn fail_next_requests(&self, n: usize) {
        lock(&self.state).fail_next = n;
    }

    /// A Stripe event (`payment_intent.succeeded`, `payment_intent.payment_failed`) about a
    /// PaymentIntent, as the JSON Stripe posts.
    pub fn event_payload(&self, event_type: &str, payment_intent_id: &str) -> Option<String> {
        let state = lock(&self.state);
        let intent = state.objects.payment_intent(payment_intent_id)?;
        let event = json!({
            "id": objects::new_id("evt"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": now_secs(),
            "livemode": false,
            "type": event_type,
            "data": {"object": intent},
        });
        Some(event.to_string())
    }

    /// Posts a signed event to `url` like Stripe does, signed now with `secret`.
    pub async fn send_webhook(
        &self,
        url: &str,
        secret: &str,
        event_type: &str,
        payment_intent_id: &str,
    ) -> reqwest::Response {
        let payload = self
            .event_payload(event_type, payment_intent_id)
            .expect("a webhook about a PaymentIntent the stand-in made");
        post_signed(
            url,
            &payload,
            &signature_header(&payload, secret, now_secs()),
        )
        .await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            // Connections a client keeps alive end with the graceful shutdown too.
            tokio::time::timeout(std::time::Duration::from_secs(10), served)
                .await
                .expect("the Stripe stand-in did not stop within 10 s")
                .expect("the Stripe stand-in task");
        }
    }
}

impl Drop for StripeStandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `Stripe-Signature` header Stripe would send for `payload` at unix time `t`.
#[allow(clippy::expect_used)]
pub fn signature_header(payload: &str, secret: &str, t: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `payload` with a `Stripe-Signature` header, as Stripe's webhook delivery does.
#[allow(clippy::expect_used)]
pub async fn post_signed(url: &str, payload: &str, signature: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", signature)
        .body(payload.to_owned())
        .send()
        .await
        .expect("posting a webhook")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> (StatusCode, Value) {
    let mut e = json!({"type": kind, "message": message});
    if let Some(code) = code {
        e["code"] = json!(code);
    }
    (status, json!({"error": e}))
}

async fn handle(
    State(state): State<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = header(&headers, "content-type");
    let raw = if method == Method::GET {
        uri.query().unwrap_or("").as_bytes().to_vec()
    } else {
        body.to_vec()
    };
    let params: Option<Vec<(String, String)>> = serde_urlencoded::from_bytes(&raw).ok();
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        params: params.clone().unwrap_or_default(),
        authorization: header(&headers, "authorization"),
        idempotency_key: header(&headers, "idempotency-key"),
        stripe_version: header(&headers, "stripe-version"),
        content_type: content_type.clone(),
    };
    let mut shared = lock(&state);
    shared.requests.push(request.clone());

    if shared.fail_next > 0 {
        shared.fail_next -= 1;
        return reply(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            "An unknown error occurred (stand-in fault injection).",
        ));
    }
    if request.authorization.as_deref() != Some(&format!("Bearer {STAND_IN_SECRET_KEY}")) {
        return reply(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided.",
        ));
    }
    let is_form = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if method == Method::POST && !body.is_empty() && !is_form {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            "Invalid request: the body must be application/x-www-form-urlencoded.",
        ));
    }
    let Some(params) = params else {
        return reply(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            "Invalid request: the parameters could not be decoded.",
        ));
    };

    let key = request
        .idempotency_key
        .clone()
        .filter(|_| method == Method::POST);
    let fingerprint = {
        let mut sorted = params.clone();
        sorted.sort();
        format!("{} {} {:?}", request.method, request.path, sorted)
    };
    if let Some(key) = &key {
        if let Some(replay) = shared.idempotent.get(key) {
            if replay.fingerprint != fingerprint {
                return reply(error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters \
                     they were first used with.",
                ));
            }
            let mut response = (replay.status, axum::Json(replay.body.clone())).into_response();
            response.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            return response;
        }
    }

    let (status, body) = shared.objects.route(&method, uri.path(), &params);
    if let Some(key) = key {
        shared.idempotent.insert(
            key,
            Replay {
                fingerprint,
                status,
                body: body.clone(),
            },
        );
    }
    reply((status, body))
}

fn reply((status, body): (StatusCode, Value)) -> Response {
    (status, axum::Json(body)).into_response()
}
