#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Rate limits at the gateway: every admitted answer carries Cerebras' and OpenAI's
//! `x-ratelimit-*` headers; a refused request gets OpenAI's 429 with `Retry-After`; an
//! operator's override reaches a running server within a second; a project's own limit refuses
//! before the organization's. Both engines.

mod common;
mod gateway_common;

use std::time::{Duration, Instant};

use gateway_common::*;
use serde_json::{json, Value};
use tollgate_domain::limits::RateLimits;
use tollgate_store::{on_both_engines, AuditEntry, Engine};

fn operator() -> AuditEntry<'static> {
    AuditEntry {
        actor_id: None,
        actor_email: None,
        action: "limits.override.set",
        target_type: "model",
        target_id: LOCAL,
        details: json!({}),
        ip: None,
    }
}

async fn chat(g: &Gateway, body: &Value) -> reqwest::Response {
    g.post("/v1/chat/completions", body).send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn answers_carry_rate_limit_headers_and_refusals_are_429s(engine: Engine) {
    // Only the built-in `local` model is called; `up` points nowhere.
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let r = chat(&g, &hello(LOCAL)).await;
    assert_eq!(r.status(), 200);
    // The catalog's pay-as-you-go limits of `local`: 1,000 RPM, 1,000,000 TPM, 100,000 RPD.
    assert_eq!(
        header(&r, "x-ratelimit-limit-requests-day").as_deref(),
        Some("100000")
    );
    assert_eq!(
        header(&r, "x-ratelimit-remaining-requests-day").as_deref(),
        Some("99999")
    );
    assert_eq!(
        header(&r, "x-ratelimit-limit-tokens-minute").as_deref(),
        Some("1000000")
    );
    assert_eq!(
        header(&r, "x-ratelimit-limit-requests").as_deref(),
        Some("1000")
    );
    assert_eq!(
        header(&r, "x-ratelimit-remaining-requests").as_deref(),
        Some("999")
    );
    assert_eq!(
        header(&r, "x-ratelimit-limit-tokens").as_deref(),
        Some("1000000")
    );
    for name in [
        "x-ratelimit-remaining-tokens-minute",
        "x-ratelimit-reset-requests-day",
        "x-ratelimit-reset-tokens-minute",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    ] {
        assert!(header(&r, name).is_some(), "{name} missing");
    }

    // The operator lowers the organization's limit (as `tollgate admin limits set` does, from
    // another process): the running server enforces it within a second.
    g.t.app
        .store
        .set_org_model_limits(
            &g.user.org_id,
            LOCAL,
            &RateLimits {
                rpm: Some(3),
                ..RateLimits::default()
            },
            g.t.app.now(),
            operator(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let r = chat(&g, &hello(LOCAL)).await;
        if header(&r, "x-ratelimit-limit-requests").as_deref() == Some("3") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the override was not in force within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Hammer until refused: at most the remaining of the 3.
    let mut refused = None;
    for _ in 0..4 {
        let r = chat(&g, &hello(LOCAL)).await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let r = refused.expect("a 429 within the limit of 3 per minute");
    let retry_after: i64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    let retry_ms: i64 = header(&r, "retry-after-ms").unwrap().parse().unwrap();
    assert!(retry_ms > 0 && retry_ms <= retry_after * 1000);
    assert_eq!(
        header(&r, "x-ratelimit-limit-requests").as_deref(),
        Some("3")
    );
    assert_eq!(
        header(&r, "x-ratelimit-remaining-requests").as_deref(),
        Some("0")
    );
    assert!(header(&r, "x-request-id").is_some());
    let body: Value = r.json().await.unwrap();
    let e = &body["error"];
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(e["type"], "requests");
    assert!(e["param"].is_null());
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("requests per minute (RPM)") && message.contains("Limit 3"),
        "{message}"
    );
}

async fn a_project_limit_below_the_organization_s_refuses_tokens(engine: Engine) {
    // Only the built-in `local` model is called; `up` points nowhere.
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    g.t.app
        .store
        .set_project_model_limits(
            &g.user.org_id,
            &g.project,
            LOCAL,
            &RateLimits {
                tpm: Some(50),
                ..RateLimits::default()
            },
            g.t.app.now(),
            operator(),
        )
        .await
        .unwrap();
    g.t.app.limits.settings.forget_org(&g.user.org_id);
    // Input + max_tokens above the project's 50 tokens a minute: refused for good, as tokens.
    let mut body = hello(LOCAL);
    body["max_tokens"] = json!(100);
    let r = chat(&g, &body).await;
    assert_eq!(r.status(), 429);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "tokens");
    assert_eq!(e["error"]["code"], "rate_limit_exceeded");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("this project") && message.contains("tokens per minute (TPM)"),
        "{message}"
    );
    // A small request fits; its headers show the project's tighter bucket.
    body["max_tokens"] = json!(5);
    let r = chat(&g, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-ratelimit-limit-tokens-minute").as_deref(),
        Some("50")
    );
}

/// Issue 12, item 6: the tokens-per-minute headers show the request's estimate (the gateway's
/// count of the input + `max_tokens`) taken at admission, and the next answers show the
/// correction (the unused estimate back, only the tokens used kept). The test app's clock stands
/// still, so nothing refills in between.
async fn token_headers_show_the_estimate_then_the_correction(engine: Engine) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let limit: u64 = 1_000_000;
    let mut body = hello(LOCAL);
    body["max_tokens"] = json!(40);
    let mut used = 0u64;
    let mut estimate = None;
    for n in 0..3 {
        let r = chat(&g, &body).await;
        assert_eq!(r.status(), 200);
        let remaining: u64 = header(&r, "x-ratelimit-remaining-tokens-minute")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            header(&r, "x-ratelimit-remaining-tokens"),
            Some(remaining.to_string())
        );
        let answer: Value = r.json().await.unwrap();
        let prompt = answer["usage"]["prompt_tokens"].as_u64().unwrap();
        let total = answer["usage"]["total_tokens"].as_u64().unwrap();
        // The estimate covers the most the request may use.
        let e = *estimate.get_or_insert(limit - remaining);
        assert!(e >= prompt + 40, "estimate {e} below input {prompt} + 40");
        assert_eq!(
            remaining,
            limit - used - e,
            "request {n}: {used} tokens used before, this one's estimate {e}"
        );
        used += total;
        g.flush().await;
    }
}

on_both_engines!(
    token_headers_show_the_estimate_then_the_correction,
    answers_carry_rate_limit_headers_and_refusals_are_429s,
    a_project_limit_below_the_organization_s_refuses_tokens,
);
