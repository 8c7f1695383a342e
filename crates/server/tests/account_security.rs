#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Account security through the JSON API (issue 14): profile, password change, sessions and
//! forgot password, on both engines.

use reqwest::header::{HeaderMap, HeaderValue, ORIGIN};
use serde_json::{json, Value};
use tollgate_server::testing::{send, TestApp, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const NEW_PASSWORD: &str = "a brand new passphrase";
const HOUR_MS: i64 = 3_600_000;

/// A browser-like client (cookies, this site's Origin) with its own User-Agent.
fn client_as(t: &TestApp, user_agent: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN, HeaderValue::from_str(&t.base).unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A new session of `email` on a client of its own.
async fn log_in(
    t: &TestApp,
    email: &str,
    password: &str,
    user_agent: &str,
) -> (u16, reqwest::Client) {
    let c = client_as(t, user_agent);
    let (status, _) = send(
        c.post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    (status, c)
}

async fn me_status(t: &TestApp, c: &reqwest::Client) -> u16 {
    send(c.get(t.url("/api/v1/me"))).await.0
}

async fn sessions(t: &TestApp, c: &reqwest::Client) -> Vec<Value> {
    let (status, body) = send(c.get(t.url("/api/v1/me/sessions"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["has_more"], false);
    body["data"].as_array().unwrap().clone()
}

async fn the_profile_name_is_editable_and_bounded(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (status, body) = send(
        ada.client
            .patch(t.url("/api/v1/me"))
            .json(&json!({"name": "  Ada Lovelace "})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["name"], "Ada Lovelace");
    let long = "x".repeat(101);
    for bad in [
        json!({"name": ""}),
        json!({"name": long}),
        json!({"name": 5}),
        json!({"name": "Eve", "email": "eve@example.com"}),
    ] {
        let (status, body) = send(ada.client.patch(t.url("/api/v1/me")).json(&bad)).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert!(body["error"]["code"].is_string());
    }
    let (_, me) = send(ada.client.get(t.url("/api/v1/me"))).await;
    assert_eq!(me["user"]["name"], "Ada Lovelace");
    assert_eq!(
        me["user"]["email"], "ada@example.com",
        "the email is not writable"
    );
}

async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (status, laptop) = log_in(&t, &ada.email, PASSWORD, FIREFOX).await;
    assert_eq!(status, 200);
    let change = |current: &str, new: &str| {
        ada.client
            .post(t.url("/api/v1/me/password"))
            .json(&json!({"current_password": current, "new_password": new}))
    };

    let (status, body) = send(change("not my password", NEW_PASSWORD)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("wrong_password"))
    );
    let (status, body) = send(change(PASSWORD, "short")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, _) = send(change(PASSWORD, &"y".repeat(1025))).await;
    assert_eq!(status, 422);
    assert_eq!(
        me_status(&t, &laptop).await,
        200,
        "refused changes end nothing"
    );

    let (status, body) = send(change(PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(me_status(&t, &ada.client).await, 200, "this session stays");
    assert_eq!(me_status(&t, &laptop).await, 401, "the other one is over");
    assert_eq!(log_in(&t, &ada.email, PASSWORD, FIREFOX).await.0, 401);
    assert_eq!(log_in(&t, &ada.email, NEW_PASSWORD, FIREFOX).await.0, 200);
}

async fn wrong_current_passwords_are_rate_limited(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.login_failures_per_email = 3).await;
    let ada = t.sign_up("ada@example.com").await;
    let change = |current: &str| {
        ada.client
            .post(t.url("/api/v1/me/password"))
            .json(&json!({"current_password": current, "new_password": NEW_PASSWORD}))
    };
    for _ in 0..3 {
        assert_eq!(send(change("guess")).await.0, 403);
    }
    let (status, body) = send(change(PASSWORD)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "even the right password waits for the window"
    );
    assert_eq!(
        log_in(&t, &ada.email, PASSWORD, FIREFOX).await.0,
        200,
        "unchanged"
    );
    t.clock.advance_ms(15 * 60_000);
    assert_eq!(send(change(PASSWORD)).await.0, 200);
}

async fn sessions_are_listed_and_signed_out_one_by_one_or_all_others(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (_, firefox) = log_in(&t, &ada.email, PASSWORD, FIREFOX).await;
    let (_, script) = log_in(&t, &ada.email, PASSWORD, "curl/8.5.0").await;

    let listed = sessions(&t, &firefox).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "Firefox on Linux");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    assert!(current[0]["last_seen_at"].as_str().unwrap().ends_with('Z'));
    let script_id = sessions(&t, &script)
        .await
        .into_iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(listed
        .iter()
        .any(|s| s["id"] == script_id.as_str() && s["device"] == "curl"));

    // Another user cannot see or end Ada's sessions: 404, as for an unknown id.
    let bob = t.sign_up("bob@example.com").await;
    assert_eq!(sessions(&t, &bob.client).await.len(), 1);
    for id in [
        script_id.as_str(),
        "ses_000000000000000000000000",
        "garbage",
        "%00",
    ] {
        let (status, body) = send(
            bob.client
                .delete(t.url(&format!("/api/v1/me/sessions/{id}"))),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{id}"
        );
    }
    assert_eq!(me_status(&t, &script).await, 200);

    let (status, _) =
        send(firefox.delete(t.url(&format!("/api/v1/me/sessions/{script_id}")))).await;
    assert_eq!(status, 204);
    assert_eq!(me_status(&t, &script).await, 401);
    assert_eq!(
        send(firefox.delete(t.url(&format!("/api/v1/me/sessions/{script_id}"))))
            .await
            .0,
        404
    );

    let (status, body) = send(firefox.post(t.url("/api/v1/me/sessions/sign-out-others"))).await;
    assert_eq!((status, body["sessions_ended"].as_u64()), (200, Some(1)));
    assert_eq!(me_status(&t, &ada.client).await, 401);
    assert_eq!(me_status(&t, &firefox).await, 200);
    assert_eq!(
        me_status(&t, &bob.client).await,
        200,
        "other users keep theirs"
    );

    let own = sessions(&t, &firefox).await;
    assert_eq!(own.len(), 1);
    let own_id = own[0]["id"].as_str().unwrap();
    assert_eq!(
        send(firefox.delete(t.url(&format!("/api/v1/me/sessions/{own_id}"))))
            .await
            .0,
        204
    );
    assert_eq!(
        me_status(&t, &firefox).await,
        401,
        "signing out the current session ends it"
    );
}

/// The token of the last reset link emailed to `to`.
async fn last_reset_token(t: &TestApp, to: &str) -> String {
    t.deliver_emails().await;
    let mail = t
        .sent_emails()
        .into_iter()
        .rfind(|m| m.to == to && m.kind == "password_reset")
        .expect("a reset email");
    let link = mail.first_link().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/reset-password/", t.base)),
        "{link}"
    );
    link.rsplit('/').next().unwrap().to_owned()
}

async fn forgot(t: &TestApp, c: &reqwest::Client, email: &str) -> (u16, Value) {
    send(
        c.post(t.url("/api/v1/auth/forgot-password"))
            .json(&json!({"email": email})),
    )
    .await
}

async fn reset(t: &TestApp, c: &reqwest::Client, token: &str, password: &str) -> (u16, Value) {
    send(
        c.post(t.url("/api/v1/auth/reset-password"))
            .json(&json!({"token": token, "password": password})),
    )
    .await
}

async fn forgot_password_emails_a_single_use_link_that_ends_every_session(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (_, laptop) = log_in(&t, &ada.email, PASSWORD, FIREFOX).await;
    let anon = t.client();

    let known = forgot(&t, &anon, "Ada@Example.com").await;
    let unknown = forgot(&t, &anon, "nobody@example.com").await;
    assert_eq!(known.0, 202);
    assert_eq!(
        known, unknown,
        "the same answer whether or not the email has an account"
    );
    assert_eq!(forgot(&t, &anon, "not an email").await.0, 422);
    t.deliver_emails().await;
    let sent = t.sent_emails();
    assert_eq!(sent.len(), 1, "only the real account gets an email");
    assert_eq!(
        (sent[0].to.as_str(), sent[0].kind.as_str()),
        ("ada@example.com", "password_reset")
    );
    assert!(
        sent[0].text_body.contains("expires"),
        "{}",
        sent[0].text_body
    );
    let token = last_reset_token(&t, &ada.email).await;

    // A bad new password changes nothing and leaves the link usable.
    assert_eq!(reset(&t, &anon, &token, "short").await.0, 422);
    assert_eq!(me_status(&t, &laptop).await, 200);

    assert_eq!(reset(&t, &anon, &token, NEW_PASSWORD).await.0, 204);
    assert_eq!(me_status(&t, &ada.client).await, 401, "every session ended");
    assert_eq!(me_status(&t, &laptop).await, 401);
    assert_eq!(log_in(&t, &ada.email, PASSWORD, FIREFOX).await.0, 401);
    assert_eq!(log_in(&t, &ada.email, NEW_PASSWORD, FIREFOX).await.0, 200);

    let (status, body) = reset(&t, &anon, &token, "another passphrase").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("reset_link_invalid")),
        "single use"
    );
    assert_eq!(log_in(&t, &ada.email, NEW_PASSWORD, FIREFOX).await.0, 200);
    for bad in ["", "zz", &"0".repeat(64)] {
        assert_eq!(
            reset(&t, &anon, bad, "another passphrase").await.0,
            410,
            "{bad}"
        );
    }
}

async fn a_reset_link_expires_after_an_hour(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let anon = t.client();
    assert_eq!(forgot(&t, &anon, &ada.email).await.0, 202);
    let token = last_reset_token(&t, &ada.email).await;
    t.clock.advance_ms(HOUR_MS);
    assert_eq!(reset(&t, &anon, &token, NEW_PASSWORD).await.0, 410);
    assert_eq!(
        log_in(&t, &ada.email, PASSWORD, FIREFOX).await.0,
        200,
        "unchanged"
    );
}

async fn forgot_password_is_rate_limited_per_email(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.password_resets_per_email_per_hour = 2).await;
    let ada = t.sign_up("ada@example.com").await;
    let anon = t.client();
    for email in [ada.email.as_str(), "nobody@example.com"] {
        assert_eq!(forgot(&t, &anon, email).await.0, 202);
        assert_eq!(forgot(&t, &anon, email).await.0, 202);
        let (status, body) = forgot(&t, &anon, email).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("rate_limited")),
            "{email}"
        );
    }
    t.deliver_emails().await;
    assert_eq!(t.sent_emails().len(), 2, "no email past the limit");
    t.clock.advance_ms(HOUR_MS);
    assert_eq!(forgot(&t, &anon, &ada.email).await.0, 202);
}

async fn forgot_password_is_rate_limited_per_address(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.password_resets_per_ip_per_hour = 3;
        c.trust_proxy_headers = true;
    })
    .await;
    let anon = t.client();
    let from = |ip: &'static str, email: &str| {
        anon.post(t.url("/api/v1/auth/forgot-password"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email}))
    };
    for i in 0..3 {
        assert_eq!(
            send(from("10.0.0.1", &format!("u{i}@example.com"))).await.0,
            202
        );
    }
    assert_eq!(send(from("10.0.0.1", "u9@example.com")).await.0, 429);
    assert_eq!(send(from("10.0.0.2", "u9@example.com")).await.0, 202);
}

async fn reset_tokens_cannot_be_guessed(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.login_failures_per_ip = 3).await;
    let ada = t.sign_up("ada@example.com").await;
    let anon = t.client();
    assert_eq!(forgot(&t, &anon, &ada.email).await.0, 202);
    let token = last_reset_token(&t, &ada.email).await;
    for i in 0..3 {
        let guess = format!("{i:064x}");
        assert_eq!(reset(&t, &anon, &guess, NEW_PASSWORD).await.0, 410);
    }
    let (status, body) = reset(&t, &anon, &token, NEW_PASSWORD).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    assert_eq!(
        log_in(&t, &ada.email, PASSWORD, FIREFOX).await.0,
        200,
        "unchanged"
    );
    t.clock.advance_ms(15 * 60_000);
    assert_eq!(
        reset(&t, &anon, &token, NEW_PASSWORD).await.0,
        204,
        "the real link still works"
    );
}

async fn account_endpoints_need_a_session(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let anon = t.client();
    let requests = [
        anon.patch(t.url("/api/v1/me")).json(&json!({"name": "x"})),
        anon.post(t.url("/api/v1/me/password"))
            .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        anon.get(t.url("/api/v1/me/sessions")),
        anon.delete(t.url("/api/v1/me/sessions/ses_000000000000000000000000")),
        anon.post(t.url("/api/v1/me/sessions/sign-out-others")),
        anon.post(t.url("/api/v1/me/verify-email/resend")),
    ];
    for r in requests {
        let (status, body) = send(r).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthenticated"))
        );
    }
}

/// Signs up without the test helper's verification: a new account as the person has it.
async fn sign_up_unverified(t: &TestApp, email: &str) -> (reqwest::Client, Value) {
    let c = t.client();
    let (status, body) = send(
        c.post(t.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD, "name": "New"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (c, body)
}

/// The token of the newest verification email to `to` (delivering what is due first).
async fn verification_token(t: &TestApp, to: &str) -> String {
    t.deliver_emails().await;
    let mail = t
        .sent_emails()
        .into_iter()
        .rfind(|m| m.to == to && m.kind == "email_verification")
        .expect("a verification email");
    let link = mail.first_link().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/verify-email/", t.base)),
        "{link}"
    );
    link.rsplit('/').next().unwrap().to_owned()
}

async fn verify(t: &TestApp, token: &str) -> (u16, Value) {
    send(
        t.client()
            .post(t.url("/api/v1/auth/verify-email"))
            .json(&json!({"token": token})),
    )
    .await
}

async fn new_accounts_verify_their_email_before_keys_or_credits(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (c, body) = sign_up_unverified(&t, "new@example.com").await;
    assert_eq!(body["user"]["email_verified"], false);
    let org = tollgate_domain::OrgId::parse(body["organization"]["id"].as_str().unwrap()).unwrap();
    let project = t.default_project(&org).await;
    let keys = t.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys"));
    let create_key = || c.post(&keys).json(&json!({"name": "first"}));
    let buy = || {
        c.post(t.url(&format!("/api/v1/orgs/{org}/billing/credits")))
            .header("Idempotency-Key", "buy-1")
            .json(&json!({"amount": "20.00"}))
    };

    for (what, request) in [("key", create_key()), ("credits", buy())] {
        let (status, body) = send(request).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("email_not_verified")),
            "{what}: {body}"
        );
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new@example.com"));
    }
    let (_, listed) = send(c.get(&keys)).await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        0,
        "no key was made"
    );

    let token = verification_token(&t, "new@example.com").await;
    assert_eq!(verify(&t, &"0".repeat(64)).await.0, 410);
    let (status, body) = verify(&t, &token).await;
    assert_eq!(
        (status, body["user"]["email_verified"].as_bool()),
        (200, Some(true))
    );
    let (_, me) = send(c.get(t.url("/api/v1/me"))).await;
    assert_eq!(me["user"]["email_verified"], true);
    assert_eq!(send(create_key()).await.0, 201);
    let (status, body) = verify(&t, &token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("verification_link_invalid"))
    );
    let (status, body) = send(c.post(t.url("/api/v1/me/verify-email/resend"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("email_already_verified"))
    );
}

async fn the_verification_link_is_sent_again_a_few_times_an_hour(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (c, _) = sign_up_unverified(&t, "new@example.com").await;
    let first = verification_token(&t, "new@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            send(c.post(t.url("/api/v1/me/verify-email/resend")))
                .await
                .0,
            202
        );
    }
    let (status, body) = send(c.post(t.url("/api/v1/me/verify-email/resend"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let last = verification_token(&t, "new@example.com").await;
    let sent = t
        .sent_emails()
        .iter()
        .filter(|m| m.kind == "email_verification")
        .count();
    assert_eq!(sent, 6, "the first and five more");
    assert_ne!(first, last);
    assert_eq!(verify(&t, &last).await.0, 200);
    assert_eq!(
        verify(&t, &first).await.0,
        410,
        "one link used spends them all"
    );
    assert_eq!(
        send(t.client().post(t.url("/api/v1/me/verify-email/resend")))
            .await
            .0,
        401
    );
}

async fn accepting_an_invitation_verifies_the_address(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let (status, _) = send(
        admin
            .client
            .post(t.url(&format!("/api/v1/orgs/{}/invites", admin.org_id)))
            .json(&json!({"emails": ["bob@example.com"], "role": "org_admin"})),
    )
    .await;
    assert_eq!(status, 201);
    let (bob, body) = sign_up_unverified(&t, "bob@example.com").await;
    assert_eq!(body["user"]["email_verified"], false);
    t.deliver_emails().await;
    let invitation = t
        .sent_emails()
        .into_iter()
        .find(|m| m.kind == "invitation")
        .unwrap();
    let token = invitation
        .first_link()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let (status, body) = send(bob.post(t.url(&format!("/api/v1/invites/{token}/accept")))).await;
    assert_eq!(status, 200, "{body}");
    let (_, me) = send(bob.get(t.url("/api/v1/me"))).await;
    assert_eq!(me["user"]["email_verified"], true);
}

on_both_engines!(
    the_profile_name_is_editable_and_bounded,
    a_password_change_needs_the_current_one_and_ends_the_other_sessions,
    wrong_current_passwords_are_rate_limited,
    sessions_are_listed_and_signed_out_one_by_one_or_all_others,
    forgot_password_emails_a_single_use_link_that_ends_every_session,
    a_reset_link_expires_after_an_hour,
    forgot_password_is_rate_limited_per_email,
    forgot_password_is_rate_limited_per_address,
    reset_tokens_cannot_be_guessed,
    account_endpoints_need_a_session,
    new_accounts_verify_their_email_before_keys_or_credits,
    the_verification_link_is_sent_again_a_few_times_an_hour,
    accepting_an_invitation_verifies_the_address,
);
