//! Helpers shared by the API tests of projects, keys and the gateway.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_server::testing::{send, TestApp, TestUser};

pub async fn create_project(
    t: &TestApp,
    admin: &TestUser,
    org_id: &str,
    name: &str,
) -> tollgate_domain::ProjectId {
    let (s, p) = send(
        admin
            .client
            .post(t.url(&format!("/api/v1/orgs/{org_id}/projects")))
            .json(&json!({ "name": name })),
    )
    .await;
    assert_eq!(s, 201, "create project: {p}");
    p["id"]
        .as_str()
        .and_then(tollgate_domain::ProjectId::parse)
        .unwrap()
}

/// Creates a key; returns its id and the full key.
pub async fn create_key(
    t: &TestApp,
    user: &TestUser,
    org_id: &str,
    project_id: &str,
) -> (String, String) {
    let (s, k) = send(
        user.client
            .post(t.url(&format!(
                "/api/v1/orgs/{org_id}/projects/{project_id}/api-keys"
            )))
            .json(&json!({"name": "test key"})),
    )
    .await;
    assert_eq!(s, 201, "create key: {k}");
    (
        k["id"].as_str().unwrap().to_owned(),
        k["key"].as_str().unwrap().to_owned(),
    )
}

/// `GET /v1/models` with `Authorization: Bearer <key>`.
pub async fn models_with_key(t: &TestApp, key: &str) -> (u16, Value) {
    send(
        reqwest::Client::new()
            .get(t.url("/v1/models"))
            .bearer_auth(key),
    )
    .await
}

/// Polls `check` until it is true; panics after `within`. Returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "not true within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn assert_openai_401(status: u16, body: &Value, context: &str) {
    assert_eq!(status, 401, "{context}: {body}");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{context}: {body}"
    );
    assert_eq!(e["type"], "invalid_request_error", "{context}");
    assert_eq!(e["code"], "invalid_api_key", "{context}");
    assert!(
        e.get("param").is_some_and(Value::is_null),
        "{context}: {body}"
    );
}

/// A console page as `user` sees it: status and HTML.
pub async fn get_page(t: &TestApp, user: &TestUser, path: &str) -> (u16, String) {
    let r = user.client.get(t.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The CSRF token of the first form on a page.
pub fn form_csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}

/// Posts a console form as `user`: status and body (redirects are not followed).
pub async fn post_form(
    t: &TestApp,
    user: &TestUser,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = user
        .client
        .post(t.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a console form as `user`: status, the `Location` it redirects to (not followed) and
/// the body.
pub async fn post_form_located(
    t: &TestApp,
    user: &TestUser,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let r = user
        .client
        .post(t.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, r.text().await.unwrap())
}

/// Sets an operator's override of `org`'s limits for `model`, as `tollgate admin limits set`
/// does, and makes this server read it at once.
pub async fn override_org_limits(
    t: &TestApp,
    org: &tollgate_domain::OrgId,
    model: &str,
    limits: tollgate_domain::limits::RateLimits,
) {
    t.app
        .store
        .set_org_model_limits(
            org,
            model,
            &limits,
            t.app.now(),
            tollgate_store::AuditEntry {
                actor_id: None,
                actor_email: None,
                action: "limits.override.set",
                target_type: "model",
                target_id: model,
                details: json!({}),
                ip: None,
            },
        )
        .await
        .unwrap();
    t.app.limits.settings.forget_org(org);
}
