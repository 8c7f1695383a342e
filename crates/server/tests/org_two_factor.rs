#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Organizations that require two-factor sign-in (issue 14, decision 0024): the setting, the
//! lockout rule, the guard on every org-scoped endpoint and console page, what stays open;
//! on both engines.

mod common;

use common::{create_key, get_page, models_with_key};
use serde_json::{json, Value};
use tollgate_domain::clock::Clock;
use tollgate_domain::{totp, ProjectRole};
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

/// Enrols `user` in two-factor sign-in through the API.
async fn enrol(t: &TestApp, user: &TestUser) {
    let (status, started) = send(user.client.post(t.url("/api/v1/me/totp"))).await;
    assert_eq!(status, 200, "{started}");
    let secret = totp::base32_decode(started["secret"].as_str().unwrap()).unwrap();
    let code = totp::code_at(&secret, t.clock.now_ms());
    let (status, body) = send(
        user.client
            .post(t.url("/api/v1/me/totp/confirm"))
            .json(&json!({"code": code})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn set_require(t: &TestApp, user: &TestUser, org: &str, on: bool) -> (u16, Value) {
    send(
        user.client
            .patch(t.url(&format!("/api/v1/orgs/{org}")))
            .json(&json!({ "require_2fa": on })),
    )
    .await
}

fn code_of(answer: &(u16, Value)) -> (u16, Option<&str>) {
    (answer.0, answer.1["error"]["code"].as_str())
}

/// The organization's `organization.require_2fa` audit entries, newest first, as `from→to`.
async fn require_entries(t: &TestApp, admin: &TestUser, org: &str) -> Vec<String> {
    let (status, log) = send(
        admin
            .client
            .get(t.url(&format!("/api/v1/orgs/{org}/audit-log"))),
    )
    .await;
    assert_eq!(status, 200, "{log}");
    log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "organization.require_2fa")
        .map(|e| format!("{}→{}", e["details"]["from"], e["details"]["to"]).replace('"', ""))
        .collect()
}

/// A team: an admin and a member (of the Default project) who made an API key earlier.
struct Team {
    t: TestApp,
    admin: TestUser,
    member: TestUser,
    org: tollgate_domain::OrgId,
    key: String,
}

async fn team(engine: Engine) -> Team {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let member = t.sign_up("member@example.com").await;
    let org = admin.org_id.clone();
    let default = t.default_project(&org).await;
    t.add_member(&org, &member.id, &[(&default, ProjectRole::ProjectMember)])
        .await;
    let (status, _) = send(
        admin
            .client
            .patch(t.url(&format!("/api/v1/orgs/{org}")))
            .json(&json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, key) = create_key(&t, &member, &org, &default).await;
    Team {
        t,
        admin,
        member,
        org,
        key,
    }
}

async fn only_an_admin_with_two_factor_may_require_it(engine: Engine) {
    let Team {
        t,
        admin,
        member,
        org,
        ..
    } = team(engine).await;
    // Without two-factor herself, she would lock herself out: refused, nothing changes.
    let answer = set_require(&t, &admin, &org, true).await;
    assert_eq!(
        code_of(&answer),
        (409, Some("two_factor_not_enabled")),
        "{}",
        answer.1
    );
    let (_, read) = send(admin.client.get(t.url(&format!("/api/v1/orgs/{org}")))).await;
    assert_eq!(read["require_2fa"], false);
    // A rename sent with it is refused whole.
    let (status, _) = send(
        admin
            .client
            .patch(t.url(&format!("/api/v1/orgs/{org}")))
            .json(&json!({"name": "Renamed", "require_2fa": true})),
    )
    .await;
    assert_eq!(status, 409);
    let (_, read) = send(admin.client.get(t.url(&format!("/api/v1/orgs/{org}")))).await;
    assert_eq!(read["name"], "Acme");
    assert!(require_entries(&t, &admin, &org).await.is_empty());

    // A member may not, with or without two-factor.
    enrol(&t, &member).await;
    for on in [true, false] {
        assert_eq!(
            code_of(&set_require(&t, &member, &org, on).await),
            (403, Some("forbidden"))
        );
    }
    // Not a boolean: 422, nothing changes.
    let (status, _) = send(
        admin
            .client
            .patch(t.url(&format!("/api/v1/orgs/{org}")))
            .json(&json!({"require_2fa": "yes"})),
    )
    .await;
    assert_eq!(status, 422);

    enrol(&t, &admin).await;
    let (status, org_view) = set_require(&t, &admin, &org, true).await;
    assert_eq!(status, 200, "{org_view}");
    assert_eq!(org_view["require_2fa"], true);
    // Again: no change, no second entry.
    assert_eq!(set_require(&t, &admin, &org, true).await.0, 200);
    let (status, me) = send(admin.client.get(t.url("/api/v1/me"))).await;
    assert_eq!(status, 200);
    let listed = me["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == org.as_str())
        .unwrap();
    assert_eq!(listed["require_2fa"], true);
    let (status, off) = set_require(&t, &admin, &org, false).await;
    assert_eq!((status, &off["require_2fa"]), (200, &json!(false)));
    assert_eq!(
        require_entries(&t, &admin, &org).await,
        ["on→off", "off→on"]
    );
}

async fn members_without_two_factor_are_held_at_their_account(engine: Engine) {
    let Team {
        t,
        admin,
        member,
        org,
        key,
    } = team(engine).await;
    let default = t.default_project(&org).await;
    enrol(&t, &admin).await;
    assert_eq!(set_require(&t, &admin, &org, true).await.0, 200);

    // Every org-scoped endpoint refuses the member, reads and writes alike.
    let m = &member.client;
    let base = t.url(&format!("/api/v1/orgs/{org}"));
    let refused = [
        ("org", m.get(&base)),
        ("projects", m.get(format!("{base}/projects"))),
        ("project", m.get(format!("{base}/projects/{default}"))),
        ("keys", m.get(format!("{base}/projects/{default}/api-keys"))),
        (
            "new key",
            m.post(format!("{base}/projects/{default}/api-keys"))
                .json(&json!({"name": "k"})),
        ),
        ("usage", m.get(format!("{base}/usage"))),
        ("limits", m.get(format!("{base}/limits"))),
        ("spend limit", m.get(format!("{base}/spend-limit"))),
    ];
    for (what, request) in refused {
        let (status, body) = send(request).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("two_factor_required")),
            "{what}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Acme requires two-factor sign-in")
                && message.contains("turn on two-factor sign-in in your account"),
            "{message}"
        );
    }
    // Nothing else is closed: the account, the own organizations list, sessions, another
    // organization of theirs, and their API key on the gateway.
    let (status, me) = send(m.get(t.url("/api/v1/me"))).await;
    assert_eq!(status, 200);
    assert_eq!(me["totp_enabled"], false);
    assert_eq!(me["organizations"].as_array().unwrap().len(), 2);
    assert_eq!(send(m.get(t.url("/api/v1/me/sessions"))).await.0, 200);
    let own = format!("/api/v1/orgs/{}/projects", member.org_id);
    assert_eq!(send(m.get(t.url(&own))).await.0, 200);
    let (status, models) = models_with_key(&t, &key).await;
    assert_eq!(status, 200, "API keys are program credentials: {models}");
    // The admin sees who would be locked out.
    let (_, members) = send(admin.client.get(format!("{base}/members"))).await;
    let totp: Vec<(String, bool)> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["email"].as_str().unwrap().to_owned(),
                x["totp_enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totp,
        [
            ("admin@example.com".to_owned(), true),
            ("member@example.com".to_owned(), false)
        ]
    );

    // Enrolling (the /me/totp endpoints stay open) lets them in at once.
    enrol(&t, &member).await;
    let (status, me) = send(m.get(t.url("/api/v1/me"))).await;
    assert_eq!((status, &me["totp_enabled"]), (200, &json!(true)));
    let (status, body) = send(m.get(format!("{base}/projects"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(m.get(&base)).await;
    assert_eq!((status, &body["require_2fa"]), (200, &json!(true)));

    // Logging out stays open too.
    let other = t.sign_up("other@example.com").await;
    t.add_member(&org, &other.id, &[(&default, ProjectRole::ProjectMember)])
        .await;
    assert_eq!(
        code_of(&send(other.client.get(&base)).await),
        (403, Some("two_factor_required"))
    );
    let (status, _) = send(other.client.post(t.url("/api/v1/auth/logout"))).await;
    assert!(status == 200 || status == 204, "logout: {status}");
}

async fn the_console_sends_members_without_two_factor_to_their_account(engine: Engine) {
    let Team {
        t,
        admin,
        member,
        org,
        ..
    } = team(engine).await;
    // Settings: the admin's checkbox, with the lockout refusal drawn in the page.
    let (status, html) = get_page(&t, &admin, &format!("/o/{org}/settings")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Require two-factor sign-in for all members"));
    let csrf = common::form_csrf(&html);
    let (status, html) = common::post_form(
        &t,
        &admin,
        &format!("/o/{org}/settings/two-factor"),
        &[("csrf", &csrf), ("require_2fa", "on")],
    )
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("id=\"require-2fa-error\""), "{html}");
    assert!(html.contains("lock you out"), "{html}");
    let (_, html) = get_page(&t, &member, &format!("/o/{org}/settings")).await;
    assert!(
        !html.contains("id=\"require-2fa\""),
        "members see no checkbox"
    );
    assert!(html.contains("Not required"));

    enrol(&t, &admin).await;
    let (status, _) = common::post_form(
        &t,
        &admin,
        &format!("/o/{org}/settings/two-factor"),
        &[("csrf", &csrf), ("require_2fa", "on")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = get_page(
        &t,
        &admin,
        &format!("/o/{org}/settings?notice=two_factor_on"),
    )
    .await;
    assert!(html.contains("Two-factor sign-in is now required for all members."));
    assert!(
        html.contains("name=\"require_2fa\" value=\"on\" checked"),
        "{html}"
    );
    // Members page: who has it on.
    let (_, html) = get_page(&t, &admin, &format!("/o/{org}/members")).await;
    assert!(
        html.contains(&format!(
            "id=\"totp-{}\"><span class=\"badge badge-success\"",
            admin.id
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "id=\"totp-{}\"><span class=\"secondary\"",
            member.id
        )),
        "{html}"
    );

    // The member: every org page (and a form post) sends them to the Two-factor card.
    for path in [
        format!("/o/{org}"),
        format!("/o/{org}/projects"),
        format!("/o/{org}/api-keys"),
        format!("/o/{org}/usage"),
        format!("/o/{org}/settings"),
    ] {
        let r = member.client.get(t.url(&path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/account#two-factor", "{path}");
    }
    let (_, account) = get_page(&t, &member, "/account").await;
    let member_csrf = common::form_csrf(&account);
    let r = member
        .client
        .post(t.url(&format!("/o/{org}/projects")))
        .form(&[("csrf", member_csrf.as_str()), ("name", "Sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/account#two-factor");
    let (status, html) = get_page(&t, &member, "/account").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Acme requires two-factor sign-in; turn it on to continue."),
        "{html}"
    );
    // Their own organization is open.
    let (status, _) = get_page(&t, &member, &format!("/o/{}", member.org_id)).await;
    assert_eq!(status, 200);

    enrol(&t, &member).await;
    let (_, html) = get_page(&t, &member, "/account").await;
    assert!(!html.contains("requires two-factor sign-in"), "banner gone");
    let (status, _) = get_page(&t, &member, &format!("/o/{org}/projects")).await;
    assert_eq!(status, 200);
}

on_both_engines!(
    only_an_admin_with_two_factor_may_require_it,
    members_without_two_factor_are_held_at_their_account,
    the_console_sends_members_without_two_factor_to_their_account,
);
