use std::future::Future;
use std::net::SocketAddr;
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
use crate::service::stripe_events::BillingWebhooks;
use crate::{api, changes, console, gateway, health, metrics, payments};

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
        .merge(console::router())
        .merge(api)
        .merge(gateway::router())
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::scrape))
        .fallback(fallback)
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
        app.error_page(StatusCode::NOT_FOUND, "")
    }
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
    let served = axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    follower.abort();
    limits.abort();
    // What this process leased and did not spend goes back for the others.
    app.limits.give_back_all().await;
    served
}
