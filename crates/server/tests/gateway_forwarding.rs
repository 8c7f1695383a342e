#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The gateway end to end over real HTTP, against mock upstreams on loopback ports: answers
//! whole and streamed (usage chunk only when asked), a client hanging up mid-stream, an
//! upstream failing or hanging, a replica down — each request metered once. Both engines.

mod common;
mod gateway_common;

use std::time::Duration;

use gateway_common::*;
use serde_json::{json, Value};
use tollgate_store::{on_both_engines, Engine};

/// Reads a stream to its end: the JSON of each event and whether `[DONE]` came.
async fn read_stream(r: reqwest::Response) -> (Vec<Value>, bool) {
    let text = r.text().await.unwrap();
    let mut events = Vec::new();
    let mut done = false;
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let data = event.strip_prefix("data: ").expect("a data event");
        if data == "[DONE]" {
            done = true;
        } else {
            assert!(!done, "nothing after [DONE]");
            events.push(serde_json::from_str(data).unwrap());
        }
    }
    (events, done)
}

fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

async fn whole_answers_are_passed_through_and_metered(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;
    let mut body = hello(UP);
    body["seed"] = json!(7);
    body["tools"] = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    body["mock"] = json!({"echo": true, "cached_tokens": 2});
    let (s, answer, id) = g.chat(body).await;
    assert_eq!(s, 200, "{answer}");
    assert!(id.starts_with("req_"));
    assert_eq!(
        answer["model"], UP,
        "the catalog's id, not the upstream's name"
    );
    let echo = &answer["echo"];
    assert_eq!(echo["model"], "served/name", "the upstream's name went up");
    assert_eq!(echo["seed"], 7, "unknown fields pass untouched");
    assert_eq!(echo["tools"][0]["function"]["name"], "f");
    assert!(echo.get("stream_options").is_none());
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text.split(' ').count(), 5);
    // The mock counts words: 5 in the message and one for it.
    assert_eq!(answer["usage"]["prompt_tokens"], 6);

    let r = g.usage(&id).await;
    assert_eq!(
        (r.model.as_str(), r.plan, r.status.as_str()),
        (UP, "payg", "ok")
    );
    assert_eq!(
        (r.input_tokens, r.cached_input_tokens, r.output_tokens),
        (6, 2, 5)
    );
    assert!(!r.estimated);
    assert_eq!(r.key_id.as_str(), g.key_id);
    // 4 uncached input at 1 µUSD, 2 cached at 1 µUSD (cached defaults to input), 5 output at 2.
    assert_eq!(r.cost.rounded().micros(), 6 + 10);
    assert_eq!(g.balance().await, CREDIT - 16);

    // Text completions, on the built-in mock.
    let r = g
        .post(
            "/v1/completions",
            &json!({"model": LOCAL, "prompt": "one two three", "max_tokens": 3}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["usage"]["completion_tokens"], 3);
    let rec = g.usage(&id).await;
    assert_eq!(
        (
            rec.input_tokens,
            rec.output_tokens,
            rec.cost.rounded().micros()
        ),
        (3, 3, 9)
    );
    assert_eq!(up.requests(), 1, "the built-in mock needs no HTTP");
}

async fn streams_carry_the_usage_chunk_only_when_asked(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;
    let mut body = hello(UP);
    body["stream"] = json!(true);
    body["max_tokens"] = json!(10);

    let r = g.post("/v1/chat/completions", &body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let plain_id = request_id(&r);
    let (events, done) = read_stream(r).await;
    assert!(done);
    assert!(events.iter().all(|e| e.get("usage").is_none()), "not asked");
    assert!(events.iter().all(|e| e["model"] == UP));
    assert_eq!(streamed_text(&events).split(' ').count(), 10);

    body["stream_options"] = json!({"include_usage": true});
    let r = g.post("/v1/chat/completions", &body).send().await.unwrap();
    let asked_id = request_id(&r);
    let (events, done) = read_stream(r).await;
    assert!(done);
    let last = events.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 10);

    for id in [plain_id, asked_id] {
        let r = g.usage(&id).await;
        assert_eq!(
            (r.status.as_str(), r.input_tokens, r.output_tokens),
            ("ok", 6, 10)
        );
        assert!(
            !r.estimated,
            "the gateway asked the upstream for usage either way"
        );
        assert!(r.ttft_ms.is_some());
        assert_eq!(r.cost.rounded().micros(), 6 + 20);
    }
    assert_eq!(g.balance().await, CREDIT - 2 * 26);
}

async fn a_client_hanging_up_stops_the_upstream_and_pays_what_was_generated(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;
    let mut body = hello(UP);
    body["stream"] = json!(true);
    body["max_tokens"] = json!(2000);
    body["mock"] = json!({"chunk_delay_ms": 20});
    let mut r = g.post("/v1/chat/completions", &body).send().await.unwrap();
    let id = request_id(&r);
    let mut received = 0;
    while received < 3 {
        let chunk = r.chunk().await.unwrap().expect("more of the stream");
        received += chunk.windows(6).filter(|w| w == b"data: ").count();
    }
    drop(r);
    eventually(
        Duration::from_secs(5),
        "the upstream stream was cut",
        || up.cut_streams() == 1,
    )
    .await;
    let rec = g.usage(&id).await;
    assert_eq!(rec.status, "client_disconnected");
    assert!(
        rec.estimated,
        "no usage came: counted from the delivered text"
    );
    assert!(
        rec.output_tokens > 0 && rec.output_tokens < 2000,
        "{}",
        rec.output_tokens
    );
    assert!(rec.cost.rounded().micros() > 0);
    assert_eq!(g.balance().await, CREDIT - rec.cost.rounded().micros());
}

async fn upstream_failures_answer_502_and_504_and_cost_nothing(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;

    let mut body = hello(UP);
    body["mock"] = json!({"status": 500});
    let (s, e, id) = g.chat(body).await;
    assert_eq!(s, 502, "{e}");
    assert_eq!(e["error"]["code"], "upstream_error");
    let rec = g.usage(&id).await;
    assert_eq!(
        (
            rec.status.as_str(),
            rec.cost.rounded().micros(),
            rec.output_tokens
        ),
        ("upstream_error", 0, 0)
    );

    // Hanging past the first-byte timeout (1 s in this catalog).
    let mut body = hello(UP);
    body["mock"] = json!({"hang_ms": 5000});
    let started = std::time::Instant::now();
    let (s, e, id) = g.chat(body).await;
    assert_eq!(s, 504, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(g.usage(&id).await.status, "upstream_timeout");

    // A stream whose next chunk does not come in time ends with an error event.
    let mut body = hello(UP);
    body["stream"] = json!(true);
    body["mock"] = json!({"chunk_delay_ms": 3000});
    let r = g.post("/v1/chat/completions", &body).send().await.unwrap();
    let id = request_id(&r);
    let (events, done) = read_stream(r).await;
    assert!(!done);
    assert_eq!(events.last().unwrap()["error"]["code"], "upstream_timeout");
    assert_eq!(g.usage(&id).await.status, "upstream_timeout");
    assert_eq!(
        g.balance().await,
        CREDIT,
        "nothing was generated, nothing is billed"
    );
}

async fn traffic_moves_off_a_replica_that_is_down(engine: Engine) {
    let live = MockUpstream::start().await;
    let dead = dead_url().await;
    let g = Gateway::start(engine, &[&dead, &live.base_url]).await;
    for _ in 0..8 {
        let (s, e, _) = g.chat(hello(UP)).await;
        assert_eq!(s, 200, "{e}");
    }
    assert_eq!(live.requests(), 8);

    // Every replica down: 503, and still one record.
    let all_dead = dead_url().await;
    let g2 = Gateway::start(engine, &[&all_dead]).await;
    let (s, e, id) = g2.chat(hello(UP)).await;
    assert_eq!(s, 503, "{e}");
    assert_eq!(e["error"]["code"], "upstream_unavailable");
    assert_eq!(g2.usage(&id).await.status, "upstream_unavailable");
}

/// An upstream that answers every request with a redirect to `to`.
async fn redirecting_upstream(to: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(move || {
        let to = to.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(
                    axum::http::header::LOCATION,
                    format!("{to}/chat/completions"),
                )],
            )
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/v1")
}

async fn an_upstream_redirect_is_not_followed(engine: Engine) {
    // The prompt and the upstream's key go where the catalog says, never where an answer
    // points: a redirect is the upstream failing (502), and the place it names sees nothing.
    let elsewhere = MockUpstream::start().await;
    let redirecting = redirecting_upstream(elsewhere.base_url.clone()).await;
    let g = Gateway::start(engine, &[&redirecting]).await;
    let (s, e, id) = g.chat(hello(UP)).await;
    assert_eq!(s, 502, "{e}");
    assert_eq!(e["error"]["code"], "upstream_error");
    assert_eq!(elsewhere.requests(), 0, "the redirect was not followed");
    assert_eq!(g.usage(&id).await.status, "upstream_error");
    assert_eq!(g.balance().await, CREDIT, "nothing is billed");
}

on_both_engines!(
    an_upstream_redirect_is_not_followed,
    whole_answers_are_passed_through_and_metered,
    streams_carry_the_usage_chunk_only_when_asked,
    a_client_hanging_up_stops_the_upstream_and_pays_what_was_generated,
    upstream_failures_answer_502_and_504_and_cost_nothing,
    traffic_moves_off_a_replica_that_is_down,
);
