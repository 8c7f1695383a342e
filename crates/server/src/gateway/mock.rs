//! The built-in mock model: deterministic text, real `usage`, streaming in chunks. The gateway
//! calls it in process for the catalog's `upstream = "mock"`; `tollgate mock-upstream` serves
//! the same answers over HTTP (`router`) for benchmarks and for tests of the real HTTP path.
//!
//! Its tokenizer is the whitespace: a prompt's tokens are the words of its messages' text (plus
//! one per message), and it writes `max_completion_tokens` / `max_tokens` words (16 when
//! neither is given, finishing with `stop`). A request may steer it with a `"mock"` object,
//! which real servers would not see: `{"status": 500}` fails, `{"hang_ms": N}` waits before
//! answering, `{"chunk_delay_ms": N}` between stream chunks, `{"no_usage": true}` leaves
//! `usage` out, `{"cached_tokens": N}` reports N prompt tokens as cached, `{"echo": true}`
//! returns the request as received (under `echo`, whole answers only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::gateway::request::Endpoint;
use crate::gateway::sse;

const WORDS: &[&str] = &[
    "the", "gateway", "answers", "every", "request", "with", "tokens", "counted", "once", "and",
    "billed", "exactly", "from", "credit", "that", "was", "reserved", "before", "it", "reached",
    "a", "model", "which", "wrote", "these", "words", "for", "you", "in", "order", "of", "arrival",
];
/// Words generated when the request sets no maximum.
const DEFAULT_WORDS: u64 = 16;
/// Most words the mock writes, whatever is asked: it stays fast and bounded.
const MAX_WORDS: u64 = 100_000;
const WORDS_PER_CHUNK: usize = 4;
/// Longest wait a request may ask of the mock.
const MAX_DELAY_MS: u64 = 600_000;

/// What the mock answers to one request: a status, and the body in the pieces a stream sends.
pub struct MockAnswer {
    pub status: StatusCode,
    /// Wait before the answer's headers.
    pub hang: Duration,
    /// Wait before each piece after the first.
    pub chunk_delay: Duration,
    pub stream: bool,
    pub pieces: Vec<Bytes>,
}

fn steering<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    body.get("mock").and_then(|m| m.get(field))
}

fn millis(body: &Map<String, Value>, field: &str) -> Duration {
    Duration::from_millis(
        steering(body, field)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(MAX_DELAY_MS),
    )
}

fn words_in(v: &Value) -> u64 {
    match v {
        Value::String(s) => u64::try_from(s.split_whitespace().count()).unwrap_or(u64::MAX),
        Value::Array(items) => items.iter().map(words_in).sum(),
        Value::Object(o) => o.get("text").map_or(0, words_in),
        Value::Number(_) => 1,
        _ => 0,
    }
}

fn prompt_tokens(endpoint: Endpoint, body: &Map<String, Value>) -> u64 {
    match endpoint {
        Endpoint::Chat => body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(0, |ms| {
                ms.iter()
                    .map(|m| 1 + m.get("content").map_or(0, words_in))
                    .sum()
            }),
        Endpoint::Completions => body.get("prompt").map_or(0, words_in),
    }
}

/// FNV-1a of the prompt: the same prompt always gets the same words.
fn seed(body: &Map<String, Value>) -> u64 {
    let text = body
        .get("messages")
        .or_else(|| body.get("prompt"))
        .map(Value::to_string)
        .unwrap_or_default();
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn error(status: StatusCode, message: &str) -> Value {
    json!({"error": {"message": message, "type": "server_error", "code": status.as_u16(),
                     "param": null}})
}

/// The mock's answer to a request for `endpoint` with `body`.
pub fn answer(endpoint: Endpoint, body: &Map<String, Value>) -> MockAnswer {
    let hang = millis(body, "hang_ms");
    let chunk_delay = millis(body, "chunk_delay_ms");
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if let Some(status) = steering(body, "status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| !s.is_success())
    {
        return MockAnswer {
            status,
            hang,
            chunk_delay,
            stream: false,
            pieces: vec![Bytes::from(
                error(status, "the mock was asked to fail").to_string(),
            )],
        };
    }
    let limit = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64);
    let (count, finish) = match limit {
        Some(n) => (n.min(MAX_WORDS), "length"),
        None => (DEFAULT_WORDS, "stop"),
    };
    let seed = seed(body);
    let words: Vec<&str> = (0..count)
        .map(|i| {
            let at = seed.wrapping_add(i.wrapping_mul(7919)) % 32;
            WORDS[usize::try_from(at).unwrap_or(0) % WORDS.len()]
        })
        .collect();
    let prompt = prompt_tokens(endpoint, body);
    let cached = steering(body, "cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(prompt);
    let usage = (!steering(body, "no_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false))
    .then(|| {
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": count,
            "total_tokens": prompt + count,
            "prompt_tokens_details": {"cached_tokens": cached},
        })
    });
    let model = body.get("model").cloned().unwrap_or(Value::Null);
    let id = format!("mock-{seed:016x}");
    let created = 1_700_000_000;
    let pieces = if stream {
        let include_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        stream_pieces(
            endpoint,
            &id,
            &model,
            &words,
            finish,
            usage.filter(|_| include_usage),
        )
    } else {
        let text = words.join(" ");
        let mut answer = match endpoint {
            Endpoint::Chat => json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": null, "finish_reason": finish}],
            }),
            Endpoint::Completions => json!({
                "id": id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}],
            }),
        };
        if let Some(u) = usage {
            answer["usage"] = u;
        }
        if steering(body, "echo").and_then(Value::as_bool) == Some(true) {
            answer["echo"] = Value::Object(body.clone());
        }
        vec![Bytes::from(answer.to_string())]
    };
    MockAnswer {
        status: StatusCode::OK,
        hang,
        chunk_delay,
        stream,
        pieces,
    }
}

fn stream_pieces(
    endpoint: Endpoint,
    id: &str,
    model: &Value,
    words: &[&str],
    finish: &str,
    usage: Option<Value>,
) -> Vec<Bytes> {
    let created = 1_700_000_000;
    let chunk = |choices: Value| match endpoint {
        Endpoint::Chat => json!({"id": id, "object": "chat.completion.chunk", "created": created,
                                 "model": model, "choices": choices}),
        Endpoint::Completions => json!({"id": id, "object": "text_completion", "created": created,
                                        "model": model, "choices": choices}),
    };
    let piece = |delta: &str, finish: Option<&str>| match endpoint {
        Endpoint::Chat => chunk(json!([{"index": 0, "delta": {"content": delta},
                                        "logprobs": null, "finish_reason": finish}])),
        Endpoint::Completions => chunk(json!([{"index": 0, "text": delta, "logprobs": null,
                                               "finish_reason": finish}])),
    };
    let event = |v: Value| sse::data_event(v.to_string().as_bytes());
    let mut pieces = Vec::with_capacity(words.len() / WORDS_PER_CHUNK + 4);
    if endpoint == Endpoint::Chat {
        pieces.push(event(chunk(json!([{"index": 0,
            "delta": {"role": "assistant", "content": ""}, "logprobs": null,
            "finish_reason": null}]))));
    }
    for (i, group) in words.chunks(WORDS_PER_CHUNK).enumerate() {
        let mut text = group.join(" ");
        if i > 0 {
            text.insert(0, ' ');
        }
        pieces.push(event(piece(&text, None)));
    }
    pieces.push(event(piece("", Some(finish))));
    if let Some(u) = usage {
        let mut last = chunk(json!([]));
        last["usage"] = u;
        pieces.push(event(last));
    }
    pieces.push(sse::data_event(sse::DONE));
    pieces
}

/// Counts of what the standalone mock served, for tests (`GET /mock/stats`).
#[derive(Default)]
pub struct MockStats {
    pub requests: AtomicU64,
    /// Streams whose client went away before the end.
    pub cut_streams: AtomicU64,
}

/// The mock as an OpenAI-compatible server: `POST /v1/chat/completions`, `/v1/completions`,
/// `GET /v1/models`, and `GET /mock/stats`.
pub fn router(stats: Arc<MockStats>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/mock/stats", get(stats_json))
        .with_state(stats)
}

async fn chat(State(stats): State<Arc<MockStats>>, body: Bytes) -> Response {
    serve(stats, Endpoint::Chat, &body).await
}

async fn completions(State(stats): State<Arc<MockStats>>, body: Bytes) -> Response {
    serve(stats, Endpoint::Completions, &body).await
}

async fn models() -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": "mock", "object": "model", "created": 0,
                                            "owned_by": "tollgate"}]}),
    )
}

async fn stats_json(State(stats): State<Arc<MockStats>>) -> Json<Value> {
    Json(json!({
        "requests": stats.requests.load(Ordering::Relaxed),
        "cut_streams": stats.cut_streams.load(Ordering::Relaxed),
    }))
}

async fn serve(stats: Arc<MockStats>, endpoint: Endpoint, raw: &[u8]) -> Response {
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(raw) else {
        let e = error(StatusCode::BAD_REQUEST, "the body is not a JSON object");
        return (StatusCode::BAD_REQUEST, Json(e)).into_response();
    };
    let answer = answer(endpoint, &body);
    if !answer.hang.is_zero() {
        tokio::time::sleep(answer.hang).await;
    }
    if !answer.stream {
        let body = answer.pieces.into_iter().next().unwrap_or_default();
        return (
            answer.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    let (tx, body) = sse::body_channel(4);
    tokio::spawn(async move {
        for (i, piece) in answer.pieces.into_iter().enumerate() {
            if i > 0 && !answer.chunk_delay.is_zero() {
                tokio::time::sleep(answer.chunk_delay).await;
            }
            if tx.send(piece).await.is_err() {
                stats.cut_streams.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_mock_is_deterministic_and_counts_what_it_writes() {
        let req = body(json!({"model": "m", "max_tokens": 5,
                              "messages": [{"role": "user", "content": "hello there"}]}));
        let a = answer(Endpoint::Chat, &req);
        let b = answer(Endpoint::Chat, &req);
        assert_eq!(a.pieces, b.pieces);
        let v: Value = serde_json::from_slice(&a.pieces[0]).unwrap();
        let text = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(text.split(' ').count(), 5);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn streams_carry_usage_only_when_asked() {
        let mut req = body(json!({"model": "m", "prompt": "one two", "stream": true}));
        let plain = answer(Endpoint::Completions, &req);
        assert!(plain.stream);
        let text = |a: &MockAnswer| {
            a.pieces
                .iter()
                .map(|p| String::from_utf8(p.to_vec()).unwrap())
                .collect::<String>()
        };
        assert!(!text(&plain).contains("usage"));
        assert!(text(&plain).ends_with("data: [DONE]\n\n"));
        req.insert("stream_options".into(), json!({"include_usage": true}));
        let with = answer(Endpoint::Completions, &req);
        assert!(text(&with).contains("\"completion_tokens\":16"));
        req.insert("mock".into(), json!({"status": 503}));
        assert_eq!(answer(Endpoint::Completions, &req).status, 503);
    }
}
