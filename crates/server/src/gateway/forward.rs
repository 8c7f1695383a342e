//! Forwarding an admitted request: the body as sent with the upstream's model name, the
//! upstream's answer passed back (a whole JSON answer here, a stream in `stream.rs`), and one
//! usage record however it ends.

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tollgate_domain::catalog::Upstream;

use crate::app::App;
use crate::gateway::admission::Admitted;
use crate::gateway::record::{generated_bytes, record, Ending, Seen, Tokens};
use crate::gateway::upstream::{Answer, UpstreamError};
use crate::gateway::{stream, GatewayError};

/// Largest whole answer accepted from an upstream.
const MAX_ANSWER_BYTES: usize = 32 << 20;
/// Largest error body read from an upstream.
const MAX_ERROR_BYTES: usize = 64 << 10;

pub async fn forward(app: Arc<App>, mut admitted: Admitted) -> Response {
    let (body, rename) = upstream_body(&mut admitted);
    let sent = app
        .upstreams
        .send(
            &admitted.model,
            &admitted.upstream,
            admitted.request.endpoint,
            body,
        )
        .await;
    let mut answer = match sent {
        Ok(a) => a,
        Err(e) => {
            let (ending, error) = failure(e);
            record(&app, admitted, ending, Seen::default());
            return error.into_response();
        }
    };
    if !answer.status.is_success() {
        let response = refusal(&mut answer).await;
        record(&app, admitted, Ending::UpstreamError, Seen::default());
        return response;
    }
    if admitted.request.stream {
        return stream::relay(app, admitted, answer, rename);
    }
    let raw = match answer.read_all(MAX_ANSWER_BYTES).await {
        Ok(raw) => raw,
        Err(e) => {
            let (ending, error) = failure(e);
            record(&app, admitted, ending, Seen::default());
            return error.into_response();
        }
    };
    drop(answer);
    let Ok(mut value) = serde_json::from_slice::<Value>(&raw) else {
        record(&app, admitted, Ending::UpstreamError, Seen::default());
        return GatewayError::bad_gateway("The model's server sent an answer that is not JSON.")
            .into_response();
    };
    let seen = Seen {
        usage: value.get("usage").and_then(Tokens::from_usage),
        delivered_bytes: generated_bytes(&value),
        ttft_ms: None,
    };
    let body = match &rename {
        Some(model) => {
            value["model"] = json!(model);
            value.to_string().into_bytes()
        }
        None => raw,
    };
    record(&app, admitted, Ending::Ok, seen);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The body for the upstream: as the client sent it, with the upstream's model name and, for
/// a stream, usage asked for. Also the catalog id to put back into answers when the upstream
/// names the model differently.
fn upstream_body(admitted: &mut Admitted) -> (Map<String, Value>, Option<String>) {
    let mut body = std::mem::take(&mut admitted.request.body);
    let rename = match &admitted.upstream {
        Upstream::Http(h) => h.model.clone().filter(|m| *m != admitted.model),
        Upstream::Mock => None,
    };
    if let Some(name) = &rename {
        body.insert("model".into(), json!(name));
    }
    if admitted.request.stream {
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        if !options.is_object() {
            *options = json!({});
        }
        options["include_usage"] = json!(true);
    }
    (body, rename.map(|_| admitted.model.clone()))
}

/// How a failed attempt ends, and what the client is told.
pub fn failure(e: UpstreamError) -> (Ending, GatewayError) {
    tracing::warn!(error = %e, "upstream failed");
    match e {
        UpstreamError::Unreachable(_) => (
            Ending::UpstreamUnavailable,
            GatewayError::unavailable(
                "upstream_unavailable",
                "The model's server cannot be reached right now; try again shortly.",
            ),
        ),
        UpstreamError::Timeout => (
            Ending::UpstreamTimeout,
            GatewayError::gateway_timeout("The model's server did not answer in time."),
        ),
        UpstreamError::Failed(_) => (
            Ending::UpstreamError,
            GatewayError::bad_gateway("The model's server failed to answer."),
        ),
    }
}

/// An upstream's error status, for the client: a refusal of the request itself (400, 404,
/// 413, 422 in OpenAI's shape) is passed on as it came; 429 becomes 503 and anything else 502,
/// since it is not the client's doing (an upstream's 401 means the gateway's key is wrong).
async fn refusal(answer: &mut Answer) -> Response {
    let status = answer.status;
    let body = answer.read_all(MAX_ERROR_BYTES).await.unwrap_or_default();
    let openai_shaped = serde_json::from_slice::<Value>(&body)
        .is_ok_and(|v| v.get("error").is_some_and(Value::is_object));
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::NOT_FOUND
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY
            if openai_shaped =>
        {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        StatusCode::TOO_MANY_REQUESTS => GatewayError::unavailable(
            "upstream_busy",
            "The model's server is busy; try again shortly.",
        )
        .into_response(),
        other => GatewayError::bad_gateway(format!(
            "The model's server answered with status {}.",
            other.as_u16()
        ))
        .into_response(),
    }
}
