#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Where members meet projects: invitations with project roles give those projects on
//! acceptance; an org admin demoted to member keeps access through the Default project.

mod common;

use common::create_project;
use serde_json::{json, Value};
use tollgate_domain::OrgRole;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

async fn invite(t: &TestApp, admin: &TestUser, body: Value) -> (u16, Value) {
    send(
        admin
            .client
            .post(t.url(&format!("/api/v1/orgs/{}/invites", admin.org_id)))
            .json(&body),
    )
    .await
}

/// The invitation email to `to`: its token and its text.
async fn email_to(t: &TestApp, to: &str) -> (String, String) {
    let messages = t.app.store.outbox_messages(1000).await.unwrap();
    let m = messages.iter().find(|m| m.to == to).unwrap();
    let start = m.text_body.find("/invites/").unwrap() + "/invites/".len();
    (
        m.text_body[start..start + 64].to_owned(),
        m.text_body.clone(),
    )
}

async fn invitations_give_access_to_the_named_projects(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let stranger = t.sign_up("stranger@example.com").await;
    let p = create_project(&t, &ada, &ada.org_id, "Payments").await;
    let q = create_project(&t, &ada, &ada.org_id, "Quarantine").await;
    let archived = create_project(&t, &ada, &ada.org_id, "Old").await;
    send(ada.client.post(t.url(&format!(
        "/api/v1/orgs/{}/projects/{archived}/archive",
        ada.org_id
    ))))
    .await;
    let theirs = t.default_project(&stranger.org_id).await;

    // Projects must be active projects of this organization.
    for ids in [
        json!([archived]),
        json!([theirs]),
        json!([p, p]),
        json!(["nonsense"]),
    ] {
        let (s, e) = invite(
            &t,
            &ada,
            json!({"emails": ["x@example.com"], "role": "project_member", "project_ids": ids}),
        )
        .await;
        assert_eq!(s, 422, "{ids}: {e}");
    }

    let (s, body) = invite(
        &t,
        &ada,
        json!({"emails": ["grace@example.com"], "role": "project_admin", "project_ids": [p]}),
    )
    .await;
    assert!(s < 300, "{body}");
    let (token, text) = email_to(&t, "grace@example.com").await;
    assert!(
        text.contains("Payments"),
        "the email names the project: {text}"
    );
    let grace = t.sign_up("grace@example.com").await;
    let (s, joined) = send(
        grace
            .client
            .post(t.url(&format!("/api/v1/invites/{token}/accept"))),
    )
    .await;
    assert_eq!(s, 200, "{joined}");
    let (s, list) = send(
        grace
            .client
            .get(t.url(&format!("/api/v1/orgs/{}/projects", ada.org_id))),
    )
    .await;
    assert_eq!(s, 200);
    let seen: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("Payments", "project_admin")]);
    let (s, _) = send(
        grace
            .client
            .post(t.url(&format!(
                "/api/v1/orgs/{}/projects/{p}/api-keys",
                ada.org_id
            )))
            .json(&json!({"name": "grace's"})),
    )
    .await;
    assert_eq!(s, 201, "a project admin creates keys");

    // A project archived before acceptance: the acceptance is refused and changes nothing.
    invite(
        &t,
        &ada,
        json!({"emails": ["henry@example.com"], "role": "project_member", "project_ids": [q]}),
    )
    .await;
    let (token, _) = email_to(&t, "henry@example.com").await;
    send(
        ada.client
            .post(t.url(&format!("/api/v1/orgs/{}/projects/{q}/archive", ada.org_id))),
    )
    .await;
    let henry = t.sign_up("henry@example.com").await;
    let (s, e) = send(
        henry
            .client
            .post(t.url(&format!("/api/v1/invites/{token}/accept"))),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("project_archived"))
    );
    assert!(t
        .app
        .store
        .member(&ada.org_id, &henry.id.clone())
        .await
        .unwrap()
        .is_none());
}

async fn a_demoted_admin_keeps_access_through_the_default_project(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let ivan = t.sign_up("ivan@example.com").await;
    t.app
        .store
        .add_membership(
            &ada.org_id,
            &ivan.id.clone(),
            OrgRole::OrgAdmin,
            t.app.now(),
        )
        .await
        .unwrap();
    let (s, m) = send(
        ada.client
            .patch(t.url(&format!("/api/v1/orgs/{}/members/{}", ada.org_id, ivan.id)))
            .json(&json!({"role": "member"})),
    )
    .await;
    assert_eq!(s, 200, "{m}");
    let (s, org) = send(
        ivan.client
            .get(t.url(&format!("/api/v1/orgs/{}", ada.org_id))),
    )
    .await;
    assert_eq!((s, org["role"].as_str()), (200, Some("member")));
    let (_, list) = send(
        ivan.client
            .get(t.url(&format!("/api/v1/orgs/{}/projects", ada.org_id))),
    )
    .await;
    assert_eq!(list["data"][0]["name"], "Default");
    assert_eq!(list["data"][0]["role"], "project_member");
}

on_both_engines!(
    invitations_give_access_to_the_named_projects,
    a_demoted_admin_keeps_access_through_the_default_project,
);
