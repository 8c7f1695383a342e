#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The console's rate limits: the Limits page (each model's limits, their source, what is in
//! use, every abbreviation explained) and the project page's limits form (org admins only,
//! never above the organization's, bad input a 4xx that changes nothing, enforced at /v1).
//! Both engines.

mod common;

use common::{form_csrf, get_page, override_org_limits, post_form};
mod gateway_common;
mod subscriptions_common;

use serde_json::Value;
use tollgate_domain::limits::RateLimits;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

const MODEL: &str = "llama-3.1-8b-instruct";

/// The row of one limit of one model on the Limits page.
fn limit_row<'a>(html: &'a str, model: &str, abbr: &str) -> &'a str {
    let section = &html[html
        .find(&format!("data-model=\"{model}\""))
        .expect("the model's section")..];
    let section = &section[..section.find("</section>").unwrap()];
    let row = &section[section
        .find(&format!("data-limit=\"{abbr}\""))
        .unwrap_or_else(|| panic!("{abbr} of {model}"))..];
    &row[..row.find("</tr>").unwrap()]
}

async fn chat(t: &TestApp, key: &str) -> u16 {
    reqwest::Client::new()
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&gateway_common::hello(MODEL))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn the_limits_page_shows_sources_use_and_meanings(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let (s, html) = get_page(&t, &ada, &format!("/o/{org}/limits")).await;
    assert_eq!(s, 200);
    assert!(html.contains("<span>Limits</span>"), "in the navigation");
    for (abbr, meaning) in [
        ("RPM", "requests per minute"),
        ("RPH", "requests per hour"),
        ("RPD", "requests per day"),
        ("TPM", "tokens per minute"),
        ("TPH", "tokens per hour"),
        ("TPD", "tokens per day"),
    ] {
        assert!(
            html.contains(&format!("<abbr title=\"{meaning}\">{abbr}</abbr>")),
            "{abbr} explained"
        );
    }
    // The catalog's pay-as-you-go limits of the model, none in use.
    let rpm = limit_row(&html, MODEL, "RPM");
    assert!(rpm.contains(">600<") && rpm.contains("0 of 600"), "{rpm}");
    assert!(rpm.contains("Pay-as-you-go"), "{rpm}");
    assert!(!html.contains("data-limit=\"RPH\""), "not limited per hour");

    // An operator's override shows as custom, the other dimensions keep their source.
    override_org_limits(
        &t,
        org,
        MODEL,
        RateLimits {
            tpm: Some(90_000),
            rph: Some(1_000),
            ..RateLimits::default()
        },
    )
    .await;
    let project = t.default_project(org).await;
    let (_, key) = common::create_key(&t, &ada, org, &project).await;
    gateway_common::grant(&t, org, 5_000_000).await;
    // Two requests: the second leases a slice sized by demand, and what this server holds
    // unspent is not counted as in use.
    assert_eq!(chat(&t, &key).await, 200);
    assert_eq!(chat(&t, &key).await, 200);

    let (_, html) = get_page(&t, &ada, &format!("/o/{org}/limits")).await;
    let tpm = limit_row(&html, MODEL, "TPM");
    // Big numbers with thousands separators, as everywhere in the console.
    assert!(tpm.contains(">90,000<") && tpm.contains("Custom"), "{tpm}");
    assert!(
        tpm.contains("max=\"90000\""),
        "the meter keeps the plain number: {tpm}"
    );
    let rph = limit_row(&html, MODEL, "RPH");
    assert!(
        rph.contains("2 of 1,000") && rph.contains("Custom"),
        "{rph}"
    );
    let rpm = limit_row(&html, MODEL, "RPM");
    assert!(rpm.contains("2 of 600"), "two requests in use: {rpm}");
    assert!(rpm.contains("Pay-as-you-go"), "{rpm}");

    // Subscribed to the Starter tier: its limits, named after it; the override stays custom.
    subscriptions_common::save_card(&t, org, subscriptions_common::GOOD_CARD).await;
    let (s, sub) = subscriptions_common::subscribe(&t, &ada, MODEL, "starter").await;
    assert_eq!(s, 201, "{sub}");
    let (_, html) = get_page(&t, &ada, &format!("/o/{org}/limits")).await;
    let rpm = limit_row(&html, MODEL, "RPM");
    assert!(
        rpm.contains(">120<") && rpm.contains("Starter tier"),
        "{rpm}"
    );
    assert!(limit_row(&html, MODEL, "TPM").contains("Custom"));
    assert!(html.contains("llama-3.1-8b-instruct</code> · Starter tier"));

    // Every member sees the organization's limits.
    let bob = t.sign_up("bob@example.com").await;
    t.add_member(org, &bob.id, &[(&project, ProjectRole::ProjectMember)])
        .await;
    let (s, html) = get_page(&t, &bob, &format!("/o/{org}/limits")).await;
    assert_eq!(s, 200);
    assert!(html.contains("data-limit=\"RPM\""));
    // Not someone else's.
    let eve = t.sign_up("eve@example.com").await;
    let (s, _) = get_page(&t, &eve, &format!("/o/{org}/limits")).await;
    assert_eq!(s, 404);
}

on_both_engines!(the_limits_page_shows_sources_use_and_meanings);

async fn stored_limits(
    t: &TestApp,
    org: &tollgate_domain::OrgId,
    project: &str,
) -> Option<RateLimits> {
    t.app
        .store
        .project_model_limits(org)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.project_id == project && p.model == MODEL)
        .map(|p| p.limits)
}

async fn project_limits_form_is_bounded_by_the_organization(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let project = t.default_project(org).await;
    let path = format!("/o/{org}/projects/{project}");
    let (s, html) = get_page(&t, &ada, &path).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"card-limits\""));
    assert!(html.contains(&format!("data-model=\"{MODEL}\"")));
    assert!(
        html.contains("Organization: 600"),
        "the org's RPM beside the field"
    );
    let token = form_csrf(&html);
    let token = token.as_str();
    let limits = format!("{path}/limits");

    let (s, _) = post_form(
        &t,
        &ada,
        &limits,
        &[
            ("csrf", token),
            ("model", MODEL),
            ("rpm", "10"),
            ("tpm", "5000"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(
        stored_limits(&t, org, &project).await,
        Some(RateLimits {
            rpm: Some(10),
            tpm: Some(5_000),
            ..RateLimits::default()
        })
    );
    let (_, html) = get_page(&t, &ada, &format!("{path}?notice=limits")).await;
    assert!(html.contains("Project rate limits saved."));
    assert!(html.contains("value=\"10\""), "the form shows what is set");
    let (_, audit) = get_page(&t, &ada, &format!("/o/{org}/audit-log")).await;
    assert!(audit.contains("project.limits.set"), "audited");

    // Bad input: 422 (or 400, 403) and nothing changes.
    let before = stored_limits(&t, org, &project).await;
    for (field, value, says) in [
        ("rpm", "601", "above the organization"),
        ("tpm", "400001", "above the organization"),
        ("rpm", "0", "from 1 to"),
        ("rpm", "-5", "from 1 to"),
        ("rpm", "ten", "from 1 to"),
        ("rpm", "1e3", "from 1 to"),
        ("tpd", "99999999999999999999999", "from 1 to"),
        ("rph", "100000000001", "from 1 to"),
    ] {
        let (s, html) = post_form(
            &t,
            &ada,
            &limits,
            &[("csrf", token), ("model", MODEL), (field, value)],
        )
        .await;
        assert_eq!(s, 422, "{field}={value}");
        assert!(html.contains(says), "{field}={value}: error shown");
        assert!(
            html.contains(&format!("id=\"limit-1-{field}-error\"")),
            "{field}={value}: at its field"
        );
        assert!(
            html.contains(&format!("value=\"{value}\"")),
            "what was typed is kept"
        );
        assert_eq!(
            stored_limits(&t, org, &project).await,
            before,
            "{field}={value}"
        );
    }
    let (s, _) = post_form(
        &t,
        &ada,
        &limits,
        &[("csrf", token), ("model", "no-such-model"), ("rpm", "1")],
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post_form(
        &t,
        &ada,
        &limits,
        &[("csrf", "forged"), ("model", MODEL), ("rpm", "1")],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(stored_limits(&t, org, &project).await, before);

    // A project admin sees them, may not change them.
    let bob = t.sign_up("bob@example.com").await;
    t.add_member(org, &bob.id, &[(&project, ProjectRole::ProjectAdmin)])
        .await;
    let (s, html) = get_page(&t, &bob, &path).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"card-limits\"") && html.contains(" disabled"));
    assert!(!html.contains("Save Llama"), "no save button");
    let (s, _) = post_form(
        &t,
        &bob,
        &limits,
        &[("csrf", &form_csrf(&html)), ("model", MODEL), ("rpm", "1")],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(stored_limits(&t, org, &project).await, before);

    // Enforced at /v1: one request a minute for this project.
    let (s, _) = post_form(
        &t,
        &ada,
        &limits,
        &[("csrf", token), ("model", MODEL), ("rpm", "1")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, key) = common::create_key(&t, &ada, org, &project).await;
    gateway_common::grant(&t, org, 5_000_000).await;
    assert_eq!(chat(&t, &key).await, 200);
    let r = reqwest::Client::new()
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&gateway_common::hello(MODEL))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("project"));

    // Empty fields remove the project's limits.
    let (s, _) = post_form(&t, &ada, &limits, &[("csrf", token), ("model", MODEL)]).await;
    assert_eq!(s, 303);
    assert_eq!(stored_limits(&t, org, &project).await, None);
}

on_both_engines!(project_limits_form_is_bounded_by_the_organization);
