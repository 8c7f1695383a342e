//! `POST /api/v1/usage`: usage reported by external inference servers, with an operator token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::ApiJson;
use crate::app::App;
use crate::service::usage::UsageReport;
use crate::service::ServiceError;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// `{"id","key_id","model","input_tokens","cached_input_tokens","output_tokens","timestamp"}`
    /// each; `cached_input_tokens` is the part of `input_tokens` served from cache; `timestamp`
    /// is unix seconds or RFC 3339. A record id seen before changes nothing.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
}

/// Record usage (operator token: `Authorization: Bearer tgop_…`). Each record is priced from
/// the catalog at the price in force and debited once; bad records are rejected one by one.
#[utoipa::path(post, path = "/api/v1/usage", tag = "usage",
    request_body = UsageBatch,
    responses(
        (status = 200, body = UsageReport),
        (status = 401, description = "Missing or unknown operator token", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn report(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiJson(batch): ApiJson<UsageBatch>,
) -> ApiResult<Json<UsageReport>> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ServiceError::Unauthenticated)?;
    app.operator(token.trim()).await?;
    Ok(Json(app.report_usage(batch.records).await?))
}
