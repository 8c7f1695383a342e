//! The OpenAI-compatible gateway under `/v1`, where programs call models with an API key:
//! `GET /v1/models`, `POST /v1/chat/completions` and `POST /v1/completions` (streaming too).
//! Each request is admitted in `admission.rs`, forwarded in `forward.rs` / `stream.rs` to the
//! model's upstream (`upstream/`, or the built-in `mock`), and metered in `record.rs`.

pub mod admission;
pub mod error;
mod forward;
pub mod mock;
mod models;
pub mod record;
pub mod request;
pub mod sse;
mod stream;
pub mod tokens;
pub mod upstream;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tollgate_domain::{new_time_ordered_id, IdPrefix};

use crate::app::App;
use crate::keys::{KeyAuthError, KeyIdentity};
pub use error::GatewayError;
use request::{Endpoint, RawBody};

pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        // Prompts are larger than the console's forms: the gateway has its own body limit.
        .layer(DefaultBodyLimit::max(app.config.gateway_max_body_bytes))
        .layer(from_fn_with_state(app.clone(), request_id))
}

/// The id of a gateway request: its usage record's id, sent back as `x-request-id`.
#[derive(Clone)]
pub struct RequestId(pub String);

/// A new gateway request's id, in time order (`new_time_ordered_id`: its usage record is
/// written in bulk, keyed by it).
pub fn new_request_id(app: &App) -> String {
    new_time_ordered_id(IdPrefix::Request, app.now())
}

/// Gives every request an id and every answer — errors too — its `x-request-id`.
async fn request_id(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let id = new_request_id(&app);
    let header_value = HeaderValue::from_str(&id).ok();
    request.extensions_mut().insert(RequestId(id));
    let mut response = next.run(request).await;
    if let Some(v) = header_value {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

async fn chat_completions(
    State(app): State<Arc<App>>,
    Extension(RequestId(id)): Extension<RequestId>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    complete(app, id, headers, Endpoint::Chat, &body).await
}

async fn completions(
    State(app): State<Arc<App>>,
    Extension(RequestId(id)): Extension<RequestId>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    complete(app, id, headers, Endpoint::Completions, &body).await
}

async fn complete(
    app: Arc<App>,
    id: String,
    headers: HeaderMap,
    endpoint: Endpoint,
    body: &[u8],
) -> Response {
    match admission::admit(&app, id, &headers, endpoint, body).await {
        Ok(admitted) => forward_admitted(app, admitted).await,
        Err(e) => e.into_response(),
    }
}

/// A chat completion for a caller already known (the console Playground's pass): the same
/// admission, forwarding and metering as `/v1/chat/completions`.
pub async fn chat_as(app: Arc<App>, id: String, key: Arc<KeyIdentity>, body: &[u8]) -> Response {
    let started = std::time::Instant::now();
    let arrived_at = app.now();
    match admission::admit_as(&app, id, key, Endpoint::Chat, body, started, arrived_at).await {
        Ok(admitted) => forward_admitted(app, admitted).await,
        Err(e) => e.into_response(),
    }
}

async fn forward_admitted(app: Arc<App>, admitted: admission::Admitted) -> Response {
    let limits = admitted.rate.as_ref().map(|r| r.headers);
    // In its own task: a client that hangs up does not cancel the forwarding half-way, so the
    // usage of what the upstream did is recorded whatever happens to this connection.
    let mut response = match tokio::spawn(forward::forward(app, admitted)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "forwarding a request failed");
            GatewayError::bad_gateway("The request could not be forwarded.").into_response()
        }
    };
    // Every answer of an admitted request says where its limits stand.
    if let Some(limits) = limits {
        limits.apply(response.headers_mut());
    }
    response
}

/// The key a request is authenticated by: `Authorization: Bearer tg-…`.
pub async fn authenticate(
    app: &App,
    headers: &HeaderMap,
) -> Result<Arc<KeyIdentity>, GatewayError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or(KeyAuthError::Missing)?;
    // Not visible ASCII: no key of ours.
    let value = header.to_str().map_err(|_| KeyAuthError::Unknown)?;
    let key = match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => return Err(KeyAuthError::Missing.into()),
    };
    Ok(app.keys.authenticate(key).await?)
}

/// The key of a gateway request, as an extractor (for endpoints without a body to check first).
pub struct GatewayKey(pub Arc<KeyIdentity>);

impl FromRequestParts<Arc<App>> for GatewayKey {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, GatewayError> {
        Ok(Self(authenticate(app, &parts.headers).await?))
    }
}
