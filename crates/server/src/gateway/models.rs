//! `GET /v1/models`: the catalog's models in OpenAI's list format.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;
use crate::gateway::GatewayKey;

pub async fn list(State(app): State<Arc<App>>, GatewayKey(_key): GatewayKey) -> Json<Value> {
    let catalog = app.catalog.current();
    let data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}
