#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The invitation link's page for every kind of visitor and every state, and the Members and
//! Audit log entries of the navigation, over HTTP.

use serde_json::json;
use tollgate_domain::project::ProjectRole;
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[track_caller]
fn state_of(html: &str) -> &str {
    let at = html
        .find("data-state=\"")
        .unwrap_or_else(|| panic!("not an invitation page: {html}"))
        + "data-state=\"".len();
    &html[at..at + html[at..].find('"').unwrap()]
}

/// Invites `email` to Ada's organization and returns the link's path.
async fn link_for(t: &TestApp, admin: &tollgate_server::testing::TestUser, email: &str) -> String {
    let (s, _) = send(
        admin
            .client
            .post(t.url(&format!("/api/v1/orgs/{}/invites", admin.org_id)))
            .json(&json!({"emails": [email], "role": "org_admin"})),
    )
    .await;
    assert_eq!(s, 201);
    let messages = t.app.store.outbox_messages(100).await.unwrap();
    let body = &messages.iter().find(|m| m.to == email).unwrap().text_body;
    let at = body.find("/invites/").unwrap();
    body[at..at + "/invites/".len() + 64].to_owned()
}

async fn the_invitation_page_speaks_to_each_visitor(engine: Engine) {
    // Sessions outlive the eight days this test lets an invitation expire in.
    let t = TestApp::spawn_with(engine, |c| {
        c.session_idle = std::time::Duration::from_secs(30 * 24 * 3600)
    })
    .await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;

    // A visitor without an account is offered sign-up; with one, log-in.
    let new_link = link_for(&t, &ada, "new@example.com").await;
    let (s, html) = page(&t.client(), t.url(&new_link)).await;
    assert_eq!((s, state_of(&html)), (200, "needs_signup"));
    assert!(
        html.contains("Test User invited new@example.com") && html.contains("Organization Admin"),
        "who invited, and the role"
    );
    let bob_link = link_for(&t, &ada, "bob@example.com").await;
    let (_, html) = page(&t.client(), t.url(&bob_link)).await;
    assert_eq!(state_of(&html), "needs_login");
    // Another signed-in account is told so; the invited one may accept.
    let (_, html) = page(&ada.client, t.url(&bob_link)).await;
    assert_eq!(state_of(&html), "other_email");
    assert!(html.contains("You are signed in as"));
    let (_, html) = page(&bob.client, t.url(&bob_link)).await;
    assert_eq!(state_of(&html), "valid");

    // Sign-up through the link: the invited address is pre-filled and read-only.
    let token = new_link.trim_start_matches("/invites/");
    let (_, html) = page(&t.client(), t.url(&format!("/signup?invite={token}"))).await;
    assert!(html.contains("value=\"new@example.com\"") && html.contains("readonly"));

    // Accept through the page's form.
    let csrf_at = html_csrf(&page(&bob.client, t.url(&bob_link)).await.1);
    let r = bob
        .client
        .post(t.url(&format!("{bob_link}/accept")))
        .form(&[("csrf", csrf_at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&format!("/o/{}", ada.org_id)));
    let (s, html) = page(&bob.client, t.url(&bob_link)).await;
    assert_eq!((s, state_of(&html)), (409, "accepted"));

    // Expired, revoked, rejected and unknown links each get their own page, never a 500.
    let cy_link = link_for(&t, &ada, "cy@example.com").await;
    t.clock.advance_ms(8 * DAY_MS);
    let (s, html) = page(&t.client(), t.url(&cy_link)).await;
    assert_eq!((s, state_of(&html)), (410, "expired"));
    let (_, list) = send(
        ada.client
            .get(t.url(&format!("/api/v1/orgs/{}/invites", ada.org_id))),
    )
    .await;
    let dee_link = link_for(&t, &ada, "dee@example.com").await;
    let (_, list2) = send(
        ada.client
            .get(t.url(&format!("/api/v1/orgs/{}/invites", ada.org_id))),
    )
    .await;
    let dee_id = list2["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "dee@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(list["data"].as_array().unwrap().len() < list2["data"].as_array().unwrap().len());
    send(
        ada.client
            .delete(t.url(&format!("/api/v1/orgs/{}/invites/{dee_id}", ada.org_id))),
    )
    .await;
    let (s, html) = page(&t.client(), t.url(&dee_link)).await;
    assert_eq!((s, state_of(&html)), (410, "revoked"));
    let eve = t.sign_up("eve@example.com").await;
    let eve_link = link_for(&t, &ada, "eve@example.com").await;
    send(eve.client.post(t.url(&format!("/api/v1{eve_link}/reject")))).await;
    let (s, html) = page(&eve.client, t.url(&eve_link)).await;
    assert_eq!((s, state_of(&html)), (409, "rejected"));
    for garbage in [
        "/invites/nope",
        &format!("/invites/{}", "a".repeat(64)),
        "/invites/%00",
    ] {
        let (s, html) = page(&t.client(), t.url(garbage)).await;
        assert_eq!((s, state_of(&html)), (404, "not_found"), "{garbage}");
        assert!(html.contains("no longer valid"));
    }
}

fn html_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_owned()
}

async fn members_and_audit_log_are_in_the_navigation_of_admins_only(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectAdmin)],
    )
    .await;
    let overview = t.url(&format!("/o/{}", ada.org_id));
    // Pages escape `/` in attributes as `&#x2f;`.
    let (_, admin) = page(&ada.client, overview.clone()).await;
    let (_, member) = page(&bob.client, overview).await;
    let (admin, member) = (admin.replace("&#x2f;", "/"), member.replace("&#x2f;", "/"));
    for entry in ["/members\"", "/audit-log\""] {
        assert!(
            admin.contains(&format!("/o/{}{entry}", ada.org_id)),
            "admins see {entry}"
        );
        assert!(
            !member.contains(&format!("/o/{}{entry}", ada.org_id)),
            "members do not see {entry}"
        );
    }
    for path in ["members", "audit-log"] {
        let (s, _) = page(&bob.client, t.url(&format!("/o/{}/{path}", ada.org_id))).await;
        assert_eq!(s, 403, "{path}");
    }
    // Searching and paging the Members page (the links carry the search, URL-encoded).
    let (s, html) = page(
        &ada.client,
        t.url(&format!("/o/{}/members?q=bob%20%26", ada.org_id)),
    )
    .await;
    assert_eq!(s, 200);
    assert!(html.contains("Nobody matches"), "no member matches 'bob &'");
    let (s, html) = page(
        &ada.client,
        t.url(&format!("/o/{}/members?q=bob", ada.org_id)),
    )
    .await;
    assert_eq!(s, 200);
    assert!(html.contains("bob@example.com") && !html.contains("ada@example.com</td>"));
    let (s, html) = page(&ada.client, t.url(&format!("/o/{}/audit-log", ada.org_id))).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("project_member.add")
            || html.contains("audit-table")
            || html.contains("Nothing yet")
    );
}

/// Issue 14, bug 8: a refused New Invite keeps its dialog open, with what was typed and the
/// reason in the user's words.
async fn a_refused_invite_keeps_its_dialog_open_with_the_reason(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (_, html) = page(&ada.client, t.url(&format!("/o/{}/members", ada.org_id))).await;
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..at + 64].to_owned();
    let r = ada
        .client
        .post(t.url(&format!("/o/{}/invites", ada.org_id)))
        .form(&[
            ("csrf", csrf.as_str()),
            ("emails", "new@example.com"),
            ("role", "project_member"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<dialog id=\"invite-dialog\" aria-labelledby=\"invite-dialog-title\" open>"),
        "the dialog stays open"
    );
    let error = html
        .split("id=\"invite-dialog-error\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the reason is in the dialog");
    assert!(
        error.starts_with("A project role needs at least one project"),
        "{error}"
    );
    assert!(!html.contains("Project_ids"), "no field names");
    assert!(
        html.contains(">new@example.com</textarea>"),
        "what was typed is kept"
    );
    assert!(html.contains("<option value=\"project_member\" selected>"));
}

on_both_engines!(
    a_refused_invite_keeps_its_dialog_open_with_the_reason,
    the_invitation_page_speaks_to_each_visitor,
    members_and_audit_log_are_in_the_navigation_of_admins_only,
);
