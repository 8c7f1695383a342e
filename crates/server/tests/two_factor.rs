#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Two-factor sign-in through the JSON API (issue 14): enrolment, the login's second step,
//! single-use codes and recovery codes, turning it off; on both engines.

use serde_json::{json, Value};
use tollgate_domain::clock::Clock;
use tollgate_domain::totp;
use tollgate_server::testing::{send, TestApp, TestUser, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

const STEP_MS: i64 = 30_000;

fn code(secret: &str, t: &TestApp) -> String {
    totp::code_at(&totp::base32_decode(secret).unwrap(), t.clock.now_ms())
}

async fn login(t: &TestApp, email: &str, totp_code: Option<&str>) -> (u16, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(c) = totp_code {
        body["totp_code"] = json!(c);
    }
    send(t.client().post(t.url("/api/v1/auth/login")).json(&body)).await
}

/// Enrols `user`; returns the secret and the recovery codes.
async fn enrol(t: &TestApp, user: &TestUser) -> (String, Vec<String>) {
    let (status, started) = send(user.client.post(t.url("/api/v1/me/totp"))).await;
    assert_eq!(status, 200, "{started}");
    let secret = started["secret"].as_str().unwrap().to_owned();
    let (status, body) = send(
        user.client
            .post(t.url("/api/v1/me/totp/confirm"))
            .json(&json!({"code": code(&secret, t)})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn enrolment_needs_a_right_code_and_shows_recovery_codes_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (status, body) = send(
        ada.client
            .post(t.url("/api/v1/me/totp/confirm"))
            .json(&json!({"code": "123456"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("totp_not_started"))
    );

    let (status, started) = send(ada.client.post(t.url("/api/v1/me/totp"))).await;
    assert_eq!(status, 200, "{started}");
    let secret = started["secret"].as_str().unwrap();
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    // Until confirmed, signing in needs no code.
    assert_eq!(login(&t, "ada@example.com", None).await.0, 200);

    let right = code(secret, &t);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for bad in [
        json!({"code": wrong}),
        json!({"code": "abc"}),
        json!({"code": "1".repeat(5000)}),
    ] {
        let (status, body) =
            send(ada.client.post(t.url("/api/v1/me/totp/confirm")).json(&bad)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("totp_invalid")),
            "{body}"
        );
    }
    let (status, body) = send(
        ada.client
            .post(t.url("/api/v1/me/totp/confirm"))
            .json(&json!({"code": 5})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(login(&t, "ada@example.com", None).await.0, 200, "still off");

    let (status, body) = send(
        ada.client
            .post(t.url("/api/v1/me/totp/confirm"))
            .json(&json!({"code": right})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    // Neither the secret nor the codes can be had again.
    let (status, body) = send(ada.client.post(t.url("/api/v1/me/totp"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("totp_enabled"))
    );
    let (status, body) = send(
        ada.client
            .post(t.url("/api/v1/me/totp/confirm"))
            .json(&json!({"code": right})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("totp_enabled"))
    );
}

async fn login_asks_for_the_code_and_each_code_works_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (secret, recovery) = enrol(&t, &ada).await;

    let (status, body) = login(&t, "ada@example.com", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("totp_required")),
        "{body}"
    );
    // The code that confirmed the enrolment is used up.
    let (status, body) = login(&t, "ada@example.com", Some(&code(&secret, &t))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("totp_invalid")),
        "{body}"
    );
    // A wrong password with a right code is still a wrong password.
    t.clock.advance_ms(STEP_MS);
    let c = code(&secret, &t);
    let (status, _) = send(t.client().post(t.url("/api/v1/auth/login")).json(
        &json!({"email": "ada@example.com", "password": "not the password", "totp_code": c}),
    ))
    .await;
    assert_eq!(status, 401);
    let (status, body) = login(&t, "ada@example.com", Some(&c)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login(&t, "ada@example.com", Some(&c)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("totp_invalid")),
        "replayed code"
    );

    // A recovery code works once, in any case and with or without its dash.
    let first = recovery[0].to_uppercase().replace('-', "");
    assert_eq!(login(&t, "ada@example.com", Some(&first)).await.0, 200);
    assert_eq!(
        login(&t, "ada@example.com", Some(&recovery[0])).await.0,
        401
    );
    assert_eq!(
        login(&t, "ada@example.com", Some(&recovery[1])).await.0,
        200
    );
}

async fn wrong_codes_count_like_failed_logins(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.login_failures_per_email = 3).await;
    let ada = t.sign_up("ada@example.com").await;
    let (secret, _) = enrol(&t, &ada).await;
    t.clock.advance_ms(STEP_MS);
    let right = code(&secret, &t);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..3 {
        assert_eq!(login(&t, "ada@example.com", Some(wrong)).await.0, 401);
    }
    // Past the limit even the right code is refused.
    assert_eq!(login(&t, "ada@example.com", Some(&right)).await.0, 429);
}

async fn turning_it_off_needs_the_password_and_a_code(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (status, body) = send(
        ada.client
            .delete(t.url("/api/v1/me/totp"))
            .json(&json!({"password": PASSWORD, "code": "123456"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("totp_not_enabled"))
    );
    let (secret, recovery) = enrol(&t, &ada).await;
    t.clock.advance_ms(STEP_MS);
    let c = code(&secret, &t);
    let (status, body) = send(
        ada.client
            .delete(t.url("/api/v1/me/totp"))
            .json(&json!({"password": "not the password", "code": c})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("wrong_password"))
    );
    let (status, body) = send(
        ada.client
            .delete(t.url("/api/v1/me/totp"))
            .json(&json!({"password": PASSWORD, "code": "not-a-code"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("totp_invalid"))
    );
    assert_eq!(login(&t, "ada@example.com", None).await.0, 401, "still on");
    let (status, body) = send(
        ada.client
            .delete(t.url("/api/v1/me/totp"))
            .json(&json!({"password": PASSWORD, "code": recovery[3]})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(login(&t, "ada@example.com", None).await.0, 200);
    // A new enrolment gets a new secret.
    let (_, started) = send(ada.client.post(t.url("/api/v1/me/totp"))).await;
    assert_ne!(started["secret"].as_str().unwrap(), secret);
}

fn csrf_of(html: &str) -> String {
    let start =
        html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[start..start + 64].to_owned()
}

async fn console_login_asks_for_the_code_on_a_second_page(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (secret, _) = enrol(&t, &ada).await;
    t.clock.advance_ms(STEP_MS);
    let anon = t.client();
    let html = anon
        .get(t.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first = [
        ("csrf", csrf_of(&html)),
        ("email", "ada@example.com".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let r = anon
        .post(t.url("/login"))
        .form(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"two-factor-form\""), "{html}");
    assert!(html.contains("name=\"totp_code\""));
    assert_eq!(
        anon.get(t.url("/account")).send().await.unwrap().status(),
        303,
        "not signed in yet"
    );

    let right = code(&secret, &t);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let with_code = |c: &str, csrf: String| {
        [
            ("csrf", csrf),
            ("email", "ada@example.com".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("totp_code", c.to_owned()),
        ]
    };
    let r = anon
        .post(t.url("/login"))
        .form(&with_code(wrong, csrf_of(&html)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"totp-code-error\""), "{html}");
    assert!(
        html.contains("id=\"two-factor-form\""),
        "the second page again"
    );
    let r = anon
        .post(t.url("/login"))
        .form(&with_code(&right, csrf_of(&html)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        anon.get(t.url("/account")).send().await.unwrap().status(),
        200
    );
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).expect(start) + start.len();
    let len = html[from..].find(end).expect(end);
    &html[from..from + len]
}

async fn the_account_page_enrols_with_a_qr_code_and_shows_recovery_codes_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let get = || async {
        ada.client
            .get(t.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let html = get().await;
    assert!(html.contains("id=\"totp-start\""), "{html}");
    let r = ada
        .client
        .post(t.url("/account/totp"))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = get().await;
    assert!(
        between(&html, "id=\"totp-qr\"", "</div>").contains("<svg"),
        "QR code drawn as SVG"
    );
    let secret = between(&html, "id=\"totp-secret\">", "<").to_owned();
    let right = code(&secret, &t);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = ada
        .client
        .post(t.url("/account/totp/confirm"))
        .form(&[("csrf", csrf_of(&html)), ("code", wrong.to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"totp-code-error\""), "{html}");
    let r = ada
        .client
        .post(t.url("/account/totp/confirm"))
        .form(&[("csrf", csrf_of(&html)), ("code", right)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = get().await;
    assert!(html.contains("On. Signing in asks for a code"), "{html}");
    let shown = between(&html, "id=\"recovery-codes\"", "</ul>")
        .matches("<code>")
        .count();
    assert_eq!(shown, 10);
    assert!(!html.contains(&secret), "the secret is not shown once on");
    let again = get().await;
    assert!(!again.contains("id=\"recovery-codes\""), "shown once");
    assert_eq!(login(&t, "ada@example.com", None).await.0, 401);

    // Turning it off: a wrong code keeps it on and says so, a right one turns it off.
    t.clock.advance_ms(STEP_MS);
    let r = ada
        .client
        .post(t.url("/account/totp/disable"))
        .form(&[
            ("csrf", csrf_of(&again)),
            ("password", PASSWORD.to_owned()),
            ("code", "nope".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"totp-off-code-error\""), "{html}");
    let r = ada
        .client
        .post(t.url("/account/totp/disable"))
        .form(&[
            ("csrf", csrf_of(&html)),
            ("password", PASSWORD.to_owned()),
            ("code", code(&secret, &t)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(get().await.contains("id=\"totp-start\""));
    assert_eq!(login(&t, "ada@example.com", None).await.0, 200);
}

on_both_engines!(
    the_account_page_enrols_with_a_qr_code_and_shows_recovery_codes_once,
    console_login_asks_for_the_code_on_a_second_page,
    enrolment_needs_a_right_code_and_shows_recovery_codes_once,
    login_asks_for_the_code_and_each_code_works_once,
    wrong_codes_count_like_failed_logins,
    turning_it_off_needs_the_password_and_a_code,
);
