//! Prometheus metrics: HTTP requests by route and status, request latency, database pool,
//! email deliveries.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::app::App;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EmailFailureLabels {
    /// `retry` or `gave_up`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    emails_sent: Counter,
    email_failures: Family<EmailFailureLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        let (pool_size, pool_idle, pool_max) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "Most database connections the pool opens",
            pool_max.clone(),
        );
        let emails_sent = Counter::default();
        let email_failures = Family::<EmailFailureLabels, Counter>::default();
        registry.register("emails_sent", "Emails delivered", emails_sent.clone());
        registry.register(
            "email_delivery_failures",
            "Failed email deliveries, by whether they will be retried",
            email_failures.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            pool_size,
            pool_idle,
            pool_max,
            emails_sent,
            email_failures,
        }
    }

    pub(crate) fn email_sent(&self) {
        self.emails_sent.inc();
    }

    pub(crate) fn email_failed(&self, gave_up: bool) {
        let outcome = if gave_up { "gave_up" } else { "retry" };
        self.email_failures
            .get_or_create(&EmailFailureLabels { outcome })
            .inc();
    }

    fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.as_u16(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        match self.registry.lock() {
            Ok(registry) => encode(&mut out, &registry)?,
            Err(poisoned) => encode(&mut out, &poisoned.into_inner())?,
        }
        Ok(out)
    }
}

/// Counts and times every request under the route template it matched (`/api/v1/orgs/{org}`),
/// so that ids do not explode the label space.
pub async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    app.metrics.observe(
        &method,
        &route,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics` in the Prometheus text format.
pub async fn scrape(State(app): State<Arc<App>>) -> Response {
    let stats = app.store.pool_stats();
    app.metrics.pool_size.set(i64::from(stats.size));
    app.metrics.pool_idle.set(i64::from(stats.idle));
    app.metrics.pool_max.set(i64::from(stats.max));
    match app.metrics.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
