//! `GET /healthz`: 200 when the database answers, 503 when it does not.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;

pub async fn healthz(State(app): State<Arc<App>>) -> (StatusCode, Json<Value>) {
    match app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": app.store.engine().as_str()})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "database": app.store.engine().as_str(), "error": "database unreachable"}),
                ),
            )
        }
    }
}
