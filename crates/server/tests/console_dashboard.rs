#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The Overview as a dashboard, on both engines: balance and available credit, spend this
//! month vs last, requests today, active subscriptions, and the "getting started" steps that
//! tick themselves off and are shown only to those who can take them.

mod common;
mod subscriptions_common;

use common::{create_key, create_project};
use subscriptions_common::{save_card, subscribe, GOOD_CARD};
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::CallerId;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine, NewGrant, UsageRecord, DAY_MS};

async fn overview(t: &TestApp, user: &TestUser) -> String {
    let r = user
        .client
        .get(t.url(&format!("/o/{}", user.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Links are HTML-escaped ("/" as "&#x2f;"), as every value the templates print.
    r.text().await.unwrap().replace("&#x2f;", "/")
}

/// The `<li>` of a step, or None when the step is not shown.
fn step(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("<li id=\"{id}\""))?;
    let end = at + html[at..].find("</li>").unwrap();
    Some(html[at..end].to_owned())
}

fn done(html: &str, id: &str) -> bool {
    step(html, id)
        .unwrap_or_else(|| panic!("{id} not shown"))
        .contains("data-done=\"true\"")
}

async fn the_overview_is_a_dashboard_with_self_ticking_steps(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    // 2026-03-15 12:00 UTC.
    t.clock.set_ms(1_773_576_000_000);
    let admin = t.sign_up("admin@example.com").await;
    let org = admin.org_id.clone();

    let html = overview(&t, &admin).await;
    for id in ["step-key", "step-credits", "step-request"] {
        assert!(!done(&html, id), "{id} is not done yet");
    }
    assert!(step(&html, "step-key")
        .unwrap()
        .contains(&format!("href=\"/o/{org}/api-keys\"")));
    assert!(step(&html, "step-credits")
        .unwrap()
        .contains(&format!("href=\"/o/{org}/billing/payg\"")));
    assert!(html.contains("id=\"overview-balance\">$0.00<"));
    assert!(html.contains("id=\"no-subscriptions\""));

    // A key: its step ticks off.
    let p = create_project(&t, &admin, &org, "Payments").await;
    let (key, _) = create_key(&t, &admin, &org, &p).await;
    let html = overview(&t, &admin).await;
    assert!(done(&html, "step-key"), "{:?}", step(&html, "step-key"));
    assert!(!done(&html, "step-credits"));

    // Credits: $10 granted, then usage of $1.50 this month, $0.25 last month, $0.50 today.
    let now = t.app.now();
    t.app
        .store
        .grant_credits(
            &org,
            &NewGrant {
                source: GrantSource::Adjustment,
                amount: tollgate_domain::Money::from_micros(10_000_000),
                expires_at: None,
                idempotency_key: "dashboard-test",
                reference: None,
                description: "test credit",
            },
            now,
        )
        .await
        .unwrap();
    let html = overview(&t, &admin).await;
    assert!(done(&html, "step-credits"));
    assert!(!done(&html, "step-request"));
    assert!(html.contains("id=\"overview-balance\">$10.00<"));

    let record = |id: &str, micros: i64, at: i64| UsageRecord {
        id: id.to_owned(),
        org_id: org.clone(),
        project_id: p.clone(),
        key_id: CallerId::from_stored(key.clone()),
        model: "qwen".to_owned(),
        input_tokens: 10,
        cached_input_tokens: 0,
        output_tokens: 5,
        cost: tollgate_domain::usage::UsageCost::from_picos(micros * 1_000_000).unwrap(),
        plan: "payg",
        status: "ok".to_owned(),
        latency_ms: Some(10),
        ttft_ms: None,
        estimated: false,
        occurred_at: at,
    };
    t.app
        .store
        .record_usage(
            &[
                record("a", 1_000_000, now - 5 * DAY_MS),
                record("b", 500_000, now - 60_000),
                record("c", 250_000, now - 20 * DAY_MS),
            ],
            now,
        )
        .await
        .unwrap();
    let html = overview(&t, &admin).await;
    assert!(done(&html, "step-request"));
    assert!(html.contains("id=\"spend-this-month\">$1.50<"), "{html}");
    assert!(html.contains("($0.25 last month)"));
    assert!(html.contains("id=\"requests-today\">1<"));
    assert!(html.contains("id=\"overview-balance\">$8.25<"));
    assert!(html.contains("id=\"overview-available\">$8.25<"));
    assert!(html.contains("2026-03-10: $1.00</title>"));

    // An active subscription is listed.
    save_card(&t, &org, GOOD_CARD).await;
    let (s, sub) = subscribe(&t, &admin, "llama-3.1-8b-instruct", "starter").await;
    assert_eq!(s, 201, "{sub}");
    let html = overview(&t, &admin).await;
    assert!(html.contains("data-subscription=\"llama-3.1-8b-instruct\""));
    assert!(!html.contains("id=\"no-subscriptions\""));

    // A project member: no billing, no key or credits steps (they cannot take them), the
    // request step links their project; their usage card shows their project only.
    let member = t.sign_up("member@example.com").await;
    let q = create_project(&t, &admin, &org, "Quokka").await;
    t.add_member(&org, &member.id, &[(&q, ProjectRole::ProjectMember)])
        .await;
    let as_member = TestUser {
        client: member.client.clone(),
        id: member.id.clone(),
        email: member.email.clone(),
        org_id: org.clone(),
    };
    let html = overview(&t, &as_member).await;
    assert!(!html.contains("id=\"overview-billing\""));
    assert!(!html.contains("overview-balance"));
    assert!(step(&html, "step-key").is_none());
    assert!(step(&html, "step-credits").is_none());
    assert!(step(&html, "step-invite").is_none());
    let request = step(&html, "step-request").unwrap();
    assert!(
        request.contains(&format!("href=\"/o/{org}/projects/{q}\"")),
        "{request}"
    );
    assert!(html.contains("id=\"spend-this-month\">$0.00<"));

    // As a project admin of Quokka, the key step is theirs too.
    t.app
        .store
        .set_project_member(
            &org,
            &q,
            &member.id.clone(),
            ProjectRole::ProjectAdmin,
            t.app.now(),
            tollgate_store::AuditEntry {
                actor_id: None,
                actor_email: None,
                action: "project.member.set",
                target_type: "project",
                target_id: &q,
                details: serde_json::json!({}),
                ip: None,
            },
        )
        .await
        .unwrap();
    let html = overview(&t, &as_member).await;
    assert!(step(&html, "step-key").is_some());
    assert!(step(&html, "step-credits").is_none());
}

on_both_engines!(the_overview_is_a_dashboard_with_self_ticking_steps);
