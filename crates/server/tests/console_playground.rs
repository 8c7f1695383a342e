#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The console Playground: a chat streamed from the built-in mock through the gateway's own
//! admission and metering (credit reserved and debited, a usage record under the session's
//! pass, limits and allow-list applied), refused readably (402, 429, 403), only for users who
//! may use keys in the project, only with the page's CSRF token from this site. Both engines.

mod common;
mod gateway_common;

use serde_json::{json, Value};
use tollgate_domain::limits::RateLimits;
use tollgate_domain::ProjectRole;
use tollgate_domain::{CallerId, OrgId, ProjectId};
use tollgate_server::testing::{TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

const MODEL: &str = "llama-3.1-8b-instruct";
const OTHER: &str = "qwen2.5-coder-32b-instruct";

/// The page's CSRF token (the Playground's `data-csrf`).
fn page_csrf(html: &str) -> String {
    let at = html
        .find("data-csrf=\"")
        .expect("the playground's CSRF token")
        + 11;
    html[at..at + 64].to_owned()
}

async fn playground(t: &TestApp, user: &TestUser) -> (u16, String) {
    let r = user
        .client
        .get(t.url(&format!("/o/{}/playground", user.org_id)))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

struct Answer {
    status: u16,
    request_id: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn chat_with(
    t: &TestApp,
    client: &reqwest::Client,
    org: &str,
    csrf: &str,
    body: &Value,
) -> Answer {
    let r = client
        .post(t.url(&format!("/o/{org}/playground/chat")))
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let request_id = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        request_id,
        body: r.text().await.unwrap(),
    }
}

fn hello(project: &str, model: &str) -> Value {
    json!({"project": project, "model": model, "max_tokens": 5,
           "messages": [{"role": "user", "content": "say hello to the playground"}]})
}

async fn flush(t: &TestApp) {
    tokio::time::timeout(std::time::Duration::from_secs(10), t.app.metering.flush())
        .await
        .expect("metering flushed");
}

async fn usage_count(t: &TestApp, org: &tollgate_domain::OrgId) -> usize {
    flush(t).await;
    t.app
        .store
        .request_log(&tollgate_store::RequestQuery {
            org_id: org,
            project_ids: None,
            key_id: None,
            model: None,
            status: None,
            after: None,
            limit: 1_000,
        })
        .await
        .unwrap()
        .len()
}

async fn a_chat_streams_is_metered_and_shows_its_cost(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let project = t.default_project(org).await;
    gateway_common::grant(&t, org, 5_000_000).await;
    let before = t.app.store.credit_account(org).await.unwrap().balance;

    let (s, html) = playground(&t, &ada).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("<span>Playground</span>"),
        "in the navigation"
    );
    assert!(html.contains(&format!("<option value=\"{project}\" selected>")));
    assert!(html.contains(&format!("<option value=\"{MODEL}\"")));
    assert!(!html.contains("tg-"), "no key in the page");
    let csrf = page_csrf(&html);

    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&project, MODEL)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Server-sent events as /v1 sends them: five words, the usage chunk, [DONE].
    assert!(a.body.starts_with("data: "), "{}", a.body);
    assert!(a.body.contains("\"delta\""), "{}", a.body);
    assert!(a.body.contains("\"usage\""), "usage asked for");
    assert!(a.body.trim_end().ends_with("data: [DONE]"), "{}", a.body);
    let id = a.request_id.expect("x-request-id");

    flush(&t).await;
    let record = t
        .app
        .store
        .find_usage_record(&tollgate_domain::RequestId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.org_id, *org);
    assert_eq!(record.project_id, project);
    assert_eq!(record.model, MODEL);
    assert_eq!(record.plan, "payg");
    assert_eq!(record.output_tokens, 5);
    assert!(
        matches!(record.key_id, CallerId::Playground(_)),
        "{}",
        record.key_id
    );
    assert!(
        record.cost.picos() > 0,
        "priced at the model's pay-as-you-go rates"
    );
    // A fraction of a micro-dollar: the ledger carries it until it makes a whole one.
    let after = t.app.store.credit_account(org).await.unwrap().balance;
    assert!(after <= before, "{before} → {after}");

    // The page reads the answer's tokens and cost from its usage record.
    let r = ada
        .client
        .get(t.url(&format!("/o/{org}/playground/requests/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["output_tokens"], 5);
    assert_eq!(u["input_tokens"], json!(record.input_tokens));
    assert!(u["cost"].as_str().unwrap().starts_with('$'), "{u}");

    // The same session and project keep their pass for a while: one key_id for a sitting.
    let b = chat_with(&t, &ada.client, org, &csrf, &hello(&project, MODEL)).await;
    assert_eq!(b.status, 200);
    flush(&t).await;
    let second = t
        .app
        .store
        .find_usage_record(&tollgate_domain::RequestId::parse(&b.request_id.unwrap()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.key_id, record.key_id);

    // Someone of another organization cannot read the record.
    let eve = t.sign_up("eve@example.com").await;
    let r = eve
        .client
        .get(t.url(&format!("/o/{org}/playground/requests/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = eve
        .client
        .get(t.url(&format!("/o/{}/playground/requests/{id}", eve.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

on_both_engines!(a_chat_streams_is_metered_and_shows_its_cost);

async fn refusals_are_readable_and_change_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let project = t.default_project(org).await;
    let (_, html) = playground(&t, &ada).await;
    let csrf = page_csrf(&html);

    // No credit: 402 in OpenAI's shape, with a message the page shows.
    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&project, MODEL)).await;
    assert_eq!(a.status, 402, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], "insufficient_quota");
    assert!(a.json()["error"]["message"].as_str().unwrap().len() > 10);

    gateway_common::grant(&t, org, 5_000_000).await;
    let balance = t.app.store.credit_account(org).await.unwrap().balance;

    // Forged or missing CSRF token, or no Origin of this site: 403, nothing sent upstream.
    let forged = chat_with(&t, &ada.client, org, "forged", &hello(&project, MODEL)).await;
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["error"]["code"], "csrf");
    let bare = t.bare_client();
    let r = bare
        .post(t.url("/api/v1/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": tollgate_server::testing::PASSWORD}))
        .header("origin", &t.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let no_origin = chat_with(&t, &bare, org, &csrf, &hello(&project, MODEL)).await;
    assert_eq!(no_origin.status, 403, "no Origin: {}", no_origin.body);

    // Bad bodies: each a 400 that reaches no model.
    for (body, what) in [
        (
            json!({"project": project, "model": MODEL, "messages": []}),
            "no messages",
        ),
        (
            json!({"project": project, "model": MODEL, "messages": [{"role": "robot", "content": "x"}]}),
            "bad role",
        ),
        (
            json!({"project": project, "model": MODEL, "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens 0",
        ),
        (
            json!({"project": project, "model": MODEL, "max_tokens": 999_999_999, "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens too large",
        ),
        (
            json!({"project": project, "model": MODEL, "max_tokens": -1, "messages": [{"role": "user", "content": "x"}]}),
            "negative max_tokens",
        ),
        (json!({"project": project}), "missing fields"),
        (json!("not an object"), "not an object"),
    ] {
        let a = chat_with(&t, &ada.client, org, &csrf, &body).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert!(a.json()["error"]["message"].is_string(), "{what}");
    }
    let too_many: Vec<Value> = (0..201)
        .map(|_| json!({"role": "user", "content": "x"}))
        .collect();
    let a = chat_with(
        &t,
        &ada.client,
        org,
        &csrf,
        &json!({"project": project, "model": MODEL, "messages": too_many}),
    )
    .await;
    assert_eq!(a.status, 400);

    // Longer than the console takes (64 KiB): 413.
    let long = json!({"project": project, "model": MODEL,
                      "messages": [{"role": "user", "content": "word ".repeat(20_000)}]});
    let a = chat_with(&t, &ada.client, org, &csrf, &long).await;
    assert_eq!(a.status, 413);

    // Unknown model, unknown project, a project of another organization.
    let a = chat_with(
        &t,
        &ada.client,
        org,
        &csrf,
        &hello(&project, "no-such-model"),
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "model_not_found");
    let a = chat_with(&t, &ada.client, org, &csrf, &hello("prj_nope", MODEL)).await;
    assert_eq!(a.status, 404);
    let eve = t.sign_up("eve@example.com").await;
    let eve_project = t.default_project(&eve.org_id).await;
    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&eve_project, MODEL)).await;
    assert_eq!(a.status, 404);

    assert_eq!(usage_count(&t, org).await, 0, "no refused chat was metered");
    let now = t.app.store.credit_account(org).await.unwrap().balance;
    assert_eq!(now, balance, "no refused chat spent credit");

    // The project's allow-list applies: 403 model_not_allowed.
    t.app
        .set_project_models(
            &t.app.store.user(&ada.id.clone()).await.unwrap().unwrap(),
            &OrgId::parse(org).unwrap(),
            &ProjectId::parse(&project).unwrap(),
            Some(vec![OTHER.to_owned()]),
            &tollgate_server::auth::ClientInfo::default(),
        )
        .await
        .unwrap();
    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&project, MODEL)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], "model_not_allowed");
    let (_, html) = playground(&t, &ada).await;
    assert!(
        !html.contains(&format!("<option value=\"{MODEL}\"")),
        "only allowed models offered"
    );
    assert!(html.contains(&format!("<option value=\"{OTHER}\"")));

    // Rate limits apply: one request a minute, the second gets 429 with its reason.
    common::override_org_limits(
        &t,
        org,
        OTHER,
        RateLimits {
            rpm: Some(1),
            ..RateLimits::default()
        },
    )
    .await;
    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&project, OTHER)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&project, OTHER)).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], "rate_limit_exceeded");
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requests per minute"),
        "{}",
        a.body
    );
}

on_both_engines!(refusals_are_readable_and_change_nothing);

async fn only_those_who_may_use_keys_chat(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let project = t.default_project(org).await;
    gateway_common::grant(&t, org, 5_000_000).await;
    let lab = common::create_project(&t, &ada, org, "Lab").await;

    // Bob: a project member of Default (sees, may not use keys), project admin of Lab.
    let bob = t.sign_up("bob@example.com").await;
    t.add_member(
        org,
        &bob.id,
        &[
            (&project, ProjectRole::ProjectMember),
            (&lab, ProjectRole::ProjectAdmin),
        ],
    )
    .await;
    let (s, html) = bob
        .client
        .get(t.url(&format!("/o/{org}/playground")))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200);
    let html = html.text().await.unwrap();
    assert!(
        html.contains(&format!("<option value=\"{lab}\"")),
        "Lab offered"
    );
    assert!(
        !html.contains(&format!("<option value=\"{project}\"")),
        "Default not offered"
    );
    let csrf = page_csrf(&html);

    let a = chat_with(&t, &bob.client, org, &csrf, &hello(&project, MODEL)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("project admins"));
    let a = chat_with(&t, &bob.client, org, &csrf, &hello(&lab, MODEL)).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Carol: a project member only: the page says there is nothing to try.
    let carol = t.sign_up("carol@example.com").await;
    t.add_member(org, &carol.id, &[(&project, ProjectRole::ProjectMember)])
        .await;
    let r = carol
        .client
        .get(t.url(&format!("/o/{org}/playground")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"no-playground\""));

    // An archived project cannot be chatted in.
    let (_, html) = playground(&t, &ada).await;
    let csrf = page_csrf(&html);
    t.app
        .archive_project(
            &t.app.store.user(&ada.id.clone()).await.unwrap().unwrap(),
            &OrgId::parse(org).unwrap(),
            &ProjectId::parse(&lab).unwrap(),
            &tollgate_server::auth::ClientInfo::default(),
        )
        .await
        .unwrap();
    let a = chat_with(&t, &ada.client, org, &csrf, &hello(&lab, MODEL)).await;
    assert_eq!(a.status, 409, "{}", a.body);

    // Signed out: no chat.
    let anon = t.client();
    let a = chat_with(&t, &anon, org, &csrf, &hello(&project, MODEL)).await;
    assert!(a.status == 303 || a.status == 302, "{}", a.status);
    assert_eq!(usage_count(&t, org).await, 1, "only Bob's chat in Lab");
}

on_both_engines!(only_those_who_may_use_keys_chat);
