#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Housekeeping removes expired sessions and finished rate-limit windows, on both engines.

use tollgate_server::jobs::housekeeping;
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

async fn expired_rows_are_removed(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.session_idle = std::time::Duration::from_secs(3600)
    })
    .await;
    let ada = t.sign_up("ada@example.com").await;
    let fresh = t.sign_up("bob@example.com").await;
    assert_eq!(
        housekeeping::run_once(&t.app).await.unwrap(),
        (0, 0),
        "nothing is expired yet"
    );
    t.clock.advance_ms(30 * 60 * 1000);
    assert_eq!(send(fresh.client.get(t.url("/api/v1/me"))).await.0, 200);
    t.clock.advance_ms(31 * 60 * 1000);
    // Ada's session idled out; Bob's was used 31 minutes ago. The sign-up windows are a day
    // from being pruned.
    assert_eq!(housekeeping::run_once(&t.app).await.unwrap(), (1, 0));
    assert_eq!(send(ada.client.get(t.url("/api/v1/me"))).await.0, 401);
    assert_eq!(send(fresh.client.get(t.url("/api/v1/me"))).await.0, 200);
    t.clock.advance_ms(25 * 3600 * 1000);
    let (_, windows) = housekeeping::run_once(&t.app).await.unwrap();
    assert!(windows >= 1, "the sign-up rate window is gone");
}

on_both_engines!(expired_rows_are_removed);
