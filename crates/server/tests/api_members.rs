#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Members, invitations and the audit log through the JSON API, on both engines.

use serde_json::{json, Value};
use tollgate_domain::{OrgRole, ProjectRole};
use tollgate_server::testing::{send, TestApp, TestUser, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The invitation token in the newest queued email to `to` (the outbox lists newest first).
async fn token_for(t: &TestApp, to: &str) -> String {
    let messages = t.app.store.outbox_messages(1000).await.unwrap();
    let m = messages
        .iter()
        .find(|m| m.to == to)
        .unwrap_or_else(|| panic!("no email to {to}"));
    let start = m.text_body.find("/invites/").expect("a link") + "/invites/".len();
    m.text_body[start..start + 64].to_owned()
}

async fn invite(t: &TestApp, admin: &TestUser, emails: Value) -> (u16, Value) {
    send(
        admin
            .client
            .post(t.url(&format!("/api/v1/orgs/{}/invites", admin.org_id)))
            .json(&json!({"emails": emails, "role": "org_admin"})),
    )
    .await
}

async fn member_endpoints_are_for_org_admins(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let eve = t.sign_up("eve@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectMember)],
    )
    .await;
    let org = &ada.org_id;
    let endpoints: Vec<(&str, String, Value)> = vec![
        ("GET", format!("/api/v1/orgs/{org}/members"), Value::Null),
        (
            "PATCH",
            format!("/api/v1/orgs/{org}/members/{}", ada.id),
            json!({"role": "member"}),
        ),
        (
            "DELETE",
            format!("/api/v1/orgs/{org}/members/{}", ada.id),
            Value::Null,
        ),
        (
            "POST",
            format!("/api/v1/orgs/{org}/invites"),
            json!({"emails": ["x@example.com"], "role": "org_admin"}),
        ),
        ("GET", format!("/api/v1/orgs/{org}/invites"), Value::Null),
        (
            "POST",
            format!("/api/v1/orgs/{org}/invites/inv_0123456789abcdef01234567/resend"),
            Value::Null,
        ),
        (
            "DELETE",
            format!("/api/v1/orgs/{org}/invites/inv_0123456789abcdef01234567"),
            Value::Null,
        ),
        ("GET", format!("/api/v1/orgs/{org}/audit-log"), Value::Null),
    ];
    for (method, path, body) in &endpoints {
        let req = |c: &reqwest::Client| {
            let r = c.request(method.parse().unwrap(), t.url(path));
            if body.is_null() {
                r
            } else {
                r.json(body)
            }
        };
        let (s, err) = send(req(&bob.client)).await;
        assert_eq!(
            (s, err["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "member: {method} {path}"
        );
        let (s, _) = send(req(&eve.client)).await;
        assert_eq!(s, 404, "another organization's member: {method} {path}");
        let (s, _) = send(req(&t.client())).await;
        assert_eq!(s, 401, "anonymous: {method} {path}");
    }
    assert_eq!(
        t.app.store.count_members(org).await.unwrap(),
        2,
        "nothing changed"
    );
    assert!(t.app.store.outbox_messages(10).await.unwrap().is_empty());
}

async fn members_are_listed_paged_and_searched(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    for name in ["bob", "cy", "dee", "eve"] {
        let u = t.sign_up(&format!("{name}@example.com")).await;
        t.app
            .store
            .add_membership(&ada.org_id, &u.id.clone(), OrgRole::Member, t.app.now())
            .await
            .unwrap();
    }
    let url = t.url(&format!("/api/v1/orgs/{}/members", ada.org_id));
    let (s, page) = send(ada.client.get(format!("{url}?limit=2"))).await;
    assert_eq!(s, 200);
    assert_eq!(page["has_more"], true);
    let first: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].clone())
        .collect();
    assert_eq!(first, [json!("ada@example.com"), json!("bob@example.com")]);
    assert_eq!(page["data"][0]["role"], "org_admin");
    assert!(page["data"][0]["joined_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let after = page["data"][1]["id"].as_str().unwrap();
    let (_, page2) = send(ada.client.get(format!("{url}?limit=2&after={after}"))).await;
    assert_eq!(page2["data"][0]["email"], "cy@example.com");
    let (_, page3) = send(ada.client.get(format!(
        "{url}?limit=2&after={}",
        page2["data"][1]["id"].as_str().unwrap()
    )))
    .await;
    assert_eq!(
        (page3["data"].as_array().unwrap().len(), &page3["has_more"]),
        (1, &json!(false))
    );
    let (_, found) = send(ada.client.get(format!("{url}?q=DEE"))).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    // The search term is bounded: 200 characters are searched, 201 refused.
    let (s, none) = send(ada.client.get(format!("{url}?q={}", "é".repeat(200)))).await;
    assert_eq!((s, none["data"].as_array().unwrap().len()), (200, 0));
    let long = format!("q={}", "é".repeat(201));
    for bad in ["limit=0", "limit=101", "limit=abc", long.as_str()] {
        let (s, err) = send(ada.client.get(format!("{url}?{bad}"))).await;
        assert!(s == 400 || s == 422, "{bad}: {s}");
        assert!(err["error"]["code"].is_string(), "{bad}");
    }
}

async fn roles_change_members_leave_and_the_last_admin_stays(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    t.app
        .store
        .add_membership(&ada.org_id, &bob.id.clone(), OrgRole::Member, t.app.now())
        .await
        .unwrap();
    let member_url = |u: &TestUser| t.url(&format!("/api/v1/orgs/{}/members/{}", ada.org_id, u.id));

    let (s, err) = send(
        ada.client
            .patch(member_url(&ada))
            .json(&json!({"role": "member"})),
    )
    .await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (409, Some("last_admin"))
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at least one Organization Admin"));
    let (s, _) = send(ada.client.delete(member_url(&ada))).await;
    assert_eq!(s, 409);
    let (s, _) = send(
        ada.client
            .patch(member_url(&bob))
            .json(&json!({"role": "owner"})),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = send(ada.client.patch(member_url(&bob)).json(&json!({"role": 1}))).await;
    assert_eq!(s, 422);
    let (s, _) = send(
        ada.client
            .patch(t.url(&format!(
                "/api/v1/orgs/{}/members/usr_0123456789abcdef01234567",
                ada.org_id
            )))
            .json(&json!({"role": "member"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = send(
        ada.client
            .patch(t.url(&format!(
                "/api/v1/orgs/{}/members/{}",
                ada.org_id, "garbage"
            )))
            .json(&json!({"role": "member"})),
    )
    .await;
    assert_eq!(s, 404);

    let (s, m) = send(
        ada.client
            .patch(member_url(&bob))
            .json(&json!({"role": "org_admin"})),
    )
    .await;
    assert_eq!((s, m["role"].as_str()), (200, Some("org_admin")));
    // Bob, now an admin, sees the Members list; then is removed and loses access at once.
    let members = t.url(&format!("/api/v1/orgs/{}/members", ada.org_id));
    assert_eq!(send(bob.client.get(&members)).await.0, 200);
    let (s, _) = send(ada.client.delete(member_url(&bob))).await;
    assert_eq!(s, 204);
    assert_eq!(send(bob.client.get(&members)).await.0, 404);
    assert_eq!(
        send(
            bob.client
                .get(t.url(&format!("/api/v1/orgs/{}", ada.org_id)))
        )
        .await
        .0,
        404
    );
    let (_, me) = send(bob.client.get(t.url("/api/v1/me"))).await;
    assert_eq!(
        me["organizations"].as_array().unwrap().len(),
        1,
        "only his own organization is left"
    );

    let (_, log) = send(
        ada.client
            .get(t.url(&format!("/api/v1/orgs/{}/audit-log", ada.org_id))),
    )
    .await;
    let actions: Vec<_> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["member.remove", "member.role_change", "organization.create"]
    );
    assert_eq!(log["data"][0]["actor"]["email"], "ada@example.com");
    assert_eq!(log["data"][0]["target"]["id"], bob.id.as_str());
    assert_eq!(log["data"][0]["ip"], "127.0.0.1");
}

async fn new_invite_reports_each_address(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    invite(&t, &ada, json!(["pending@example.com"])).await;
    let (s, body) = invite(
        &t,
        &ada,
        json!(
            "new1@example.com, new2@example.com\nnot-an-email pending@example.com ada@example.com"
        ),
    )
    .await;
    assert_eq!(s, 201);
    let created: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created, ["new1@example.com", "new2@example.com"]);
    assert_eq!(body["data"][0]["status"], "pending");
    assert_eq!(body["data"][0]["role"], "org_admin");
    let errors: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["email"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("not-an-email".to_owned(), "invalid_email".to_owned()),
            (
                "pending@example.com".to_owned(),
                "already_invited".to_owned()
            ),
            ("ada@example.com".to_owned(), "already_member".to_owned()),
        ]
    );
    assert_eq!(
        t.app.store.outbox_messages(100).await.unwrap().len(),
        3,
        "one email per invitation"
    );

    let url = t.url(&format!("/api/v1/orgs/{}/invites", ada.org_id));
    let many: Vec<String> = (0..51).map(|i| format!("u{i}@example.com")).collect();
    let cases = [
        json!({"emails": many, "role": "org_admin"}),
        json!({"emails": [], "role": "org_admin"}),
        json!({"emails": ["a@example.com"], "role": "owner"}),
        json!({"emails": ["a@example.com"], "role": "project_member"}),
        json!({"emails": ["a@example.com"], "role": "project_member", "project_ids": ["prj_0123456789abcdef01234567"]}),
        json!({"emails": ["a@example.com"], "role": "org_admin", "project_ids": ["prj_0123456789abcdef01234567"]}),
        json!({"emails": "a@example.com"}),
        json!({"emails": 5, "role": "org_admin"}),
    ];
    for body in cases {
        let (s, err) = send(ada.client.post(&url).json(&body)).await;
        assert_eq!(s, 422, "{body}: {err}");
    }
    // A malformed project id, and a project named twice, name no active projects of the
    // organization.
    let default = t.default_project(&ada.org_id).await;
    for project_ids in [json!(["prj_nope"]), json!([default, default])] {
        let body = json!({"emails": ["a@example.com"], "role": "project_member", "project_ids": project_ids});
        let (s, err) = send(ada.client.post(&url).json(&body)).await;
        assert_eq!(s, 422, "{body}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no such active projects"),
            "{err}"
        );
    }
    assert_eq!(
        t.app.store.outbox_messages(100).await.unwrap().len(),
        3,
        "nothing more was sent"
    );

    let (_, list) = send(ada.client.get(&url)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
}

async fn the_invitee_accepts_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (_, body) = invite(&t, &ada, json!(["grace@example.com"])).await;
    let invite_id = body["data"][0]["id"].as_str().unwrap().to_owned();
    let token = token_for(&t, "grace@example.com").await;

    let (s, details) = send(t.client().get(t.url(&format!("/api/v1/invites/{token}")))).await;
    assert_eq!(s, 200);
    assert_eq!(details["organization"]["id"], ada.org_id.as_str());
    assert_eq!(details["invited_by"]["email"], "ada@example.com");
    assert_eq!(
        (details["role"].as_str(), details["status"].as_str()),
        (Some("org_admin"), Some("pending"))
    );

    let accept = t.url(&format!("/api/v1/invites/{token}/accept"));
    assert_eq!(send(t.client().post(&accept)).await.0, 401, "sign in first");
    let eve = t.sign_up("eve@example.com").await;
    let (s, err) = send(eve.client.post(&accept)).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (403, Some("invite_email_mismatch"))
    );

    let grace = t.sign_up("grace@example.com").await;
    let (s, joined) = send(grace.client.post(&accept)).await;
    assert_eq!((s, joined["status"].as_str()), (200, Some("accepted")));
    let (_, me) = send(grace.client.get(t.url("/api/v1/me"))).await;
    let orgs: Vec<_> = me["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].clone(), o["role"].clone()))
        .collect();
    assert!(orgs.contains(&(json!(ada.org_id), json!("org_admin"))));

    let (s, err) = send(grace.client.post(&accept)).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (409, Some("invite_already_accepted")),
        "a token is single-use"
    );
    let (s, _) = send(
        grace
            .client
            .post(t.url(&format!("/api/v1/invites/{token}/reject"))),
    )
    .await;
    assert_eq!(s, 409);
    let org_invite = t.url(&format!("/api/v1/orgs/{}/invites/{invite_id}", ada.org_id));
    let (s, err) = send(ada.client.delete(&org_invite)).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (409, Some("invite_not_pending")),
        "revoke accepted"
    );
    let (s, _) = send(ada.client.post(format!("{org_invite}/resend"))).await;
    assert_eq!(s, 409, "resend accepted");
    for garbage in ["nope", &"0".repeat(64), "%00"] {
        let (s, _) = send(
            grace
                .client
                .get(t.url(&format!("/api/v1/invites/{garbage}"))),
        )
        .await;
        assert_eq!(s, 404, "{garbage}");
        let (s, _) = send(
            grace
                .client
                .post(t.url(&format!("/api/v1/invites/{garbage}/accept"))),
        )
        .await;
        assert_eq!(s, 404, "{garbage}");
    }
    let (_, log) = send(
        ada.client
            .get(t.url(&format!("/api/v1/orgs/{}/audit-log", ada.org_id))),
    )
    .await;
    let actions: Vec<_> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "invitation.accept",
            "invitation.create",
            "organization.create"
        ]
    );
    assert_eq!(log["data"][0]["actor"]["email"], "grace@example.com");
}

async fn rejected_revoked_expired_and_resent_links(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.invite_ttl_days = 2).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let cy = t.sign_up("cy@example.com").await;
    let dee = t.sign_up("dee@example.com").await;
    let (_, body) = invite(
        &t,
        &ada,
        json!(["bob@example.com", "cy@example.com", "dee@example.com"]),
    )
    .await;
    let ids: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let org_invites = t.url(&format!("/api/v1/orgs/{}/invites", ada.org_id));

    // Bob declines.
    let bob_token = token_for(&t, "bob@example.com").await;
    let (s, r) = send(
        bob.client
            .post(t.url(&format!("/api/v1/invites/{bob_token}/reject"))),
    )
    .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("rejected")));
    let (s, err) = send(
        bob.client
            .post(t.url(&format!("/api/v1/invites/{bob_token}/accept"))),
    )
    .await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (409, Some("invite_already_rejected"))
    );

    // Cy's is revoked.
    let cy_token = token_for(&t, "cy@example.com").await;
    let (s, r) = send(ada.client.delete(format!("{org_invites}/{}", ids[1]))).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("revoked")));
    let (s, err) = send(
        cy.client
            .post(t.url(&format!("/api/v1/invites/{cy_token}/accept"))),
    )
    .await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (410, Some("invite_revoked"))
    );
    let (s, _) = send(ada.client.delete(format!("{org_invites}/{}", ids[1]))).await;
    assert_eq!(s, 409, "revoke twice");

    // Dee's expires after the configured two days; resend gives a new link, the old one dies.
    let old = token_for(&t, "dee@example.com").await;
    t.clock.advance_ms(2 * DAY_MS);
    let (_, list) = send(ada.client.get(&org_invites)).await;
    let statuses: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["email"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("dee@example.com".into(), "expired".into())),
        "{statuses:?}"
    );
    assert!(statuses.contains(&("bob@example.com".into(), "rejected".into())));
    assert!(
        !statuses.iter().any(|(e, _)| e == "cy@example.com"),
        "revoked ones are not listed"
    );
    let (s, err) = send(
        dee.client
            .post(t.url(&format!("/api/v1/invites/{old}/accept"))),
    )
    .await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (410, Some("invite_expired"))
    );
    let (s, resent) = send(ada.client.post(format!("{org_invites}/{}/resend", ids[2]))).await;
    assert_eq!((s, resent["status"].as_str()), (200, Some("pending")));
    let new = token_for(&t, "dee@example.com").await;
    assert_ne!(new, old);
    assert_eq!(
        send(
            dee.client
                .post(t.url(&format!("/api/v1/invites/{old}/accept")))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        send(
            dee.client
                .post(t.url(&format!("/api/v1/invites/{new}/accept")))
        )
        .await
        .0,
        200
    );
    let (s, _) = send(
        ada.client
            .post(format!("{org_invites}/inv_0123456789abcdef01234567/resend")),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = send(ada.client.post(format!("{org_invites}/garbage/resend"))).await;
    assert_eq!(s, 404);
}

async fn concurrent_accepts_make_one_membership(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    invite(&t, &ada, json!(["grace@example.com"])).await;
    let token = token_for(&t, "grace@example.com").await;
    let grace = t.sign_up("grace@example.com").await;
    let url = t.url(&format!("/api/v1/invites/{token}/accept"));
    let tasks: Vec<_> = (0..6)
        .map(|_| tokio::spawn(send(grace.client.post(url.clone()))))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().0);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409]);
    assert_eq!(t.app.store.count_members(&ada.org_id).await.unwrap(), 2);
}

async fn invitation_emails_are_rate_limited_per_organization(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.invite_emails_per_hour = 3).await;
    let ada = t.sign_up("ada@example.com").await;
    let (s, body) = invite(&t, &ada, json!(["a@example.com", "b@example.com"])).await;
    assert_eq!(s, 201);
    let id = body["data"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = send(
        ada.client
            .post(t.url(&format!("/api/v1/orgs/{}/invites/{id}/resend", ada.org_id))),
    )
    .await;
    assert_eq!(s, 200, "the third email");
    let (s, err) = invite(&t, &ada, json!(["c@example.com"])).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let (s, _) = send(
        ada.client
            .post(t.url(&format!("/api/v1/orgs/{}/invites/{id}/resend", ada.org_id))),
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(t.app.store.outbox_messages(10).await.unwrap().len(), 3);
    t.clock.advance_ms(3600 * 1000);
    assert_eq!(
        invite(&t, &ada, json!(["c@example.com"])).await.0,
        201,
        "a new hour"
    );
    let _ = PASSWORD;
}

on_both_engines!(
    member_endpoints_are_for_org_admins,
    members_are_listed_paged_and_searched,
    roles_change_members_leave_and_the_last_admin_stays,
    new_invite_reports_each_address,
    the_invitee_accepts_once,
    rejected_revoked_expired_and_resent_links,
    concurrent_accepts_make_one_membership,
    invitation_emails_are_rate_limited_per_organization,
);
