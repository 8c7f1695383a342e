#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Ids in paths are parsed once by each surface's extractor (`ApiPath`, `PagePath`): a
//! malformed organization id, or a project id where the organization's goes, gets the 404 it
//! got when the service checked each id's shape, in each surface's own shape.

use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

async fn malformed_and_misplaced_ids_get_each_surfaces_404(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;

    let api_cases = [
        // A malformed organization id.
        "/api/v1/orgs/org_xyz".to_owned(),
        "/api/v1/orgs/ORG_XYZ/projects".to_owned(),
        // A (real) project id in the organization's place.
        format!("/api/v1/orgs/{project}"),
        format!("/api/v1/orgs/{project}/projects/{project}"),
        // The organization's id in the project's place, and a malformed project id.
        format!("/api/v1/orgs/{}/projects/{}", ada.org_id, ada.org_id),
        format!("/api/v1/orgs/{}/projects/prj_nope/api-keys", ada.org_id),
        format!("/api/v1/orgs/{}/projects/prj_nope/spend-limit", ada.org_id),
        "/api/v1/orgs/org_xyz/spend-limit".to_owned(),
    ];
    for path in &api_cases {
        let r = ada.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        let expected = if path.contains("/projects/") && !path.contains(&format!("orgs/{project}"))
        {
            "Project not found"
        } else {
            "Organization not found"
        };
        assert_eq!(message, expected, "{path}");
    }

    // Not signed in: 401 before any id is looked at, as before.
    let r = t
        .bare_client()
        .get(t.url(&format!("/api/v1/orgs/{project}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A well-formed organization that is not the caller's is checked before a malformed
    // project id after it: the organization's 404.
    let bob = t.sign_up("bob@example.com").await;
    let r = bob
        .client
        .get(t.url(&format!("/api/v1/orgs/{}/projects/prj_nope", ada.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Organization not found", "{body}");

    let console_cases = [
        "/o/org_xyz".to_owned(),
        format!("/o/{project}"),
        format!("/o/{project}/projects"),
        format!("/o/{}/projects/{}", ada.org_id, ada.org_id),
        format!("/o/{}/projects/prj_nope", ada.org_id),
    ];
    for path in &console_cases {
        let r = ada.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(html.contains("<h1>Not found</h1>"), "{path}: {html}");
    }

    // Not signed in: the login page, as before.
    let r = t
        .bare_client()
        .get(t.url(&format!("/o/{project}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

on_both_engines!(malformed_and_misplaced_ids_get_each_surfaces_404);
