//! The gateway's errors, in OpenAI's shape — `{"error": {"message", "type", "code", "param"}}` —
//! so that the official SDKs raise their usual exceptions.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tollgate_domain::limits::spend::SpendScope;
use tollgate_domain::Money;

use crate::keys::KeyAuthError;
use crate::limits::RateLimited;

#[derive(Debug)]
pub struct GatewayError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
    /// A rate-limit refusal answers with its own headers (`Retry-After`, `x-ratelimit-*`).
    pub rate_limited: Option<Box<RateLimited>>,
}

impl GatewayError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: String,
    ) -> Self {
        Self {
            status,
            message,
            kind,
            code,
            param: None,
            rate_limited: None,
        }
    }

    fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// 400: the body is not what the endpoint takes; `param` names the field at fault.
    pub fn invalid_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        let e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message.into(),
        );
        match param {
            Some(p) => e.with_param(p),
            None => e,
        }
    }

    pub fn context_length_exceeded(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("context_length_exceeded"),
            message,
        )
        .with_param("messages")
    }

    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            Some("request_too_large"),
            "The request body is larger than this server accepts.".to_owned(),
        )
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_param("model")
    }

    pub fn model_not_allowed(model: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("model_not_allowed"),
            format!("The model `{model}` is not enabled for this API key's project."),
        )
        .with_param("model")
    }

    pub fn insufficient_quota() -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            Some("insufficient_quota"),
            "Your organization does not have enough credit for this request: add credits \
             under Billing, or lower max_tokens."
                .to_owned(),
        )
    }

    /// 402 `spend_limit_reached`: the request could cost more than what is left of a monthly
    /// spend limit (the organization's, the project's or the key's). Not a 429: waiting does
    /// not help before the next month or a higher limit, so clients must not retry.
    pub fn spend_limit_reached(scope: SpendScope, available: Money) -> Self {
        let whose = match scope {
            SpendScope::Organization => "your organization's",
            SpendScope::Project => "this project's",
            SpendScope::ApiKey => "this API key's",
        };
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            Some("spend_limit_reached"),
            format!(
                "This request could exceed {whose} monthly spend limit (${} left this month): \
                 an admin can raise the limit, or lower max_tokens.",
                available.to_usd_string()
            ),
        )
    }

    /// 503: something the gateway needs (the database, every replica of the upstream) cannot
    /// be reached right now.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some(code),
            message.into(),
        )
    }

    /// 502: the upstream answered, but not with something the gateway can pass on.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "server_error",
            Some("upstream_error"),
            message.into(),
        )
    }

    /// 504: the upstream did not answer in time.
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            Some("upstream_timeout"),
            message.into(),
        )
    }

    /// The body of this error, as an SSE event carries it once a stream has begun.
    pub fn json(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "param": self.param,
        }})
    }

    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "There is no such endpoint under /v1.".to_owned(),
            kind: "invalid_request_error",
            code: Some("unknown_url"),
            param: None,
            rate_limited: None,
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
                    rate_limited: None,
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
                    rate_limited: None,
                }
            }
        }
    }
}

impl From<RateLimited> for GatewayError {
    fn from(r: RateLimited) -> Self {
        let kind = match r.dimension.unit {
            tollgate_domain::limits::Unit::Requests => "requests",
            tollgate_domain::limits::Unit::Tokens => "tokens",
        };
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: r.message(),
            kind,
            code: Some("rate_limit_exceeded"),
            param: None,
            rate_limited: Some(Box::new(r)),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        if let Some(r) = self.rate_limited {
            return r.into_response();
        }
        (self.status, Json(self.json())).into_response()
    }
}
