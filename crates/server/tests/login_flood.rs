#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Bursts of concurrent logins: no more passwords are checked than the rate limit allows, and
//! no more hashes run at once than the configured bound (issue 9).

use std::time::Duration;

use serde_json::json;
use tollgate_server::testing::{TestApp, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

const HASHING_AT_ONCE: usize = 2;

/// Sends `n` logins at once; the status of each.
async fn burst(t: &TestApp, n: usize, email: impl Fn(usize) -> String) -> Vec<u16> {
    let client = t.client();
    let requests: Vec<_> = (0..n)
        .map(|i| {
            let request = client
                .post(t.url("/api/v1/auth/login"))
                .json(&json!({"email": email(i), "password": "wrong password"}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn a_burst_for_one_email_checks_at_most_the_limit(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.password_hash_concurrency = HASHING_AT_ONCE;
        c.password_hash_wait = Duration::from_secs(30);
    })
    .await;
    let ada = t.sign_up("ada@example.com").await;
    let statuses = burst(&t, 100, |_| ada.email.clone()).await;

    let checked = t.app.passwords.verifications();
    assert!(
        checked <= 10,
        "{checked} passwords checked; the limit is 10"
    );
    assert_eq!(count(&statuses, 401), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 90, "{statuses:?}");
    let most = t.app.passwords.most_at_once();
    assert!(most <= HASHING_AT_ONCE, "{most} hashes ran at once");

    // The right password is refused too until the window ends.
    let (status, _) = tollgate_server::testing::send(
        t.client()
            .post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": ada.email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 429);
}

async fn a_burst_from_one_address_checks_at_most_its_limit(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.password_hash_concurrency = HASHING_AT_ONCE;
        c.password_hash_wait = Duration::from_secs(60);
    })
    .await;
    let statuses = burst(&t, 100, |i| format!("user{i}@example.com")).await;
    let checked = t.app.passwords.verifications();
    assert!(
        checked <= 50,
        "{checked} passwords checked; the limit is 50"
    );
    assert_eq!(count(&statuses, 401), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 50, "{statuses:?}");
    assert!(t.app.passwords.most_at_once() <= HASHING_AT_ONCE);
}

/// With every turn taken, a login is answered 503 quickly, and it is not counted as a
/// failure: only the checked ones are.
async fn logins_beyond_the_hashing_bound_answer_503_and_are_not_counted(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.password_hash_concurrency = 1;
        c.password_hash_wait = Duration::from_millis(1);
    })
    .await;
    let statuses = burst(&t, 30, |i| format!("user{i}@example.com")).await;
    let checked = usize::try_from(t.app.passwords.verifications()).unwrap();
    assert_eq!(count(&statuses, 401), checked, "{statuses:?}");
    assert_eq!(count(&statuses, 503), 30 - checked, "{statuses:?}");
    assert!(checked < 30, "one turn, no wait: some were turned away");
    assert_eq!(t.app.passwords.most_at_once(), 1);
    let window = 15 * 60 * 1000;
    let failures = t
        .app
        .store
        .rate_hits("login:ip:127.0.0.1", window, t.app.now())
        .await
        .unwrap();
    assert_eq!(failures, i64::try_from(checked).unwrap());
}

on_both_engines!(
    a_burst_for_one_email_checks_at_most_the_limit,
    a_burst_from_one_address_checks_at_most_its_limit,
    logins_beyond_the_hashing_bound_answer_503_and_are_not_counted,
);
