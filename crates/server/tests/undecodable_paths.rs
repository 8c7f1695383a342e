#![allow(clippy::unwrap_used, clippy::expect_used)]

//! A path whose escapes are not UTF-8 is answered in each surface's own error shape, never
//! axum's text/plain (issue 9).

use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

async fn bad_escapes_answer_each_surfaces_error(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;

    let r = ada
        .client
        .get(t.url("/api/v1/orgs/%ff"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_path", "{body}");
    assert!(body["error"]["message"].is_string());

    let r = t
        .bare_client()
        .get(t.url("/v1/models/%c3%28"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert_eq!(body["error"]["code"], "invalid_url");

    let r = ada
        .client
        .get(t.url(&format!("/o/{}/%ff", ada.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("not valid UTF-8"));

    // Escapes that decode are routed as before.
    let r = ada
        .client
        .get(t.url(&format!("/api/v1/orgs/{}", ada.org_id.replace('_', "%5F"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

on_both_engines!(bad_escapes_answer_each_surfaces_error);
