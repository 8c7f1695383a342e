#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Admission at the gateway, in its order: key (401), body (400, 413), model (404), the
//! project's models (403), context length (400), plan (a subscription costs nothing), credit
//! (402) — every refusal in OpenAI's error shape with an `x-request-id`, and none reaching the
//! upstream. Both engines.

mod common;
mod gateway_common;

use gateway_common::*;
use serde_json::{json, Value};
use tollgate_server::testing::send;
use tollgate_store::{on_both_engines, Engine};

async fn post_raw(g: &Gateway, path: &str, key: &str, body: &'static str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(g.t.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    request_id(&r);
    (status, r.json().await.unwrap())
}

async fn bad_bodies_are_400s_that_never_reach_the_upstream(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start_with(engine, &[&up.base_url], |c| {
        c.gateway_max_body_bytes = 4096;
    })
    .await;
    let chat = "/v1/chat/completions";
    let cases: &[(&str, &'static str, Option<&str>)] = &[
        (chat, "", None),
        (chat, "{\"model\": \"up\",", None),
        (chat, "[]", None),
        (
            chat,
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            Some("model"),
        ),
        (
            chat,
            r#"{"model": 1, "messages": [{"role": "user", "content": "hi"}]}"#,
            Some("model"),
        ),
        (chat, r#"{"model": "up"}"#, Some("messages")),
        (
            chat,
            r#"{"model": "up", "messages": {"role": "user"}}"#,
            Some("messages"),
        ),
        (
            chat,
            r#"{"model": "up", "messages": [{"role": "user"}], "stream": 1}"#,
            Some("stream"),
        ),
        (
            chat,
            r#"{"model": "up", "messages": [{"role": "user"}], "max_tokens": "5"}"#,
            Some("max_tokens"),
        ),
        (
            chat,
            r#"{"model": "up", "messages": [{"role": "user"}], "max_tokens": -5}"#,
            Some("max_tokens"),
        ),
        (
            chat,
            r#"{"model": "up", "messages": [{"role": "user"}], "max_completion_tokens": 99999999999999999999}"#,
            Some("max_completion_tokens"),
        ),
        (
            chat,
            r#"{"model": "up", "messages": [{"role": "user"}], "max_tokens": 5000}"#,
            Some("messages"),
        ),
        ("/v1/completions", r#"{"model": "up"}"#, Some("prompt")),
        (
            "/v1/completions",
            r#"{"model": "up", "prompt": {"text": "x"}}"#,
            Some("prompt"),
        ),
    ];
    for (path, body, param) in cases {
        let (s, e) = post_raw(&g, path, &g.key, body).await;
        assert_eq!(s, 400, "{body}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(e["error"]["param"].as_str(), *param, "{body}: {e}");
    }
    let (s, e) = post_raw(
        &g,
        chat,
        &g.key,
        r#"{"model": "up", "messages": [{"role": "user"}], "max_tokens": 5000}"#,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("context_length_exceeded"))
    );

    let huge = json!({"model": UP, "messages": [{"role": "user", "content": "x".repeat(5000)}]});
    let r = g.post(chat, &huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    request_id(&r);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "request_too_large");

    assert_eq!(up.requests(), 0, "no bad request reached the upstream");
    g.flush().await;
    assert_eq!(g.balance().await, CREDIT);
}

async fn keys_models_projects_and_credit_are_checked_in_order(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;
    let chat = "/v1/chat/completions";
    let body =
        r#"{"model": "up", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}"#;

    let (s, e) = post_raw(&g, chat, "tg-nope-nope", body).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    // A bad key is refused before its body is looked at.
    let (s, _) = post_raw(&g, chat, "tg-nope-nope", "{").await;
    assert_eq!(s, 401);

    let (s, e, _) = g.chat(hello("no-such-model")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );

    // The project is restricted to `local` (by its org admin): `up` is refused, `local` served.
    let models_url = g.t.url(&format!(
        "/api/v1/orgs/{}/projects/{}/models",
        g.user.org_id, g.project
    ));
    let (s, e) = send(
        g.user
            .client
            .put(&models_url)
            .json(&json!({"models": ["nope"]})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("unknown_model")),
        "{e}"
    );
    let (s, m) = send(
        g.user
            .client
            .put(&models_url)
            .json(&json!({"models": [LOCAL, LOCAL]})),
    )
    .await;
    assert_eq!((s, &m), (200, &json!({"models": [LOCAL]})));
    let (_, m) = send(g.user.client.get(&models_url)).await;
    assert_eq!(m, json!({"models": [LOCAL]}));
    let (s, e, _) = g.chat(hello(UP)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("model_not_allowed")),
        "{e}"
    );
    let (s, _, _) = g.chat(hello(LOCAL)).await;
    assert_eq!(s, 200);
    let (s, _) = send(
        g.user
            .client
            .put(&models_url)
            .json(&json!({"models": null})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = g.chat(hello(UP)).await;
    assert_eq!(s, 200, "all models again");

    // An organization without credit: 402, in the class the SDKs know.
    let bob = g.t.sign_up("bob@example.com").await;
    let bob_project = g.t.default_project(&bob.org_id).await;
    let (_, bob_key) = common::create_key(&g.t, &bob, &bob.org_id, &bob_project).await;
    let (s, e) = post_raw(&g, chat, &bob_key, body).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (402, Some("insufficient_quota")),
        "{e}"
    );
    assert_eq!(e["error"]["type"], "insufficient_quota");

    // Credit for exactly one maximum-cost request: 11 input tokens estimated (the 32 bytes of
    // [{"role":"user","content":"hi"}] at 4 bytes a token, and 3 of framing) at 1 µUSD, and 5
    // output at 2 µUSD: 21 µUSD.
    grant(&g.t, &bob.org_id, 21).await;
    let (s, e) = post_raw(&g, chat, &bob_key, body).await;
    assert_eq!(s, 200, "{e}");
    g.flush().await;
    assert_eq!(up.requests(), 2, "only the admitted requests went up");
}

async fn a_subscribed_model_costs_nothing_and_needs_no_credit(engine: Engine) {
    let up = MockUpstream::start().await;
    let g = Gateway::start(engine, &[&up.base_url]).await;
    let bob = g.t.sign_up("bob@example.com").await;
    let bob_project = g.t.default_project(&bob.org_id).await;
    let (_, bob_key) = common::create_key(&g.t, &bob, &bob.org_id, &bob_project).await;
    grant(&g.t, &bob.org_id, 100_000_000).await;
    let (s, card) = tollgate_server::testing::send(
        bob.client
            .put(g.t.url(&format!(
                "/api/v1/orgs/{}/billing/payment-method",
                bob.org_id
            )))
            .json(&json!({"card_number": "4242424242424242", "exp_month": 12,
                          "exp_year": 2034, "cvc": "123"})),
    )
    .await;
    assert_eq!(s, 200, "{card}");
    let (s, sub) = tollgate_server::testing::send(
        bob.client
            .post(g.t.url(&format!("/api/v1/orgs/{}/subscriptions", bob.org_id)))
            .json(&json!({"model": UP, "tier": "basic"})),
    )
    .await;
    assert_eq!(s, 201, "{sub}");
    let before =
        g.t.app
            .store
            .credit_account(&bob.org_id)
            .await
            .unwrap()
            .balance;

    let r = reqwest::Client::new()
        .post(g.t.url("/v1/chat/completions"))
        .bearer_auth(&bob_key)
        .json(&hello(UP))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let rec = g.usage(&id).await;
    assert_eq!(
        (rec.plan, rec.cost, rec.output_tokens),
        ("subscription", tollgate_domain::usage::UsageCost::ZERO, 5)
    );
    let after =
        g.t.app
            .store
            .credit_account(&bob.org_id)
            .await
            .unwrap()
            .balance;
    assert_eq!(after, before, "no credit spent");
}

on_both_engines!(
    bad_bodies_are_400s_that_never_reach_the_upstream,
    keys_models_projects_and_credit_are_checked_in_order,
    a_subscribed_model_costs_nothing_and_needs_no_credit,
);
