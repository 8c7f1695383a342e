//! Helpers shared by the API tests of projects, keys and the gateway.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_server::testing::{send, TestApp, TestUser};

pub async fn create_project(t: &TestApp, admin: &TestUser, org_id: &str, name: &str) -> String {
    let (s, p) = send(
        admin
            .client
            .post(t.url(&format!("/api/v1/orgs/{org_id}/projects")))
            .json(&json!({ "name": name })),
    )
    .await;
    assert_eq!(s, 201, "create project: {p}");
    p["id"].as_str().unwrap().to_owned()
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
