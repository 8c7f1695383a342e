#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Organizations and settings through the JSON API, on both engines.

use serde_json::json;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

async fn create_list_and_read_organizations(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    t.clock.advance_ms(1);
    let (s, org) = send(
        ada.client
            .post(t.url("/api/v1/orgs"))
            .json(&json!({"name": " Acme "})),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["type"], "team");
    assert_eq!(org["role"], "org_admin");
    assert!(org["id"].as_str().unwrap().starts_with("org_"));

    let (_, me) = send(ada.client.get(t.url("/api/v1/me"))).await;
    let names: Vec<_> = me["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, [json!("Test User's organization"), json!("Acme")]);

    let (s, got) = send(
        ada.client
            .get(t.url(&format!("/api/v1/orgs/{}", org["id"].as_str().unwrap()))),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(got, org);
}

async fn other_organizations_are_not_found(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    for id in [
        bob.org_id.as_str(),
        "org_0123456789abcdef01234567",
        "nonsense",
        "%00",
    ] {
        let url = t.url(&format!("/api/v1/orgs/{id}"));
        let (s, body) = send(ada.client.get(&url)).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "GET {id}"
        );
        let (s, _) = send(ada.client.patch(&url).json(&json!({"name": "Mine now"}))).await;
        assert_eq!(s, 404, "PATCH {id}");
    }
    let (_, org) = send(
        bob.client
            .get(t.url(&format!("/api/v1/orgs/{}", bob.org_id))),
    )
    .await;
    assert_eq!(org["name"], "Test User's organization", "unchanged");
}

async fn admins_rename_and_the_rename_is_audited(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let url = t.url(&format!("/api/v1/orgs/{}", ada.org_id));
    let (s, org) = send(
        ada.client
            .patch(&url)
            .json(&json!({"name": "Analytical Engines"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(org["name"], "Analytical Engines");
    assert_eq!(org["type"], "personal");
    let log = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(log[0].action, "organization.rename");
    assert_eq!(log[0].actor_id.as_deref(), Some(ada.id.as_str()));
    assert_eq!(log[0].ip.as_deref(), Some("127.0.0.1"));
    // The personal organization's log starts with its creation, at sign-up (issue 14).
    let created = log.last().unwrap();
    assert_eq!(
        (created.action.as_str(), created.target_id.as_str()),
        ("organization.create", ada.org_id.as_str())
    );
    assert_eq!(created.actor_id.as_deref(), Some(ada.id.as_str()));
    assert_eq!(created.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(log.len(), 2);
}

async fn bad_renames_are_refused_and_change_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let url = t.url(&format!("/api/v1/orgs/{}", ada.org_id));
    let cases = [
        (json!({"type": "enterprise"}), 400, "read_only_field"),
        (
            json!({"name": "New", "type": "enterprise"}),
            400,
            "read_only_field",
        ),
        (json!({"name": ""}), 422, "validation_failed"),
        (json!({"name": "x".repeat(101)}), 422, "validation_failed"),
        (json!({"name": 7}), 422, "invalid_body"),
        (json!({}), 400, "nothing_to_update"),
        (json!({"nmae": "typo"}), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (s, err) = send(ada.client.patch(&url).json(&body)).await;
        assert_eq!(
            (s, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    let (s, _) = send(
        ada.client
            .patch(&url)
            .header("content-type", "application/json")
            .body("{name:"),
    )
    .await;
    assert_eq!(s, 400);
    let (_, org) = send(ada.client.get(&url)).await;
    assert_eq!(org["name"], "Test User's organization");
    assert_eq!(org["type"], "personal");
    let log = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["organization.create"], "no rename logged");
}

async fn members_see_settings_but_cannot_rename(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectMember)],
    )
    .await;
    let url = t.url(&format!("/api/v1/orgs/{}", ada.org_id));
    let (s, org) = send(bob.client.get(&url)).await;
    assert_eq!((s, org["role"].as_str()), (200, Some("member")));
    let (s, err) = send(bob.client.patch(&url).json(&json!({"name": "Bob's now"}))).await;
    assert_eq!((s, err["error"]["code"].as_str()), (403, Some("forbidden")));
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("organization admins"));
    let (_, org) = send(ada.client.get(&url)).await;
    assert_eq!(org["name"], "Test User's organization");
}

async fn bad_org_names_on_create_are_refused(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({}),
        json!({"name": null}),
    ] {
        let (s, _) = send(ada.client.post(t.url("/api/v1/orgs")).json(&body)).await;
        assert_eq!(s, 422, "{body}");
    }
    let (_, me) = send(ada.client.get(t.url("/api/v1/me"))).await;
    assert_eq!(me["organizations"].as_array().unwrap().len(), 1);
}

async fn openapi_health_and_metrics(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let c = t.client();
    let (s, doc) = send(c.get(t.url("/api/v1/openapi.json"))).await;
    assert_eq!(s, 200);
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/orgs",
        "/api/v1/orgs/{org}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/v1/orgs/{org}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    let (s, health) = send(c.get(t.url("/healthz"))).await;
    assert_eq!((s, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(
        health["database"],
        if engine == Engine::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );

    send(c.get(t.url("/api/v1/orgs/org_0123456789abcdef01234567"))).await;
    let metrics = c
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"tollgate_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/orgs/{org}",status="401""#),
        "route templates, not ids: {metrics}"
    );
    assert!(metrics.contains("tollgate_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("tollgate_db_pool_connections "));

    let (s, body) = send(c.get(t.url("/api/v1/nope"))).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (s, body) = send(c.delete(t.url("/api/v1/me"))).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

async fn healthz_reports_a_dead_database(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    t.app.store.close().await;
    let (s, health) = send(t.client().get(t.url("/healthz"))).await;
    assert_eq!((s, health["status"].as_str()), (503, Some("unavailable")));
}

on_both_engines!(
    create_list_and_read_organizations,
    other_organizations_are_not_found,
    admins_rename_and_the_rename_is_audited,
    bad_renames_are_refused_and_change_nothing,
    members_see_settings_but_cannot_rename,
    bad_org_names_on_create_are_refused,
    openapi_health_and_metrics,
    healthz_reports_a_dead_database,
);
