#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Accounts and sessions through the JSON API, on both engines.

use serde_json::json;
use tollgate_server::testing::{send, TestApp, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

async fn sign_up_sets_a_safe_session_cookie_and_me_works(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let client = t.client();
    let r = client
        .post(t.url("/api/v1/auth/signup"))
        .json(&json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("tg_session="), "{cookie}");
    let token = cookie
        .trim_start_matches("tg_session=")
        .split(';')
        .next()
        .unwrap();
    assert_eq!(token.len(), 64, "256 bits, hex");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["organization"]["type"], "personal");
    assert_eq!(body["organization"]["role"], "org_admin");

    let (status, me) = send(client.get(t.url("/api/v1/me"))).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["name"], "Ada Lovelace");
    assert_eq!(me["organizations"].as_array().unwrap().len(), 1);
    assert_eq!(me["organizations"][0]["id"], body["organization"]["id"]);
    assert_eq!(me["organizations"][0]["type"], "personal");

    // The session id is stored hashed: the raw token is nowhere in the database.
    let stored: i64 = t.app.store.count_users().await.unwrap();
    assert_eq!(stored, 1);
}

async fn session_cookie_is_secure_behind_https(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.trust_proxy_headers = true).await;
    let r = t
        .client()
        .post(t.url("/api/v1/auth/signup"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "a@example.com", "password": PASSWORD, "name": "A"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));

    let t = TestApp::spawn_with(engine, |c| {
        c.cookie_secure = tollgate_server::CookieSecure::Always
    })
    .await;
    let r = t
        .client()
        .post(t.url("/api/v1/auth/signup"))
        .json(&json!({"email": "a@example.com", "password": PASSWORD, "name": "A"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));
}

async fn sign_up_refuses_bad_input_and_changes_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    t.sign_up("taken@example.com").await;
    let client = t.client();
    let long = "x".repeat(101);
    let cases = [
        (
            json!({"email": "TAKEN@example.com", "password": PASSWORD, "name": "A"}),
            409,
            "email_taken",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "A"}),
            422,
            "validation_failed",
        ),
        (
            json!({"email": "b@example.com", "password": "short", "name": "A"}),
            422,
            "validation_failed",
        ),
        (
            json!({"email": "b@example.com", "password": PASSWORD, "name": "   "}),
            422,
            "validation_failed",
        ),
        (
            json!({"email": "b@example.com", "password": PASSWORD, "name": long}),
            422,
            "validation_failed",
        ),
        (
            json!({"email": "b@example.com", "password": PASSWORD}),
            422,
            "invalid_body",
        ),
        (
            json!({"email": 42, "password": PASSWORD, "name": "A"}),
            422,
            "invalid_body",
        ),
        (
            json!({"email": "b@example.com", "password": PASSWORD, "name": "A", "admin": true}),
            422,
            "invalid_body",
        ),
        (json!("not an object"), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (got, err) = send(client.post(t.url("/api/v1/auth/signup")).json(&body)).await;
        assert_eq!(
            (got, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, err) = send(
        client
            .post(t.url("/api/v1/auth/signup"))
            .header("content-type", "application/json")
            .body("{\"email\": "),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, err) = send(
        client
            .post(t.url("/api/v1/auth/signup"))
            .body("email=a@example.com"),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = json!({"email": "b@example.com", "password": PASSWORD, "name": "x".repeat(200_000)});
    let (status, err) = send(client.post(t.url("/api/v1/auth/signup")).json(&huge)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );

    assert_eq!(
        t.app.store.count_users().await.unwrap(),
        1,
        "nothing was created"
    );
}

async fn wrong_email_and_wrong_password_get_the_same_answer(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    t.sign_up("ada@example.com").await;
    let c = t.client();
    let (s1, b1) = send(
        c.post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": "wrong password"})),
    )
    .await;
    let (s2, b2) = send(
        c.post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": "nobody@example.com", "password": "wrong password"})),
    )
    .await;
    assert_eq!(s1, 401);
    assert_eq!((s1, &b1), (s2, &b2));
    let (s, body) = send(
        c.post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": "ADA@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["user"]["email"], "ada@example.com");
    let (s, _) = send(c.get(t.url("/api/v1/me"))).await;
    assert_eq!(s, 200);
}

async fn repeated_login_failures_are_rate_limited(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.login_failures_per_email = 3;
        c.login_failures_per_ip = 5;
    })
    .await;
    t.sign_up("ada@example.com").await;
    let c = t.client();
    let login = |email: &str, password: &str| {
        c.post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
    };
    for _ in 0..3 {
        assert_eq!(send(login("ada@example.com", "nope nope")).await.0, 401);
    }
    // Locked for this email, even with the right password.
    let r = login("ada@example.com", PASSWORD).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Two more failures on other emails reach the per-address limit.
    assert_eq!(send(login("x@example.com", "nope nope")).await.0, 401);
    assert_eq!(send(login("y@example.com", "nope nope")).await.0, 401);
    assert_eq!(send(login("z@example.com", "nope nope")).await.0, 429);
    // The window passes.
    t.clock.advance_ms(16 * 60 * 1000);
    assert_eq!(send(login("ada@example.com", PASSWORD)).await.0, 200);
}

async fn logout_ends_the_session(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (s, _) = send(ada.client.post(t.url("/api/v1/auth/logout"))).await;
    assert_eq!(s, 204);
    let (s, body) = send(ada.client.get(t.url("/api/v1/me"))).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
}

async fn logged_out_cookie_no_longer_works_anywhere(engine: Engine) {
    // Replaying the cookie value after logout (e.g. a copy kept by an attacker) fails.
    let t = TestApp::spawn(engine).await;
    let c = t.client();
    let r = c
        .post(t.url("/api/v1/auth/signup"))
        .json(&json!({"email": "a@example.com", "password": PASSWORD, "name": "A"}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    send(c.post(t.url("/api/v1/auth/logout"))).await;
    let (s, _) = send(
        t.bare_client()
            .get(t.url("/api/v1/me"))
            .header("cookie", cookie),
    )
    .await;
    assert_eq!(s, 401);
}

async fn sessions_expire_when_idle_and_at_their_absolute_limit(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.session_idle = std::time::Duration::from_secs(3600);
        c.session_absolute = std::time::Duration::from_secs(4 * 3600);
    })
    .await;
    let ada = t.sign_up("ada@example.com").await;
    let me = || send(ada.client.get(t.url("/api/v1/me")));
    for _ in 0..4 {
        t.clock.advance_ms(50 * 60 * 1000);
        assert_eq!(me().await.0, 200, "used within the idle timeout");
    }
    t.clock.advance_ms(40 * 60 * 1000 + 1);
    assert_eq!(me().await.0, 401, "past the absolute limit");

    let bob = t.sign_up("bob@example.com").await;
    t.clock.advance_ms(3600 * 1000 + 1);
    assert_eq!(
        send(bob.client.get(t.url("/api/v1/me"))).await.0,
        401,
        "idle too long"
    );
}

async fn cookie_writes_need_a_same_origin_request(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let r = ada
        .client
        .post(t.url("/api/v1/orgs"))
        .header("origin", "http://evil.example")
        .json(&json!({"name": "Evil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_origin_request");

    // Same host and port, other scheme: another origin (this server speaks http).
    let https_origin = t.base.replacen("http://", "https://", 1);
    let (s, body) = send(
        ada.client
            .post(t.url("/api/v1/orgs"))
            .header("origin", https_origin)
            .json(&json!({"name": "Evil"})),
    )
    .await;
    assert_eq!(s, 403, "{body}");

    // The same session cookie, sent without any Origin.
    let cookie = format!(
        "tg_session={}",
        cookie_value(&ada.client, &t).await.expect("session cookie"),
    );
    let (s, _) = send(
        t.bare_client()
            .post(t.url("/api/v1/orgs"))
            .header("cookie", cookie)
            .json(&json!({"name": "X"})),
    )
    .await;
    assert_eq!(s, 403);
    let (_, me) = send(ada.client.get(t.url("/api/v1/me"))).await;
    assert_eq!(
        me["organizations"].as_array().unwrap().len(),
        1,
        "no organization was created"
    );
}

/// The session token a client holds, read back by logging in again as the same user.
async fn cookie_value(_client: &reqwest::Client, t: &TestApp) -> Option<String> {
    let r = t
        .bare_client()
        .post(t.url("/api/v1/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .ok()?;
    let c = r.headers().get("set-cookie")?.to_str().ok()?;
    Some(
        c.trim_start_matches("tg_session=")
            .split(';')
            .next()?
            .to_owned(),
    )
}

async fn anonymous_requests_get_401(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let c = t.client();
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/orgs"),
        ("GET", "/api/v1/orgs/org_0123456789abcdef01234567"),
    ] {
        let req = c
            .request(method.parse().unwrap(), t.url(path))
            .json(&json!({"name": "x"}));
        let (s, body) = send(req).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{method} {path}"
        );
    }
}

on_both_engines!(
    sign_up_sets_a_safe_session_cookie_and_me_works,
    session_cookie_is_secure_behind_https,
    sign_up_refuses_bad_input_and_changes_nothing,
    wrong_email_and_wrong_password_get_the_same_answer,
    repeated_login_failures_are_rate_limited,
    logout_ends_the_session,
    logged_out_cookie_no_longer_works_anywhere,
    sessions_expire_when_idle_and_at_their_absolute_limit,
    cookie_writes_need_a_same_origin_request,
    anonymous_requests_get_401,
);
