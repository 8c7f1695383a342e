#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Projects and project members through the JSON API, on both engines.

mod common;

use common::{create_key, create_project, models_with_key};
use serde_json::json;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

async fn projects_are_created_listed_renamed_and_archived(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let base = t.url(&format!("/api/v1/orgs/{}/projects", ada.org_id));
    let (s, list) = send(ada.client.get(&base)).await;
    assert_eq!(s, 200);
    assert_eq!(list["has_more"], false);
    let default = &list["data"][0];
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        (default["name"].as_str(), default["is_default"].as_bool()),
        (Some("Default"), Some(true))
    );

    t.clock.advance_ms(1);
    let (s, p) = send(ada.client.post(&base).json(&json!({"name": " Research "}))).await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["name"], "Research");
    assert_eq!(p["is_default"], false);
    assert_eq!(p["status"], "active");
    assert_eq!(p["role"], "project_admin");
    let id = p["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prj_"));
    let (s, got) = send(ada.client.get(format!("{base}/{id}"))).await;
    assert_eq!((s, &got), (200, &p));

    let (s, renamed) = send(
        ada.client
            .patch(format!("{base}/{id}"))
            .json(&json!({"name": "Lab"})),
    )
    .await;
    assert_eq!((s, renamed["name"].as_str()), (200, Some("Lab")));

    // Pages of one.
    let (_, first) = send(ada.client.get(format!("{base}?limit=1"))).await;
    assert_eq!(first["has_more"], true);
    assert_eq!(first["data"][0]["name"], "Default");
    let after = first["data"][0]["id"].as_str().unwrap();
    let (_, second) = send(ada.client.get(format!("{base}?limit=1&after={after}"))).await;
    assert_eq!(second["has_more"], false);
    assert_eq!(second["data"][0]["name"], "Lab");

    let (s, archived) = send(ada.client.post(format!("{base}/{id}/archive"))).await;
    assert_eq!(s, 200, "{archived}");
    assert_eq!(archived["status"], "archived");
    assert!(archived["archived_at"].is_string());
    for (req, what) in [
        (
            ada.client.post(format!("{base}/{id}/archive")),
            "archive again",
        ),
        (
            ada.client
                .patch(format!("{base}/{id}"))
                .json(&json!({"name": "Again"})),
            "rename archived",
        ),
    ] {
        let (s, e) = send(req).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (409, Some("project_archived")),
            "{what}"
        );
    }
    let default_id = default["id"].as_str().unwrap();
    let (s, e) = send(ada.client.post(format!("{base}/{default_id}/archive"))).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("default_project"))
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("Default"));
    let (_, list) = send(ada.client.get(&base)).await;
    assert_eq!(list["data"][0]["status"], "active", "Default unchanged");

    let mut log = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        log.pop().map(|e| e.action),
        Some("organization.create".into())
    );
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["project.archive", "project.rename", "project.create"]
    );
    assert!(log.iter().all(|e| e.target_id == id
        && e.actor_id.as_deref() == Some(ada.id.as_str())
        && e.ip.as_deref() == Some("127.0.0.1")));
}

async fn bad_project_input_is_refused_and_changes_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let base = t.url(&format!("/api/v1/orgs/{}/projects", ada.org_id));
    t.clock.advance_ms(1);
    let real = create_project(&t, &ada, &ada.org_id, "Real").await;
    let audit_before = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(50))
        .await
        .unwrap()
        .len();
    for (body, status, code) in [
        (json!({"name": ""}), 422, "validation_failed"),
        (json!({"name": "   "}), 422, "validation_failed"),
        (json!({"name": "x".repeat(101)}), 422, "validation_failed"),
        (json!({"name": "a\u{0}b"}), 422, "validation_failed"),
        (json!({}), 422, "invalid_body"),
        (json!({"name": 5}), 422, "invalid_body"),
        (json!({"name": "ok", "extra": 1}), 422, "invalid_body"),
    ] {
        let (s, e) = send(ada.client.post(&base).json(&body)).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (status, Some(code)),
            "POST {body}"
        );
        let (s, e) = send(ada.client.patch(format!("{base}/{real}")).json(&body)).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (status, Some(code)),
            "PATCH {body}"
        );
    }
    let bobs = t.default_project(&bob.org_id).await;
    for id in [
        "prj_0123456789abcdef01234567",
        bobs.as_str(),
        "nonsense",
        "%00",
        "prj_%00",
        &"p".repeat(5000),
    ] {
        let (s, _) = send(ada.client.get(format!("{base}/{id}"))).await;
        assert_eq!(s, 404, "GET {id:.40}");
        let (s, _) = send(
            ada.client
                .patch(format!("{base}/{id}"))
                .json(&json!({"name": "Mine"})),
        )
        .await;
        assert_eq!(s, 404, "PATCH {id:.40}");
        let (s, _) = send(ada.client.post(format!("{base}/{id}/archive"))).await;
        assert_eq!(s, 404, "archive {id:.40}");
        let (s, _) = send(ada.client.get(format!("{base}/{id}/api-keys"))).await;
        assert_eq!(s, 404, "keys of {id:.40}");
    }
    for (query, status) in [
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=x", 400),
        ("after=prj_0123456789abcdef01234567", 400),
        ("after=%00", 400),
        ("after=prj_%00", 400),
        (&format!("after={bobs}"), 400),
    ] {
        let (s, e) = send(ada.client.get(format!("{base}?{query}"))).await;
        assert_eq!(s, status, "?{query}: {e}");
        assert!(e["error"]["code"].is_string(), "?{query}: {e}");
    }
    let (_, bob_view) = send(
        bob.client
            .get(t.url(&format!("/api/v1/orgs/{}/projects/{bobs}", bob.org_id))),
    )
    .await;
    assert_eq!(bob_view["name"], "Default", "other org's project untouched");
    let (_, list) = send(ada.client.get(&base)).await;
    assert_eq!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Default", "Real"]
    );
    assert_eq!(
        t.app
            .store
            .audit_log(&ada.org_id, tollgate_store::PageRequest::first(50))
            .await
            .unwrap()
            .len(),
        audit_before
    );
}

async fn archiving_a_project_disables_its_keys_at_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = create_project(&t, &ada, &ada.org_id, "Doomed").await;
    let (_, key) = create_key(&t, &ada, &ada.org_id, &project).await;
    let (s, _) = models_with_key(&t, &key).await;
    assert_eq!(s, 200);
    let (s, _) = send(ada.client.post(t.url(&format!(
        "/api/v1/orgs/{}/projects/{project}/archive",
        ada.org_id
    ))))
    .await;
    assert_eq!(s, 200);
    let (s, e) = models_with_key(&t, &key).await;
    common::assert_openai_401(s, &e, "key of an archived project");
    assert!(e["error"]["message"].as_str().unwrap().contains("archived"));
    let (s, e) = send(
        ada.client
            .post(t.url(&format!(
                "/api/v1/orgs/{}/projects/{project}/api-keys",
                ada.org_id
            )))
            .json(&json!({"name": "late"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("project_archived"))
    );
}

async fn a_member_whose_only_project_is_archived_loses_access(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let only = create_project(&t, &ada, &ada.org_id, "Only").await;
    t.add_member(&ada.org_id, &bob.id, &[(&only, ProjectRole::ProjectMember)])
        .await;
    let org_url = t.url(&format!("/api/v1/orgs/{}", ada.org_id));
    let (s, _) = send(bob.client.get(&org_url)).await;
    assert_eq!(s, 200);

    send(
        ada.client
            .post(format!("{org_url}/projects/{only}/archive")),
    )
    .await;
    let (s, _) = send(bob.client.get(&org_url)).await;
    assert_eq!(s, 404, "no active project, no access");
    let (s, _) = send(bob.client.get(format!("{org_url}/projects"))).await;
    assert_eq!(s, 404);
    let (_, me) = send(bob.client.get(t.url("/api/v1/me"))).await;
    assert!(
        me["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != ada.org_id.as_str()),
        "{me}"
    );

    // An org admin assigns another project: access is back.
    let default = t.default_project(&ada.org_id).await;
    let (s, m) = send(
        ada.client
            .put(format!("{org_url}/projects/{default}/members/{}", bob.id))
            .json(&json!({"role": "project_member"})),
    )
    .await;
    assert_eq!(s, 200, "{m}");
    let (s, org) = send(bob.client.get(&org_url)).await;
    assert_eq!((s, org["role"].as_str()), (200, Some("member")));
}

async fn project_members_are_added_changed_and_removed(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let carol = t.sign_up("carol@example.com").await;
    let stranger = t.sign_up("stranger@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    let p = create_project(&t, &ada, &ada.org_id, "P").await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectMember)],
    )
    .await;
    t.add_member(
        &ada.org_id,
        &carol.id,
        &[(&default, ProjectRole::ProjectMember)],
    )
    .await;
    let members = t.url(&format!("/api/v1/orgs/{}/projects/{p}/members", ada.org_id));

    let (s, m) = send(
        ada.client
            .put(format!("{members}/{}", bob.id))
            .json(&json!({"role": "project_member"})),
    )
    .await;
    assert_eq!(
        (s, m["role"].as_str(), m["email"].as_str()),
        (200, Some("project_member"), Some("bob@example.com"))
    );
    // Bob, a project member, may look but not change.
    let (s, list) = send(bob.client.get(&members)).await;
    assert_eq!((s, list["data"].as_array().unwrap().len()), (200, 1));
    let (s, e) = send(
        bob.client
            .put(format!("{members}/{}", carol.id))
            .json(&json!({"role": "project_member"})),
    )
    .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("project admins"));

    // Promoted to project admin, he adds Carol, changes and removes her.
    let (s, _) = send(
        ada.client
            .put(format!("{members}/{}", bob.id))
            .json(&json!({"role": "project_admin"})),
    )
    .await;
    assert_eq!(s, 200);
    for role in ["project_member", "project_admin"] {
        let (s, m) = send(
            bob.client
                .put(format!("{members}/{}", carol.id))
                .json(&json!({ "role": role })),
        )
        .await;
        assert_eq!((s, m["role"].as_str()), (200, Some(role)));
    }
    let (_, list) = send(bob.client.get(&members)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (s, _) = send(bob.client.delete(format!("{members}/{}", carol.id))).await;
    assert_eq!(s, 204);
    let (s, _) = send(bob.client.delete(format!("{members}/{}", carol.id))).await;
    assert_eq!(s, 404);

    // Bad input: changes nothing.
    let audit_before = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(50))
        .await
        .unwrap()
        .len();
    for (user, body, status) in [
        (stranger.id.as_str(), json!({"role": "project_member"}), 404),
        (
            "usr_0123456789abcdef01234567",
            json!({"role": "project_member"}),
            404,
        ),
        ("nonsense", json!({"role": "project_member"}), 404),
        (ada.id.as_str(), json!({"role": "project_member"}), 400),
        (carol.id.as_str(), json!({"role": "owner"}), 422),
        (carol.id.as_str(), json!({"role": "org_admin"}), 422),
        (carol.id.as_str(), json!({}), 422),
        (
            carol.id.as_str(),
            json!({"role": "project_member", "x": 1}),
            422,
        ),
    ] {
        let (s, e) = send(ada.client.put(format!("{members}/{user}")).json(&body)).await;
        assert_eq!(s, status, "PUT {user} {body}: {e}");
    }
    let (_, list) = send(ada.client.get(&members)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "only Bob");
    assert_eq!(
        t.app
            .store
            .audit_log(&ada.org_id, tollgate_store::PageRequest::first(50))
            .await
            .unwrap()
            .len(),
        audit_before
    );

    let log = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(50))
        .await
        .unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        &actions[..3],
        [
            "project.member.remove",
            "project.member.set",
            "project.member.set"
        ]
    );
    assert_eq!(log[0].actor_id.as_deref(), Some(bob.id.as_str()));
    assert!(log[0].details.contains(carol.id.as_str()));
}

async fn members_see_only_their_assigned_projects(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let p = create_project(&t, &ada, &ada.org_id, "P").await;
    let q = create_project(&t, &ada, &ada.org_id, "Q").await;
    create_key(&t, &ada, &ada.org_id, &q).await;
    t.add_member(&ada.org_id, &bob.id, &[(&p, ProjectRole::ProjectMember)])
        .await;
    let base = t.url(&format!("/api/v1/orgs/{}/projects", ada.org_id));
    let (s, list) = send(bob.client.get(&base)).await;
    assert_eq!(s, 200);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(
        (data[0]["id"].as_str(), data[0]["role"].as_str()),
        (Some(p.as_str()), Some("project_member"))
    );
    for path in [
        format!("{base}/{q}"),
        format!("{base}/{q}/api-keys"),
        format!("{base}/{q}/members"),
    ] {
        let (s, _) = send(bob.client.get(&path)).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = send(bob.client.get(format!("{base}?after={q}"))).await;
    assert_eq!(s, 400, "a cursor the caller cannot see is no cursor");
    for list in ["members", "api-keys"] {
        for after in [
            "%00",
            "usr_0123456789abcdef01234567",
            "key_0123456789abcdef01234567",
        ] {
            let (s, e) = send(ada.client.get(format!("{base}/{p}/{list}?after={after}"))).await;
            assert_eq!(s, 400, "{list} after {after}: {e}");
        }
    }
    let (_, all) = send(ada.client.get(&base)).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
}

on_both_engines!(
    projects_are_created_listed_renamed_and_archived,
    bad_project_input_is_refused_and_changes_nothing,
    archiving_a_project_disables_its_keys_at_once,
    a_member_whose_only_project_is_archived_loses_access,
    project_members_are_added_changed_and_removed,
    members_see_only_their_assigned_projects,
);
