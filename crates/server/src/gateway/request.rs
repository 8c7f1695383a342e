//! A chat or text completion request as a program sends it: read whole (413 past the limit),
//! checked for what the gateway itself needs — `model`, `messages` or `prompt`, `stream`,
//! `max_tokens` — in OpenAI's error shape, and otherwise kept as it came, so that fields the
//! gateway does not know (tools, response_format, logprobs, seed, …) reach the upstream as sent.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::gateway::tokens;
use crate::gateway::GatewayError;

/// The two inference endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
}

impl Endpoint {
    /// The path under an upstream's base URL (which ends in `/v1`).
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "/chat/completions",
            Self::Completions => "/completions",
        }
    }
}

/// The raw body; a body over the gateway's limit answers 413 in OpenAI's shape.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &S) -> Result<Self, GatewayError> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    GatewayError::too_large()
                } else {
                    GatewayError::invalid_request(
                        format!(
                            "The request body could not be read: {}",
                            rejection.body_text()
                        ),
                        None,
                    )
                }
            })
    }
}

/// Most completions one request may ask for (`n`, `best_of`): each is generated, and billed.
const MAX_CHOICES: u64 = 128;

/// A checked request.
#[derive(Debug)]
pub struct InferenceRequest {
    pub endpoint: Endpoint,
    /// The body as sent; only `model` and `stream_options` are changed on the way up.
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    /// The client asked for the usage chunk at the end of a stream.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`: the most output tokens per choice.
    pub max_output: Option<u64>,
    /// Completions generated (`n`, or `best_of` for text completions when larger).
    pub choices: u64,
    /// Input tokens estimated from the prompt (see `tokens`).
    pub input_tokens: u64,
}

impl InferenceRequest {
    pub fn parse(endpoint: Endpoint, raw: &[u8]) -> Result<Self, GatewayError> {
        let value: Value = serde_json::from_slice(raw).map_err(|e| {
            GatewayError::invalid_request(
                format!("We could not parse the JSON body of your request: {e}."),
                None,
            )
        })?;
        let Value::Object(body) = value else {
            return Err(GatewayError::invalid_request(
                "The request body must be a JSON object.",
                None,
            ));
        };
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            None | Some(Value::Null) => {
                return Err(GatewayError::invalid_request(
                    "You must provide a model parameter.",
                    Some("model"),
                ))
            }
            Some(_) => {
                return Err(GatewayError::invalid_request(
                    "`model` must be a non-empty string.",
                    Some("model"),
                ))
            }
        };
        let input_tokens = match endpoint {
            Endpoint::Chat => {
                check_messages(body.get("messages"))?;
                tokens::chat_input(&body)
            }
            Endpoint::Completions => tokens::prompt_input(body.get("prompt"))?,
        };
        let stream = flag(&body, "stream")?;
        let include_usage = match body.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => flag(o, "include_usage")?,
            Some(_) => {
                return Err(GatewayError::invalid_request(
                    "`stream_options` must be an object.",
                    Some("stream_options"),
                ))
            }
        };
        let max_output = match count(&body, "max_completion_tokens", u64::MAX)? {
            Some(n) => Some(n),
            None => count(&body, "max_tokens", u64::MAX)?,
        };
        let n = count(&body, "n", MAX_CHOICES)?.unwrap_or(1);
        let best_of = match endpoint {
            Endpoint::Completions => count(&body, "best_of", MAX_CHOICES)?.unwrap_or(1),
            Endpoint::Chat => 1,
        };
        Ok(Self {
            endpoint,
            model,
            stream,
            include_usage,
            max_output,
            choices: n.max(best_of),
            input_tokens,
            body,
        })
    }
}

/// `messages`: a non-empty list of objects, each with a string `role`.
fn check_messages(messages: Option<&Value>) -> Result<(), GatewayError> {
    let bad = |message: &str| Err(GatewayError::invalid_request(message, Some("messages")));
    match messages {
        None | Some(Value::Null) => bad("You must provide a messages parameter."),
        Some(Value::Array(list)) if list.is_empty() => bad("`messages` must not be empty."),
        Some(Value::Array(list)) => {
            for m in list {
                match m.get("role") {
                    Some(Value::String(_)) if m.is_object() => {}
                    _ => return bad("Each message must be an object with a string `role`."),
                }
            }
            Ok(())
        }
        Some(_) => bad("`messages` must be a list of messages."),
    }
}

/// An optional boolean field (absent or null: false).
fn flag(body: &Map<String, Value>, field: &'static str) -> Result<bool, GatewayError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(GatewayError::invalid_request(
            format!("`{field}` must be true or false."),
            Some(field),
        )),
    }
}

/// An optional whole number from 1 to `max`.
fn count(
    body: &Map<String, Value>,
    field: &'static str,
    max: u64,
) -> Result<Option<u64>, GatewayError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(GatewayError::invalid_request(
                format!("`{field}` must be a whole number from 1 to {max}."),
                Some(field),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(endpoint: Endpoint, body: &str) -> GatewayError {
        InferenceRequest::parse(endpoint, body.as_bytes()).expect_err(body)
    }

    #[test]
    fn bad_bodies_name_the_parameter_at_fault() {
        use Endpoint::*;
        for (endpoint, body, param) in [
            (Chat, "{", None),
            (Chat, "[1]", None),
            (
                Chat,
                r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
                Some("model"),
            ),
            (Chat, r#"{"model": 3, "messages": []}"#, Some("model")),
            (Chat, r#"{"model": "m"}"#, Some("messages")),
            (Chat, r#"{"model": "m", "messages": []}"#, Some("messages")),
            (
                Chat,
                r#"{"model": "m", "messages": "hi"}"#,
                Some("messages"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"content": "hi"}]}"#,
                Some("messages"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"role": "user"}], "stream": "yes"}"#,
                Some("stream"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"role": "user"}], "max_tokens": -1}"#,
                Some("max_tokens"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"role": "user"}], "max_tokens": 1.5}"#,
                Some("max_tokens"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"role": "user"}], "max_completion_tokens": 0}"#,
                Some("max_completion_tokens"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"role": "user"}], "n": 1000}"#,
                Some("n"),
            ),
            (
                Chat,
                r#"{"model": "m", "messages": [{"role": "user"}], "stream_options": 1}"#,
                Some("stream_options"),
            ),
            (Completions, r#"{"model": "m"}"#, Some("prompt")),
            (
                Completions,
                r#"{"model": "m", "prompt": 7}"#,
                Some("prompt"),
            ),
            (
                Completions,
                r#"{"model": "m", "prompt": [1, "a"]}"#,
                Some("prompt"),
            ),
        ] {
            let e = refused(endpoint, body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.kind, "invalid_request_error", "{body}");
            assert_eq!(e.param, param, "{body}: {}", e.message);
        }
    }

    #[test]
    fn a_good_body_is_kept_whole() {
        let r = InferenceRequest::parse(
            Endpoint::Chat,
            br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 7,
                "tools": [], "max_tokens": 10, "max_completion_tokens": 20, "n": 2,
                "stream": true, "stream_options": {"include_usage": true}}"#,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_output, Some(20), "max_completion_tokens wins");
        assert_eq!(r.choices, 2);
        assert_eq!(r.body["seed"], 7);
        assert!(r.input_tokens > 0);
    }
}
