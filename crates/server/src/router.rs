use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::console::page::error_page;
use crate::service::stripe_events::BillingWebhooks;
use crate::{api, changes, connections, console, gateway, health, metrics, payments};

/// Every surface of the server in one router.
pub fn router(app: Arc<App>) -> Router {
    let (api, _doc) = api::router(&app);
    let mut router = Router::new();
    if let Some(secret) = app.payments.stripe_webhook_secret() {
        router = router.merge(payments::stripe_webhook_routes(
            secret,
            app.clock.clone(),
            Arc::new(BillingWebhooks(app.clone())),
        ));
    }
    router
        .merge(console::router().layer(axum::middleware::map_response(console::no_store)))
        .merge(api)
        .merge(gateway::router(&app))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::scrape))
        .fallback(fallback)
        .layer(from_fn_with_state(app.clone(), reject_undecodable_paths))
        .layer(from_fn_with_state(app.clone(), metrics::track))
        .layer(from_fn(security_headers))
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Unknown paths: a JSON error under `/api/`, an OpenAI-shaped one under `/v1/`, a page
/// elsewhere.
async fn fallback(State(app): State<Arc<App>>, request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") {
        api::not_found().await.into_response()
    } else if path.starts_with("/v1/") || path == "/v1" {
        gateway::GatewayError::not_found().into_response()
    } else {
        error_page(&app, StatusCode::NOT_FOUND, "")
    }
}

/// A path whose percent-escapes do not decode to UTF-8 names nothing here. It is answered
/// before routing, in the surface's own error shape: axum's `Path` would answer text/plain.
async fn reject_undecodable_paths(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if decodes_to_utf8(path) {
        return next.run(request).await;
    }
    let message = "The URL's path is not valid UTF-8 once percent-decoded.";
    if path.starts_with("/api/") {
        api::error::ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", message).into_response()
    } else if path.starts_with("/v1/") {
        gateway::GatewayError {
            status: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
            kind: "invalid_request_error",
            code: Some("invalid_url"),
            param: None,
            rate_limited: None,
        }
        .into_response()
    } else {
        error_page(&app, StatusCode::BAD_REQUEST, message)
    }
}

/// Percent-decodes `path` as axum does (a `%` not followed by two hex digits stays as it is)
/// and tells whether the result is UTF-8.
fn decodes_to_utf8(path: &str) -> bool {
    if !path.contains('%') {
        return true;
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi * 16 + lo),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    response
}

/// Serves until `shutdown` resolves, following the change log meanwhile (see `changes`).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let follower = tokio::spawn(changes::follow(app.clone()));
    let limits = crate::limits::spawn(app.clone());
    let connection_limits = app.config.connections.clone();
    let served =
        connections::serve(listener, router(app.clone()), connection_limits, shutdown).await;
    follower.abort();
    limits.abort();
    // What this process leased and did not spend goes back for the others.
    app.limits.give_back_all().await;
    served
}

#[cfg(test)]
mod tests {
    use super::decodes_to_utf8;

    #[test]
    fn paths_decode_like_axum() {
        for ok in [
            "/",
            "/api/v1/orgs/org_1",
            "/a%20b",
            "/caf%C3%A9",
            "/100%",
            "/%zz",
            "/%4",
        ] {
            assert!(decodes_to_utf8(ok), "{ok}");
        }
        for bad in ["/api/v1/orgs/%ff", "/%C3", "/x/%c3%28"] {
            assert!(!decodes_to_utf8(bad), "{bad}");
        }
    }
}
