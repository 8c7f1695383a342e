#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Ids in paths are parsed once by each surface's extractor (`ApiPath`, `PagePath`): a
//! malformed organization id, or a project id where the organization's goes, gets the 404 it
//! got when the service checked each id's shape, in each surface's own shape. Keys, users,
//! invitations, subscriptions and payments too: a malformed one (or one of another kind) is
//! 404 for every member of the organization, whatever their role (decision 0011).

mod common;

use common::{create_key, form_csrf, get_page, post_form};
use serde_json::json;
use tollgate_domain::{ApiKeyId, InviteId, PaymentId, ProjectRole, SubscriptionId, UserId};
use tollgate_server::testing::{send, TestApp};
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

/// One API request with a misplaced or malformed id: method, path, body, the 404's message.
struct ApiCase {
    method: reqwest::Method,
    path: String,
    body: Option<serde_json::Value>,
    message: &'static str,
}

async fn key_user_invite_subscription_and_payment_ids_are_parsed_at_the_edge(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = ada.org_id.clone();
    let project = t.default_project(&org).await;
    // Bob is a project member: no ManageMembers, no ManageBilling, no ManageKeys.
    let bob = t.sign_up("bob@example.com").await;
    t.add_member(&org, &bob.id, &[(&project, ProjectRole::ProjectMember)])
        .await;
    let (key, _) = create_key(&t, &ada, &org, &project).await;
    let user = bob.id.clone();

    use reqwest::Method;
    let case = |method: Method, path: String, body: Option<serde_json::Value>, message| ApiCase {
        method,
        path,
        body,
        message,
    };
    let role = || Some(json!({"role": "member"}));
    let api_cases = [
        // A key id in a user's place, and malformed user ids.
        case(
            Method::PATCH,
            format!("/api/v1/orgs/{org}/members/{key}"),
            role(),
            "Member not found",
        ),
        case(
            Method::DELETE,
            format!("/api/v1/orgs/{org}/members/usr_nope"),
            None,
            "Member not found",
        ),
        case(
            Method::PUT,
            format!("/api/v1/orgs/{org}/projects/{project}/members/{key}"),
            Some(json!({"role": "project_member"})),
            "Member not found",
        ),
        case(
            Method::DELETE,
            format!(
                "/api/v1/orgs/{org}/projects/{project}/members/{}",
                user.to_uppercase()
            ),
            None,
            "Member not found",
        ),
        // A user id in a key's place, and a malformed key id.
        case(
            Method::DELETE,
            format!("/api/v1/orgs/{org}/projects/{project}/api-keys/{user}"),
            None,
            "API key not found",
        ),
        case(
            Method::GET,
            format!("/api/v1/orgs/{org}/projects/{project}/api-keys/key_nope/spend-limit"),
            None,
            "API key not found",
        ),
        case(
            Method::PUT,
            format!("/api/v1/orgs/{org}/projects/{project}/api-keys/{user}/spend-limit"),
            Some(json!({"monthly_limit": "10.00"})),
            "API key not found",
        ),
        // Invitations, subscriptions and payments: another kind's id, or garbage.
        case(
            Method::POST,
            format!(
                "/api/v1/orgs/{org}/invites/{}/resend",
                SubscriptionId::generate()
            ),
            None,
            "Invitation not found",
        ),
        case(
            Method::DELETE,
            format!("/api/v1/orgs/{org}/invites/inv_nope"),
            None,
            "Invitation not found",
        ),
        case(
            Method::PATCH,
            format!("/api/v1/orgs/{org}/subscriptions/{}", PaymentId::generate()),
            Some(json!({"tier": "pro"})),
            "Subscription not found",
        ),
        case(
            Method::DELETE,
            format!("/api/v1/orgs/{org}/subscriptions/sub_nope"),
            None,
            "Subscription not found",
        ),
        case(
            Method::GET,
            format!(
                "/api/v1/orgs/{org}/billing/payments/{}",
                InviteId::generate()
            ),
            None,
            "Payment not found",
        ),
    ];
    // The admin and a member without the permission get the same 404: the id is read before
    // anything is asked of the caller but access to the organization.
    for who in [&ada, &bob] {
        for c in &api_cases {
            let mut request = who.client.request(c.method.clone(), t.url(&c.path));
            if let Some(body) = &c.body {
                request = request.json(body);
            }
            let (s, body) = send(request).await;
            assert_eq!(s, 404, "{} {} as {}: {body}", c.method, c.path, who.email);
            assert_eq!(body["error"]["code"], "not_found", "{}: {body}", c.path);
            assert_eq!(body["error"]["message"], c.message, "{}: {body}", c.path);
        }
    }
    // A malformed id is read before a bad body.
    let (s, body) = send(
        bob.client
            .patch(t.url(&format!("/api/v1/orgs/{org}/members/garbage")))
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(
        (s, body["error"]["message"].as_str()),
        (404, Some("Member not found"))
    );
    // Well-formed ids of the right kind that name nothing are still checked after the
    // permission: 403 for Bob, 404 for Ada.
    let unknown_member = format!("/api/v1/orgs/{org}/members/{}", UserId::generate());
    let (s, _) = send(bob.client.delete(t.url(&unknown_member))).await;
    assert_eq!(s, 403);
    let (s, _) = send(ada.client.delete(t.url(&unknown_member))).await;
    assert_eq!(s, 404);
    let unknown_key = format!(
        "/api/v1/orgs/{org}/projects/{project}/api-keys/{}",
        ApiKeyId::generate()
    );
    let (s, _) = send(ada.client.delete(t.url(&unknown_key))).await;
    assert_eq!(s, 404);

    // An outsider is told about the organization first, whatever the id after it.
    let carol = t.sign_up("carol@example.com").await;
    for c in &api_cases {
        let (s, body) = send(carol.client.request(c.method.clone(), t.url(&c.path))).await;
        assert_eq!(s, 404, "{}", c.path);
        assert_eq!(
            body["error"]["message"], "Organization not found",
            "{}",
            c.path
        );
    }
    // Signed out: 401 first.
    let (s, _) = send(t.bare_client().delete(t.url(&api_cases[1].path))).await;
    assert_eq!(s, 401);

    // The console: the 404 page, before the form's CSRF token is even looked at.
    let console_posts = [
        format!("/o/{org}/members/{key}/remove"),
        format!("/o/{org}/members/usr_nope/role"),
        format!("/o/{org}/invites/{user}/resend"),
        format!("/o/{org}/invites/inv_nope/revoke"),
        format!("/o/{org}/api-keys/{user}/revoke"),
        format!("/o/{org}/api-keys/key_nope/spend-limit"),
        format!("/o/{org}/api-keys/{user}/spend-limit/remove"),
        format!("/o/{org}/projects/{project}/members/{key}/remove"),
        format!("/o/{org}/subscriptions/{}/cancel", PaymentId::generate()),
        format!("/o/{org}/subscriptions/sub_nope/resume"),
    ];
    for who in [&ada, &bob] {
        for path in &console_posts {
            let (s, html) = post_form(&t, who, path, &[("csrf", "nope")]).await;
            assert_eq!(s, 404, "{path} as {}", who.email);
            assert!(html.contains("<h1>Not found</h1>"), "{path}: {html}");
        }
        let (s, html) = get_page(
            &t,
            who,
            &format!("/o/{org}/billing/receipts/{}", SubscriptionId::generate()),
        )
        .await;
        assert_eq!(s, 404);
        assert!(html.contains("<h1>Not found</h1>"), "{html}");
    }
    // A key id as the member chosen in the project's member form: 404, the form's CSRF
    // token being good.
    let (_, html) = get_page(&t, &ada, &format!("/o/{org}/projects/{project}")).await;
    let csrf = form_csrf(&html);
    let (s, html) = post_form(
        &t,
        &ada,
        &format!("/o/{org}/projects/{project}/members"),
        &[
            ("csrf", &csrf),
            ("user_id", &key),
            ("role", "project_member"),
        ],
    )
    .await;
    assert_eq!(s, 404);
    assert!(html.contains("<h1>Not found</h1>"), "{html}");
    // An outsider gets the organization's 404 page.
    let (s, html) = post_form(&t, &carol, &console_posts[0], &[("csrf", "nope")]).await;
    assert_eq!(s, 404);
    assert!(html.contains("<h1>Not found</h1>"), "{html}");
}

on_both_engines!(
    malformed_and_misplaced_ids_get_each_surfaces_404,
    key_user_invite_subscription_and_payment_ids_are_parsed_at_the_edge
);
