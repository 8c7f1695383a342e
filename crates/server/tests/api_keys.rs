#![allow(clippy::unwrap_used, clippy::expect_used)]

//! API keys through the JSON API, and key authentication at the gateway, on both engines.

mod common;

use std::time::Duration;

use common::{assert_openai_401, create_key, create_project, eventually, models_with_key};
use serde_json::json;
use tollgate_domain::api_key::PresentedKey;
use tollgate_domain::{secret, ProjectRole};
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

async fn a_key_is_shown_once_and_listed_masked(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let keys = t.url(&format!(
        "/api/v1/orgs/{}/projects/{project}/api-keys",
        ada.org_id
    ));
    let response = ada
        .client
        .post(&keys)
        .json(&json!({"name": " CI pipeline "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: serde_json::Value = response.json().await.unwrap();
    let full = created["key"].as_str().unwrap();
    let presented = PresentedKey::parse(full).expect("tg-<public id>-<secret>");
    assert!(created["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(created["name"], "CI pipeline");
    assert_eq!(created["created_by"]["email"], "ada@example.com");
    assert!(created["last_used_at"].is_null());
    let preview = created["preview"].as_str().unwrap();
    assert!(preview.starts_with(&format!("tg-{}-", presented.public_id)));
    assert!(!preview.contains(presented.secret));

    // The list shows everything but the secret.
    let listed = ada
        .client
        .get(&keys)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(presented.secret), "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let item = &listed["data"][0];
    assert!(item.get("key").is_none());
    assert_eq!(
        (item["id"].clone(), item["preview"].as_str()),
        (created["id"].clone(), Some(preview))
    );
    assert_eq!(item["created_by"]["email"], "ada@example.com");
    assert!(item["created_at"].is_string());

    // Stored: the public id and the SHA-256 of the secret, never the secret.
    let creds = t
        .app
        .store
        .key_credentials(presented.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.secret_hash, secret::digest(presented.secret));

    // It works at the gateway, and "last used" is recorded.
    let (s, models) = models_with_key(&t, full).await;
    assert_eq!(s, 200, "{models}");
    assert_eq!(models["object"], "list");
    let first = &models["data"][0];
    assert_eq!(first["object"], "model");
    assert!(first["id"].is_string() && first["created"].is_i64() && first["owned_by"].is_string());
    eventually(Duration::from_secs(5), || async {
        let (_, l) = send(ada.client.get(&keys)).await;
        l["data"][0]["last_used_at"].is_string()
    })
    .await;

    let log = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(log[0].action, "api_key.create");
    assert_eq!(log[0].target_id, created["id"].as_str().unwrap());
    assert!(!log[0].details.contains(presented.secret));
}

async fn a_revoked_key_is_rejected_on_the_next_request(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (id, key) = create_key(&t, &ada, &ada.org_id, &project).await;
    let (other_id, other_key) = create_key(&t, &ada, &ada.org_id, &project).await;
    // Used a few times: it is in memory now.
    for _ in 0..3 {
        assert_eq!(models_with_key(&t, &key).await.0, 200);
    }
    let url = t.url(&format!(
        "/api/v1/orgs/{}/projects/{project}/api-keys/{id}",
        ada.org_id
    ));
    let (s, _) = send(ada.client.delete(&url)).await;
    assert_eq!(s, 204);
    let (s, e) = models_with_key(&t, &key).await;
    assert_openai_401(s, &e, "revoked key");
    assert!(e["error"]["message"].as_str().unwrap().contains("revoked"));
    assert_eq!(
        models_with_key(&t, &other_key).await.0,
        200,
        "other keys keep working"
    );
    let (s, _) = send(ada.client.delete(&url)).await;
    assert_eq!(s, 404, "revoked twice");
    let (_, list) = send(ada.client.get(t.url(&format!(
        "/api/v1/orgs/{}/projects/{project}/api-keys",
        ada.org_id
    ))))
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], other_id.as_str());
    let log = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].target_id.as_str()),
        ("api_key.revoke", id.as_str())
    );
}

async fn keys_of_another_project_or_organization_are_not_found(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let p = t.default_project(&ada.org_id).await;
    let q = create_project(&t, &ada, &ada.org_id, "Q").await;
    let bobs = t.default_project(&bob.org_id).await;
    let (id, key) = create_key(&t, &ada, &ada.org_id, &p).await;
    for (client, org, project) in [
        (&ada.client, &ada.org_id, &q),
        (&bob.client, &ada.org_id, &p),
        (&bob.client, &bob.org_id, &bobs),
        (&ada.client, &bob.org_id, &bobs),
    ] {
        let (s, _) = send(client.delete(t.url(&format!(
            "/api/v1/orgs/{org}/projects/{project}/api-keys/{id}"
        ))))
        .await;
        assert_eq!(s, 404, "{org} / {project}");
    }
    for bad in ["key_0123456789abcdef01234567", "nonsense", "%00", "key_%00"] {
        let (s, _) = send(ada.client.delete(t.url(&format!(
            "/api/v1/orgs/{}/projects/{p}/api-keys/{bad}",
            ada.org_id
        ))))
        .await;
        assert_eq!(s, 404, "{bad}");
    }
    assert_eq!(
        models_with_key(&t, &key).await.0,
        200,
        "nothing was revoked"
    );
    let (s, _) = send(bob.client.get(t.url(&format!(
        "/api/v1/orgs/{}/projects/{p}/api-keys",
        ada.org_id
    ))))
    .await;
    assert_eq!(s, 404);
    for body in [
        json!({"name": ""}),
        json!({"name": "k".repeat(101)}),
        json!({}),
        json!({"name": ["x"]}),
    ] {
        let (s, _) = send(
            ada.client
                .post(t.url(&format!(
                    "/api/v1/orgs/{}/projects/{p}/api-keys",
                    ada.org_id
                )))
                .json(&body),
        )
        .await;
        assert_eq!(s, 422, "{body}");
    }
    let (_, list) = send(ada.client.get(t.url(&format!(
        "/api/v1/orgs/{}/projects/{p}/api-keys",
        ada.org_id
    ))))
    .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "no key was added"
    );
}

async fn malformed_keys_of_every_shape_get_401(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (_, key) = create_key(&t, &ada, &ada.org_id, &project).await;
    let public_id = &key[3..19];
    let wrong_secret = format!("tg-{public_id}-{}", "0".repeat(64));
    let unknown = format!("tg-{}-{}", "f".repeat(16), &key[20..]);
    let c = reqwest::Client::new();
    let url = t.url("/v1/models");
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("no header", c.get(&url)),
        ("basic auth", c.get(&url).basic_auth("user", Some(&key))),
        (
            "bearer without key",
            c.get(&url).header("authorization", "Bearer"),
        ),
        (
            "bearer empty",
            c.get(&url).header("authorization", "Bearer "),
        ),
        (
            "key without scheme",
            c.get(&url).header("authorization", key.as_str()),
        ),
        ("too short", c.get(&url).bearer_auth(&key[..40])),
        ("one too many", c.get(&url).bearer_auth(format!("{key}0"))),
        (
            "wrong prefix",
            c.get(&url).bearer_auth(key.replacen("tg-", "sk-", 1)),
        ),
        ("upper case", c.get(&url).bearer_auth(key.to_uppercase())),
        (
            "bad characters",
            c.get(&url)
                .bearer_auth(format!("{}z{}", &key[..30], &key[31..])),
        ),
        (
            "very long",
            c.get(&url)
                .bearer_auth("tg-".to_owned() + &"a".repeat(8000)),
        ),
        (
            "not utf-8",
            c.get(&url).header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(b"Bearer tg-\xff\xfe").unwrap(),
            ),
        ),
        ("wrong secret", c.get(&url).bearer_auth(&wrong_secret)),
        ("unknown public id", c.get(&url).bearer_auth(&unknown)),
    ];
    for (what, request) in cases {
        let (s, body) = send(request).await;
        assert_openai_401(s, &body, what);
    }
    // Unknown ids are remembered, within bounds; malformed ones are not even looked up.
    assert!(t.app.keys.cache().unknown_len() <= 1);
    assert_eq!(
        models_with_key(&t, &key).await.0,
        200,
        "the real key still works"
    );
    let (s, e) = send(c.get(t.url("/v1/nothing-here")).bearer_auth(&key)).await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (404, Some("invalid_request_error"))
    );
}

async fn last_used_is_written_at_most_once_a_minute(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (_, key) = create_key(&t, &ada, &ada.org_id, &project).await;
    let public_id = key[3..19].to_owned();
    let last_used = || {
        let store = t.app.store.clone();
        let public_id = public_id.clone();
        async move {
            store
                .key_credentials(&public_id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
        }
    };
    let t0 = t.app.now();
    assert_eq!(models_with_key(&t, &key).await.0, 200);
    eventually(Duration::from_secs(5), || async {
        last_used().await == Some(t0)
    })
    .await;
    t.clock.advance_ms(30_000);
    for _ in 0..5 {
        assert_eq!(models_with_key(&t, &key).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(last_used().await, Some(t0), "not again within the minute");
    t.clock.advance_ms(31_000);
    assert_eq!(models_with_key(&t, &key).await.0, 200);
    eventually(Duration::from_secs(5), || async {
        last_used().await == Some(t0 + 61_000)
    })
    .await;
}

async fn a_second_process_rejects_a_revoked_key_within_a_second(engine: Engine) {
    let a = TestApp::spawn(engine).await;
    let b = a.spawn_sharing().await;
    let ada = a.sign_up("ada@example.com").await;
    let project = a.default_project(&ada.org_id).await;
    let (id, key) = create_key(&a, &ada, &ada.org_id, &project).await;
    let (other_id, other_key) = create_key(&a, &ada, &ada.org_id, &project).await;
    // B has both keys in memory, and trusts its memory.
    eventually(Duration::from_secs(2), || async {
        b.app.keys.cache().is_trusted()
    })
    .await;
    for k in [&key, &other_key] {
        assert_eq!(models_with_key(&b, k).await.0, 200);
    }
    assert_eq!(b.app.keys.cache().len(), 2);
    let (s, _) = send(ada.client.delete(a.url(&format!(
        "/api/v1/orgs/{}/projects/{project}/api-keys/{id}",
        ada.org_id
    ))))
    .await;
    assert_eq!(s, 204);
    let took = eventually(Duration::from_secs(1), || async {
        models_with_key(&b, &key).await.0 == 401
    })
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        models_with_key(&b, &other_key).await.0,
        200,
        "only that key was dropped"
    );
    let _ = other_id;

    // Suspending the organization (an operator action, straight in the database) stops its
    // keys in both processes; resuming brings them back.
    a.app
        .store
        .set_org_suspended(&ada.org_id, Some(a.app.now()), a.app.now())
        .await
        .unwrap();
    for server in [&a, &b] {
        eventually(Duration::from_secs(1), || async {
            models_with_key(server, &other_key).await.0 == 401
        })
        .await;
    }
    a.app
        .store
        .set_org_suspended(&ada.org_id, None, a.app.now())
        .await
        .unwrap();
    for server in [&a, &b] {
        eventually(Duration::from_secs(1), || async {
            models_with_key(server, &other_key).await.0 == 200
        })
        .await;
    }
    // Archiving the project, done on B, reaches A.
    create_project(&a, &ada, &ada.org_id, "Spare").await;
    let p2 = create_project(&a, &ada, &ada.org_id, "Two").await;
    let (_, k2) = create_key(&a, &ada, &ada.org_id, &p2).await;
    assert_eq!(models_with_key(&a, &k2).await.0, 200);
    let ada_on_b = b.client();
    let (s, _) = send(ada_on_b.post(b.url("/api/v1/auth/login")).json(
        &json!({"email": "ada@example.com", "password": tollgate_server::testing::PASSWORD}),
    ))
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(ada_on_b.post(b.url(&format!(
        "/api/v1/orgs/{}/projects/{p2}/archive",
        ada.org_id
    ))))
    .await;
    assert_eq!(s, 200);
    eventually(Duration::from_secs(1), || async {
        models_with_key(&a, &k2).await.0 == 401
    })
    .await;
}

async fn project_roles_decide_who_manages_keys(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let carol = t.sign_up("carol@example.com").await;
    let p = create_project(&t, &ada, &ada.org_id, "P").await;
    t.add_member(&ada.org_id, &bob.id, &[(&p, ProjectRole::ProjectAdmin)])
        .await;
    t.add_member(&ada.org_id, &carol.id, &[(&p, ProjectRole::ProjectMember)])
        .await;
    let (bobs_key_id, bobs_key) = create_key(&t, &bob, &ada.org_id, &p).await;
    assert_eq!(models_with_key(&t, &bobs_key).await.0, 200);
    let keys = t.url(&format!(
        "/api/v1/orgs/{}/projects/{p}/api-keys",
        ada.org_id
    ));
    let (s, list) = send(carol.client.get(&keys)).await;
    assert_eq!(
        (s, list["data"][0]["created_by"]["email"].as_str()),
        (200, Some("bob@example.com"))
    );
    // A project member creates keys of their own and revokes those, not anyone else's.
    let (carols_key_id, carols_key) = create_key(&t, &carol, &ada.org_id, &p).await;
    assert_eq!(models_with_key(&t, &carols_key).await.0, 200);
    let (s, e) = send(carol.client.delete(format!("{keys}/{bobs_key_id}"))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(models_with_key(&t, &bobs_key).await.0, 200);
    let (s, list) = send(carol.client.get(&keys)).await;
    assert_eq!((s, list["data"].as_array().map(Vec::len)), (200, Some(2)));
    let (s, _) = send(carol.client.delete(format!("{keys}/{carols_key_id}"))).await;
    assert_eq!(s, 204);
    assert_eq!(models_with_key(&t, &carols_key).await.0, 401);
    // The project's admin revokes a member's key.
    let (carols_key_id, carols_key) = create_key(&t, &carol, &ada.org_id, &p).await;
    let (s, _) = send(bob.client.delete(format!("{keys}/{carols_key_id}"))).await;
    assert_eq!(s, 204);
    assert_eq!(models_with_key(&t, &carols_key).await.0, 401);
}

/// DESIGN §2: a project member's own keys are revoked when they lose access to the project —
/// removed from it, or from the organization — each revocation audit-logged.
async fn a_members_own_keys_go_when_they_lose_access(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let carol = t.sign_up("carol@example.com").await;
    let org = &ada.org_id;
    let p = create_project(&t, &ada, org, "P").await;
    let q = create_project(&t, &ada, org, "Q").await;
    t.add_member(
        org,
        &carol.id,
        &[
            (&p, ProjectRole::ProjectMember),
            (&q, ProjectRole::ProjectAdmin),
        ],
    )
    .await;
    let (in_p_id, in_p) = create_key(&t, &carol, org, &p).await;
    let (in_q_id, in_q) = create_key(&t, &carol, org, &q).await;
    let (_, adas) = create_key(&t, &ada, org, &p).await;
    for key in [&in_p, &in_q, &adas] {
        assert_eq!(models_with_key(&t, key).await.0, 200);
    }

    // Removed from P: her key there stops at once; her key in Q and Ada's key in P keep working.
    let (s, _) = send(ada.client.delete(t.url(&format!(
        "/api/v1/orgs/{org}/projects/{p}/members/{}",
        carol.id
    ))))
    .await;
    assert_eq!(s, 204);
    let (s, e) = models_with_key(&t, &in_p).await;
    assert_openai_401(s, &e, "key of a member removed from the project");
    assert_eq!(models_with_key(&t, &in_q).await.0, 200);
    assert_eq!(models_with_key(&t, &adas).await.0, 200);
    let log = t
        .app
        .store
        .audit_log(org, tollgate_store::PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].target_id.as_str()),
        ("api_key.revoke", in_p_id.as_str())
    );
    assert!(
        log[0].details.contains("removed_from_project") && log[0].details.contains(p.as_str()),
        "{}",
        log[0].details
    );
    assert_eq!(log[0].actor_email.as_deref(), Some("ada@example.com"));
    assert_eq!(log[1].action, "project.member.remove");

    // Removed from the organization: her keys in every project go (a project admin's too).
    let (s, _) = send(
        ada.client
            .delete(t.url(&format!("/api/v1/orgs/{org}/members/{}", carol.id))),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(models_with_key(&t, &in_q).await.0, 401);
    assert_eq!(models_with_key(&t, &adas).await.0, 200);
    let log = t
        .app
        .store
        .audit_log(org, tollgate_store::PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].target_id.as_str()),
        ("api_key.revoke", in_q_id.as_str())
    );
    assert!(log[0].details.contains("removed_from_organization"));
    let (_, list) = send(
        ada.client
            .get(t.url(&format!("/api/v1/orgs/{org}/projects/{q}/api-keys"))),
    )
    .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "{list}");
}

on_both_engines!(
    a_key_is_shown_once_and_listed_masked,
    a_revoked_key_is_rejected_on_the_next_request,
    keys_of_another_project_or_organization_are_not_found,
    malformed_keys_of_every_shape_get_401,
    last_used_is_written_at_most_once_a_minute,
    a_second_process_rejects_a_revoked_key_within_a_second,
    project_roles_decide_who_manages_keys,
    a_members_own_keys_go_when_they_lose_access,
);
