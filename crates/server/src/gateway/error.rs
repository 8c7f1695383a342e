//! The gateway's errors, in OpenAI's shape — `{"error": {"message", "type", "code", "param"}}` —
//! so that the official SDKs raise their usual exceptions.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::keys::KeyAuthError;

#[derive(Debug)]
pub struct GatewayError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
}

impl GatewayError {
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "There is no such endpoint under /v1.".to_owned(),
            kind: "invalid_request_error",
            code: Some("unknown_url"),
            param: None,
        }
    }
}

impl From<KeyAuthError> for GatewayError {
    fn from(e: KeyAuthError) -> Self {
        match e {
            KeyAuthError::Store(_) | KeyAuthError::CorruptDigest(_) => {
                tracing::error!(error = ?e, "key authentication failed");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "The service cannot check API keys right now; try again shortly."
                        .to_owned(),
                    kind: "server_error",
                    code: Some("service_unavailable"),
                    param: None,
                }
            }
            other => {
                let mut message = other.to_string();
                if let Some(first) = message.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                Self {
                    status: StatusCode::UNAUTHORIZED,
                    message: format!("{message}."),
                    kind: "invalid_request_error",
                    code: Some("invalid_api_key"),
                    param: None,
                }
            }
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {
                "message": self.message,
                "type": self.kind,
                "code": self.code,
                "param": self.param,
            }})),
        )
            .into_response()
    }
}
