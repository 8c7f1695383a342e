#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The limits API: the organization's rate limits per model with their source and use, a
//! project's own limits (never above the organization's: 400), bounded inputs. Both engines.

mod common;
mod gateway_common;

use gateway_common::*;
use serde_json::{json, Value};
use tollgate_domain::limits::RateLimits;
use tollgate_server::testing::send;
use tollgate_store::{on_both_engines, AuditEntry, Engine};

fn limit<'a>(body: &'a Value, model: &str, dimension: &str) -> &'a Value {
    body["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == model)
        .and_then(|m| {
            m["limits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["dimension"] == dimension)
        })
        .unwrap_or_else(|| panic!("no {dimension} for {model} in {body}"))
}

/// A gateway with no reachable upstream, its organization's Limits URL, and the first read of it.
async fn limits_page(engine: Engine) -> (Gateway, String, Value) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let url = g.t.url(&format!("/api/v1/orgs/{}/limits", g.user.org_id));
    let (s, body) = send(g.user.client.get(&url)).await;
    assert_eq!(s, 200, "{body}");
    (g, url, body)
}

async fn org_limits_show_source_and_use(engine: Engine) {
    let (g, url, body) = limits_page(engine).await;
    let rpm = limit(&body, LOCAL, "rpm");
    assert_eq!(rpm["limit"], 1000);
    assert_eq!(rpm["source"], "pay_as_you_go");
    assert_eq!(rpm["in_use"], 0);
    let (status, _, _) = g.chat(hello(LOCAL)).await;
    assert_eq!(status, 200);
    // What this process leased is in use as the shared bucket sees it: at least the request.
    g.t.app.limits.give_back_all().await;
    let (_, body) = send(g.user.client.get(&url)).await;
    assert_eq!(limit(&body, LOCAL, "rpm")["in_use"], 1);
    // An operator's override: that dimension is custom, the others keep their source.
    g.t.app
        .store
        .set_org_model_limits(
            &g.user.org_id,
            LOCAL,
            &RateLimits {
                rpm: Some(5),
                ..RateLimits::default()
            },
            g.t.app.now(),
            AuditEntry {
                actor_id: None,
                actor_email: None,
                action: "limits.override.set",
                target_type: "model",
                target_id: LOCAL,
                details: json!({}),
                ip: None,
            },
        )
        .await
        .unwrap();
    g.t.app.limits.settings.forget_org(&g.user.org_id);
    let (_, body) = send(g.user.client.get(&url)).await;
    assert_eq!(limit(&body, LOCAL, "rpm")["source"], "custom");
    assert_eq!(limit(&body, LOCAL, "rpm")["limit"], 5);
    assert_eq!(limit(&body, LOCAL, "tpm")["source"], "pay_as_you_go");
}

/// A setting changed where neither this process nor the change log saw it (by hand, in the
/// database) arrives once the cached entry is a minute old by the injected clock.
async fn cached_limits_expire_by_the_injected_clock(engine: Engine) {
    let (g, url, body) = limits_page(engine).await;
    assert_eq!(limit(&body, LOCAL, "rpm")["limit"], 1000);
    g.t.app
        .store
        .execute_for_bench(&format!(
            "INSERT INTO org_model_limits (org_id, model, rpm, updated_at) VALUES ('{}', '{LOCAL}', 7, 0)",
            g.user.org_id
        ))
        .await
        .unwrap();
    g.t.clock.advance_ms(59_000);
    let (_, body) = send(g.user.client.get(&url)).await;
    assert_eq!(limit(&body, LOCAL, "rpm")["limit"], 1000, "still cached");
    g.t.clock.advance_ms(2_000);
    let (_, body) = send(g.user.client.get(&url)).await;
    assert_eq!(
        limit(&body, LOCAL, "rpm")["limit"],
        7,
        "read again after a minute"
    );
    assert_eq!(limit(&body, LOCAL, "rpm")["source"], "custom");
}

async fn project_limits_stay_below_the_organization_s(engine: Engine) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let base = format!(
        "/api/v1/orgs/{}/projects/{}/limits",
        g.user.org_id, g.project
    );
    let put = |model: &str, body: Value| {
        g.user
            .client
            .put(g.t.url(&format!("{base}/{model}")))
            .json(&body)
    };
    for (model, body, status, code) in [
        (LOCAL, json!({"rpm": 1001}), 422, "validation_failed"),
        (LOCAL, json!({"rpm": 0}), 422, "validation_failed"),
        (
            LOCAL,
            json!({"tpm": 100_000_000_001u64}),
            422,
            "validation_failed",
        ),
        ("nope", json!({"rpm": 5}), 400, "unknown_model"),
    ] {
        let (s, e) = send(put(model, body.clone())).await;
        assert_eq!(s, status, "{body}: {e}");
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
    }
    let (s, e) = send(put(LOCAL, json!({"rpm": -1}))).await;
    assert!(s == 400 || s == 422, "{s} {e}");
    let (s, e) = send(put(LOCAL, json!({"rpx": 1}))).await;
    assert!(s == 400 || s == 422, "{s} {e}");
    let (_, listed) = send(g.user.client.get(g.t.url(&base))).await;
    assert_eq!(listed["models"], json!([]), "nothing was stored");

    let (s, body) = send(put(LOCAL, json!({"rpm": 2, "tpm": 500}))).await;
    assert_eq!(s, 200, "{body}");
    let (s, listed) = send(g.user.client.get(g.t.url(&base))).await;
    assert_eq!(s, 200);
    assert_eq!(listed["models"][0]["model"], LOCAL);
    assert_eq!(listed["models"][0]["rpm"], 2);
    assert_eq!(listed["models"][0]["tpm"], 500);
    // Enforced by the gateway at once: the third request a minute is refused by the project.
    for _ in 0..2 {
        assert_eq!(g.chat(hello(LOCAL)).await.0, 200);
    }
    let (status, e, _) = g.chat(hello(LOCAL)).await;
    assert_eq!(status, 429, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this project"),
        "{e}"
    );
    // Nothing given: the project's limits are removed.
    let (s, _) = send(put(LOCAL, json!({}))).await;
    assert_eq!(s, 200);
    let (_, listed) = send(g.user.client.get(g.t.url(&base))).await;
    assert_eq!(listed["models"], json!([]));
}

/// Issue 12: a subscribed tier's limits (the test catalog's `basic`: 500 RPM where
/// pay-as-you-go has 1,000) apply from the subscription on, in the API and at the gateway.
async fn tier_limits_apply_after_subscribing(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;
    let url = g.t.url(&format!("/api/v1/orgs/{}/limits", g.user.org_id));
    let rpm_header = |r: &reqwest::Response| {
        r.headers()
            .get("x-ratelimit-limit-requests")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let r = g
        .post("/v1/chat/completions", &hello(UP))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(rpm_header(&r).as_deref(), Some("1000"));
    let (s, card) = send(
        g.user
            .client
            .put(g.t.url(&format!(
                "/api/v1/orgs/{}/billing/payment-method",
                g.user.org_id
            )))
            .json(&json!({"card_number": "4242424242424242", "exp_month": 12,
                          "exp_year": 2034, "cvc": "123"})),
    )
    .await;
    assert_eq!(s, 200, "{card}");
    let (s, sub) = send(
        g.user
            .client
            .post(g.t.url(&format!("/api/v1/orgs/{}/subscriptions", g.user.org_id)))
            .json(&json!({"model": UP, "tier": "basic"})),
    )
    .await;
    assert_eq!(s, 201, "{sub}");
    let (_, body) = send(g.user.client.get(&url)).await;
    let rpm = limit(&body, UP, "rpm");
    assert_eq!(rpm["limit"], 500);
    assert_eq!(rpm["source"], "tier");
    assert_eq!(rpm["tier"], "basic");
    assert_eq!(limit(&body, LOCAL, "rpm")["source"], "pay_as_you_go");
    let r = g
        .post("/v1/chat/completions", &hello(UP))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        rpm_header(&r).as_deref(),
        Some("500"),
        "the tier's limit at the gateway"
    );
}

on_both_engines!(
    tier_limits_apply_after_subscribing,
    org_limits_show_source_and_use,
    cached_limits_expire_by_the_injected_clock,
    project_limits_stay_below_the_organization_s,
);
