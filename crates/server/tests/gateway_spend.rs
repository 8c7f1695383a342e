#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Monthly spend limits at the gateway (docs/limits.md, decision 0018): a request that could
//! exceed the key's, the project's or the organization's limit gets 402 `spend_limit_reached`
//! — no earlier (the last request admitted left less than one request's worth) and never
//! later, even with 64 clients on two processes; alert emails go to the org's admins once per
//! threshold and month. Both engines.

mod common;
mod gateway_common;

use std::sync::Arc;
use std::time::Duration;

use gateway_common::*;
use serde_json::{json, Value};
use tollgate_domain::limits::spend::{period_of, SpendScope};
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

/// $0.001: a few dozen of the requests below.
const LIMIT_MICROS: i64 = 1_000;

/// `max_tokens` 100 at 2 µUSD a token: each request reserves a little over 200 µUSD.
fn costly() -> Value {
    let mut body = hello(LOCAL);
    body["max_tokens"] = json!(100);
    body
}

/// The most one `costly()` request may cost, with room for its input (1 µUSD a token).
const MAX_COST: i64 = 260;

async fn put_limit(g: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let r = g
        .user
        .client
        .put(g.t.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn key_path(g: &Gateway) -> String {
    format!(
        "/api/v1/orgs/{}/projects/{}/api-keys/{}/spend-limit",
        g.user.org_id, g.project, g.key_id
    )
}

/// Sends `costly()` requests one after another until one is refused; returns how many were
/// admitted and the refusal.
async fn until_refused(g: &Gateway, t: &TestApp) -> (usize, u16, Value) {
    for admitted in 0..200 {
        let r = reqwest::Client::new()
            .post(t.url("/v1/chat/completions"))
            .bearer_auth(&g.key)
            .json(&costly())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return (admitted, status, r.json().await.unwrap());
        }
        let _ = r.bytes().await;
    }
    panic!("200 requests admitted under a limit of {LIMIT_MICROS} µUSD");
}

async fn spent(t: &TestApp, scope: SpendScope, target: &str) -> i64 {
    t.app
        .store
        .spend_use(scope, target, &period_of(t.app.now()))
        .await
        .unwrap()
        .spent
        .micros()
}

async fn a_key_limit_refuses_with_402_exactly_at_the_limit(engine: Engine) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let (s, body) = put_limit(&g, &key_path(&g), json!({"monthly_limit": "0.001"})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope"], "api_key");
    assert_eq!(body["alert_thresholds"], json!([50, 80, 100]));

    let (admitted, status, refusal) = until_refused(&g, &g.t).await;
    assert!(admitted >= 3, "only {admitted} admitted");
    assert_eq!(status, 402, "{refusal}");
    let e = &refusal["error"];
    assert_eq!(e["code"], "spend_limit_reached");
    assert_eq!(e["type"], "insufficient_quota");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("this API key's monthly spend limit"),
        "{refusal}"
    );
    g.flush().await;
    let used = spent(&g.t, SpendScope::ApiKey, &g.key_id).await;
    // Never past the limit, and refused only once less than one request's worth was left.
    assert!(used <= LIMIT_MICROS, "spent {used}");
    assert!(
        LIMIT_MICROS - used < MAX_COST,
        "refused with {used} of {LIMIT_MICROS} spent"
    );
    let (s, body) = put_limit(&g, &key_path(&g), json!({"monthly_limit": "1"})).await;
    assert_eq!(s, 200, "{body}");
    let (status, _, _) = g.chat(costly()).await;
    assert_eq!(status, 200, "a raised limit admits at once");
}

async fn project_and_organization_limits_refuse_naming_their_scope(engine: Engine) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let project = format!(
        "/api/v1/orgs/{}/projects/{}/spend-limit",
        g.user.org_id, g.project
    );
    let org = format!("/api/v1/orgs/{}/spend-limit", g.user.org_id);
    for (path, whose) in [(&project, "this project's"), (&org, "your organization's")] {
        let (s, body) = put_limit(&g, path, json!({"monthly_limit": "0.000001"})).await;
        assert_eq!(s, 200, "{body}");
        let (status, refusal, _) = g.chat(costly()).await;
        assert_eq!(status, 402, "{refusal}");
        assert_eq!(refusal["error"]["code"], "spend_limit_reached");
        assert!(
            refusal["error"]["message"]
                .as_str()
                .unwrap()
                .contains(whose),
            "{refusal}"
        );
        let r = g.user.client.delete(g.t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let (status, body, _) = g.chat(costly()).await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn spend_alerts(t: &TestApp) -> usize {
    t.app
        .store
        .outbox_messages(1_000)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.kind == "spend_alert")
        .count()
}

async fn wait_for_alerts(g: &Gateway, count: usize) {
    // The writer hands the organizations it debited to the alert job before `flush` returns,
    // and the job's tasks are tracked by `background`: once both are done every alert due is
    // in the outbox, and no later one can appear.
    g.flush().await;
    tokio::time::timeout(Duration::from_secs(10), g.t.app.background.idle())
        .await
        .expect("the alert tasks finished within 10 s");
    assert_eq!(spend_alerts(&g.t).await, count, "spend alert emails");
}

async fn alerts_email_admins_once_per_threshold_and_month(engine: Engine) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let (s, body) = put_limit(
        &g,
        &key_path(&g),
        json!({"monthly_limit": "0.001", "alert_thresholds": [10, 50]}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, status, _) = until_refused(&g, &g.t).await;
    assert_eq!(status, 402);
    wait_for_alerts(&g, 2).await;
    let messages = g.t.app.store.outbox_messages(1_000).await.unwrap();
    let alert = messages.iter().find(|m| m.kind == "spend_alert").unwrap();
    assert_eq!(alert.to, "ada@example.com");
    assert!(
        alert.subject.contains("monthly spend limit"),
        "{}",
        alert.subject
    );
    // Asked again (another batch, another process): nothing more this month.
    g.t.app.send_spend_alerts(&g.user.org_id).await.unwrap();
    let (_, status, _) = until_refused(&g, &g.t).await;
    assert_eq!(status, 402);
    g.flush().await;
    g.t.app.background.idle().await;
    assert_eq!(
        spend_alerts(&g.t).await,
        2,
        "alerts are sent once per month"
    );
    // Next month the limit starts over, and so do the alerts.
    g.t.clock.set_ms(g.t.app.now() + 32 * 86_400_000);
    let (admitted, status, _) = until_refused(&g, &g.t).await;
    assert!(
        admitted >= 3 && status == 402,
        "{admitted} admitted, then {status}"
    );
    wait_for_alerts(&g, 4).await;
}

async fn sixty_four_clients_on_two_processes_never_exceed_the_limit(engine: Engine) {
    let nowhere = dead_url().await;
    let g = Gateway::start(engine, &[&nowhere]).await;
    let (s, body) = put_limit(
        &g,
        &format!("/api/v1/orgs/{}/spend-limit", g.user.org_id),
        json!({"monthly_limit": "0.002"}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let catalog = g.t.app.config.catalog_path.clone();
    let b = g.t.spawn_sharing_with(|c| c.catalog_path = catalog).await;
    b.clock.set_ms(g.t.app.now());
    let urls = Arc::new([
        g.t.url("/v1/chat/completions"),
        b.url("/v1/chat/completions"),
    ]);
    let key = Arc::new(g.key.clone());
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let (urls, key) = (urls.clone(), key.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let (mut ok, mut refused) = (0usize, 0usize);
                for n in 0..40 {
                    let r = http
                        .post(&urls[(i + n) % 2])
                        .bearer_auth(key.as_str())
                        .json(&costly())
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        200 => ok += 1,
                        402 => {
                            let e: Value = r.json().await.unwrap();
                            assert_eq!(e["error"]["code"], "spend_limit_reached", "{e}");
                            refused += 1;
                            if refused >= 2 {
                                break;
                            }
                            continue;
                        }
                        other => panic!(
                            "status {other} after {ok} admitted: {}",
                            r.text().await.unwrap()
                        ),
                    }
                    let _ = r.bytes().await;
                }
                (ok, refused)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for c in clients {
        let (o, r) = c.await.unwrap();
        ok += o;
        refused += r;
    }
    g.flush().await;
    tokio::time::timeout(Duration::from_secs(10), b.app.metering.flush())
        .await
        .unwrap();
    let used = spent(&g.t, SpendScope::Organization, &g.user.org_id).await;
    assert!(ok >= 3 && refused > 0, "{ok} admitted, {refused} refused");
    assert!(
        used <= 2 * LIMIT_MICROS,
        "spent {used} of {} µUSD",
        2 * LIMIT_MICROS
    );
    // Every stored record counted: Σ usage records equals what the month says was spent.
    let records: i64 =
        g.t.app
            .store
            .usage_cost_picos(&g.user.org_id)
            .await
            .unwrap()
            .try_into()
            .unwrap();
    assert!(
        (records + 999_999) / 1_000_000 <= used,
        "records {records} pµUSD, month {used} µUSD"
    );
}

on_both_engines!(
    a_key_limit_refuses_with_402_exactly_at_the_limit,
    project_and_organization_limits_refuse_naming_their_scope,
    alerts_email_admins_once_per_threshold_and_month,
    sixty_four_clients_on_two_processes_never_exceed_the_limit,
);
