#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The account pages over HTTP (issue 14): profile, password, sessions, forgot password. Each
//! form is CSRF-checked, redirects after success, and keeps a refused form with its error.

use serde_json::json;
use tollgate_server::testing::{send, TestApp, TestUser, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn csrf_of(html: &str) -> String {
    let start =
        html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[start..start + 64].to_owned()
}

async fn page(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(c: &reqwest::Client, url: String, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(url).form(form).send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn second_session(t: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let c = t.client();
    let (status, _) = send(
        c.post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, 200);
    c
}

async fn me_status(t: &TestApp, c: &reqwest::Client) -> u16 {
    send(c.get(t.url("/api/v1/me"))).await.0
}

async fn account_csrf(t: &TestApp, u: &TestUser) -> String {
    let (status, html) = page(&u.client, t.url("/account")).await;
    assert_eq!(status, 200);
    csrf_of(&html)
}

async fn the_account_page_edits_the_name_and_changes_the_password(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (status, html) = page(&ada.client, t.url("/account")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("id=\"profile-email\">ada@example.com<"),
        "{html}"
    );
    assert!(html.contains("This session"));
    assert!(
        html.contains("href=\"/account\""),
        "the user menu links here"
    );
    let csrf = csrf_of(&html);

    // Signed out: to the login page, and back here afterwards.
    let r = t.client().get(t.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login?next=/account");

    // The name: CSRF first, then a refused name is shown with its error, then saved.
    let r = post(&ada.client, t.url("/account/profile"), &[("name", "Eve")]).await;
    assert_eq!(r.status(), 403);
    let r = post(
        &ada.client,
        t.url("/account/profile"),
        &[("csrf", &csrf), ("name", "  ")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Name must not be empty."));
    let r = post(
        &ada.client,
        t.url("/account/profile"),
        &[("csrf", &csrf), ("name", "Ada L")],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (303, "/account?notice=profile_saved")
    );
    let (_, html) = page(&ada.client, t.url("/account?notice=profile_saved")).await;
    assert!(html.contains("Your name was saved.") && html.contains("value=\"Ada L\""));

    // The password: a wrong current one is shown next to its field, and nothing changes.
    let laptop = second_session(&t, &ada.email, PASSWORD).await;
    let change = |current: &'static str, new: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("current_password", current.to_owned()),
            ("new_password", new.to_owned()),
        ]
    };
    let r = ada
        .client
        .post(t.url("/account/password"))
        .form(&change("nope", NEW_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"current-password-error\">The current password is not correct."),
        "{html}"
    );
    let r = ada
        .client
        .post(t.url("/account/password"))
        .form(&change(PASSWORD, "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("id=\"new-password-error\""));
    assert_eq!(me_status(&t, &laptop).await, 200);

    let r = ada
        .client
        .post(t.url("/account/password"))
        .form(&change(PASSWORD, NEW_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (303, "/account?notice=password_changed")
    );
    assert_eq!(
        me_status(&t, &laptop).await,
        401,
        "the other session is over"
    );
    assert_eq!(me_status(&t, &ada.client).await, 200);
}

async fn sessions_are_signed_out_from_the_account_page(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let laptop = second_session(&t, &ada.email, PASSWORD).await;
    let phone = second_session(&t, &ada.email, PASSWORD).await;
    let (_, listed) = send(laptop.get(t.url("/api/v1/me/sessions"))).await;
    let laptop_id = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, html) = page(&ada.client, t.url("/account")).await;
    assert_eq!(html.matches("data-session=\"ses_").count(), 3);
    assert!(html.contains(&format!(
        "action=\"/account/sessions/{laptop_id}/sign-out\""
    )));
    let csrf = csrf_of(&html);

    let sign_out = t.url(&format!("/account/sessions/{laptop_id}/sign-out"));
    assert_eq!(
        post(&ada.client, sign_out.clone(), &[]).await.status(),
        403,
        "CSRF"
    );
    assert_eq!(me_status(&t, &laptop).await, 200);
    let r = post(&ada.client, sign_out.clone(), &[("csrf", &csrf)]).await;
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (303, "/account?notice=session_ended")
    );
    assert_eq!(me_status(&t, &laptop).await, 401);
    // Another user's session, or one already ended: not found, nothing ends.
    let bob = t.sign_up("bob@example.com").await;
    let bob_csrf = account_csrf(&t, &bob).await;
    let (_, ada_sessions) = send(ada.client.get(t.url("/api/v1/me/sessions"))).await;
    let phone_id = ada_sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(
        &bob.client,
        t.url(&format!("/account/sessions/{phone_id}/sign-out")),
        &[("csrf", &bob_csrf)],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(me_status(&t, &phone).await, 200);
    assert_eq!(
        post(&ada.client, sign_out, &[("csrf", &csrf)])
            .await
            .status(),
        404
    );

    let r = post(
        &ada.client,
        t.url("/account/sessions/sign-out-others"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (303, "/account?notice=others_ended")
    );
    assert_eq!(me_status(&t, &phone).await, 401);
    let (_, html) = page(&ada.client, t.url("/account?notice=others_ended")).await;
    assert!(html.contains("All your other sessions were signed out."));
    assert!(
        !html.contains("id=\"sign-out-others\""),
        "nothing else to sign out"
    );

    // Signing out this session is logging out.
    let (_, own) = send(ada.client.get(t.url("/api/v1/me/sessions"))).await;
    let own_id = own["data"][0]["id"].as_str().unwrap().to_owned();
    let r = post(
        &ada.client,
        t.url(&format!("/account/sessions/{own_id}/sign-out")),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(location(&r), "/login?notice=logged_out");
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(me_status(&t, &ada.client).await, 401);
}

async fn forgot_and_reset_password_through_the_pages(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let anon = t.client();
    let (_, login) = page(&anon, t.url("/login")).await;
    assert!(login.contains("href=\"/forgot-password\""));
    let (status, html) = page(&anon, t.url("/forgot-password")).await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);

    assert_eq!(
        post(
            &anon,
            t.url("/forgot-password"),
            &[("email", "ada@example.com")]
        )
        .await
        .status(),
        403
    );
    let r = post(
        &anon,
        t.url("/forgot-password"),
        &[("csrf", &csrf), ("email", "ada@")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"email-error\""));
    let mut landed = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let r = post(
            &anon,
            t.url("/forgot-password"),
            &[("csrf", &csrf), ("email", email)],
        )
        .await;
        assert_eq!(r.status(), 303);
        landed.push(location(&r));
    }
    assert_eq!(
        landed,
        [
            "/forgot-password?notice=sent",
            "/forgot-password?notice=sent"
        ],
        "the same answer"
    );
    let (_, html) = page(&anon, t.url("/forgot-password?notice=sent")).await;
    assert!(html.contains("If an account uses this email"));

    t.deliver_emails().await;
    let sent = t.sent_emails();
    assert_eq!(sent.len(), 1);
    let link = sent[0].first_link().unwrap().to_owned();
    let path = link.strip_prefix(&t.base).unwrap().to_owned();
    let (status, html) = page(&anon, t.url(&path)).await;
    assert_eq!(status, 200);
    assert!(html.contains("Choose a new password"));
    let csrf = csrf_of(&html);
    let r = post(
        &anon,
        t.url(&path),
        &[("csrf", &csrf), ("password", "short")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"password-error\""));

    let r = post(
        &anon,
        t.url(&path),
        &[("csrf", &csrf), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (303, "/login?notice=password_reset")
    );
    assert_eq!(me_status(&t, &ada.client).await, 401, "every session ended");
    let (_, html) = page(&anon, t.url("/login?notice=password_reset")).await;
    assert!(html.contains("Log in with the new password."));
    assert_eq!(
        second_session(&t, &ada.email, NEW_PASSWORD)
            .await
            .get(t.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Used: the link now says so, and its form is refused.
    let (status, html) = page(&anon, t.url(&path)).await;
    assert_eq!(status, 410);
    assert!(
        html.contains("This link no longer works") && html.contains("href=\"/forgot-password\"")
    );
    let r = post(
        &anon,
        t.url(&path),
        &[("csrf", &csrf), ("password", "yet another one")],
    )
    .await;
    assert_eq!(r.status(), 410);
    let (status, _) = page(&anon, t.url("/reset-password/not-a-token")).await;
    assert_eq!(status, 410);
}

async fn a_new_account_sees_the_verification_banner_until_it_follows_the_link(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let c = t.client();
    let (_, html) = page(&c, t.url("/signup")).await;
    let csrf = csrf_of(&html);
    let r = post(
        &c,
        t.url("/signup"),
        &[
            ("csrf", &csrf),
            ("name", "New"),
            ("email", "new@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let overview = location(&r);
    let org = tollgate_domain::OrgId::parse(overview.trim_start_matches("/o/")).unwrap();
    let (_, html) = page(&c, t.url(&overview)).await;
    assert!(html.contains("id=\"verify-banner\""), "{html}");
    assert!(html.contains("follow the link we sent to new@example.com"));
    let csrf = csrf_of(&html);

    // Creating a key is refused, with the reason.
    let project = t.default_project(&org).await;
    let r = post(
        &c,
        t.url(&format!("/o/{org}/api-keys")),
        &[("csrf", &csrf), ("name", "first"), ("project", &project)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Verify your email address first"));

    let r = post(&c, t.url("/account/verify-email/resend"), &[]).await;
    assert_eq!(r.status(), 403, "CSRF");
    let r = post(
        &c,
        t.url("/account/verify-email/resend"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(location(&r), "/account?notice=verification_sent");
    t.deliver_emails().await;
    let links: Vec<String> = t
        .sent_emails()
        .iter()
        .filter(|m| m.kind == "email_verification" && m.to == "new@example.com")
        .map(|m| m.first_link().unwrap().to_owned())
        .collect();
    assert_eq!(links.len(), 2, "the sign-up's and the resent one");

    let path = links[1].strip_prefix(&t.base).unwrap().to_owned();
    let r = t.bare_client().get(t.url(&path)).send().await.unwrap();
    assert_eq!(location(&r), "/account?notice=email_verified");
    let (_, html) = page(&c, t.url("/account?notice=email_verified")).await;
    assert!(html.contains("Your email address is verified."));
    assert!(!html.contains("id=\"verify-banner\""));
    let r = post(
        &c,
        t.url(&format!("/o/{org}/api-keys")),
        &[("csrf", &csrf), ("name", "first"), ("project", &project)],
    )
    .await;
    assert_eq!(r.status(), 303, "now it may");
    // The other link is spent with the first one used.
    let old = links[0].strip_prefix(&t.base).unwrap().to_owned();
    let r = t.bare_client().get(t.url(&old)).send().await.unwrap();
    assert_eq!(r.status(), 410);
}

on_both_engines!(
    the_account_page_edits_the_name_and_changes_the_password,
    sessions_are_signed_out_from_the_account_page,
    forgot_and_reset_password_through_the_pages,
    a_new_account_sees_the_verification_banner_until_it_follows_the_link,
);
