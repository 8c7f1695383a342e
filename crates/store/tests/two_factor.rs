#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Two-factor enrolment, single-use codes and recovery codes (docs/account-security.md), on
//! both engines.

mod common;

use common::{new_user, NOW};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, Engine};

async fn enrolment_is_enabled_once_and_its_secret_is_kept(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, _) = new_user(&store, "ada@example.com").await;
    assert_eq!(store.totp_state(&ada.id).await.unwrap(), None);
    assert!(store.start_totp(&ada.id, "FIRST", NOW).await.unwrap());
    // Restarting before confirming replaces the secret.
    assert!(store.start_totp(&ada.id, "SECOND", NOW + 1).await.unwrap());
    let state = store.totp_state(&ada.id).await.unwrap().unwrap();
    assert_eq!(state.secret, "SECOND");
    assert!(!state.enabled);
    assert!(!store.totp_enabled(&ada.id).await.unwrap());

    let hashes: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
    assert!(store
        .enable_totp(&ada.id, 100, &hashes, NOW + 2)
        .await
        .unwrap());
    // A second confirm (a concurrent one) finds nothing to enable.
    assert!(!store
        .enable_totp(&ada.id, 101, &hashes, NOW + 3)
        .await
        .unwrap());
    assert!(store.totp_enabled(&ada.id).await.unwrap());
    assert_eq!(store.recovery_codes_left(&ada.id).await.unwrap(), 10);
    // Once enabled, the secret is never replaced by a new start.
    assert!(!store.start_totp(&ada.id, "THIRD", NOW + 4).await.unwrap());
    let state = store.totp_state(&ada.id).await.unwrap().unwrap();
    assert_eq!(state.secret, "SECOND");
    assert_eq!(state.last_used_step, Some(100));

    assert!(store.disable_totp(&ada.id).await.unwrap());
    assert_eq!(store.totp_state(&ada.id).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(&ada.id).await.unwrap(), 0);
    assert!(!store.disable_totp(&ada.id).await.unwrap());
}

async fn each_code_and_recovery_code_works_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, _) = new_user(&store, "ada@example.com").await;
    let (bob, _) = new_user(&store, "bob@example.com").await;
    // Not enabled: no step is accepted.
    assert!(!store.use_totp_step(&ada.id, 5).await.unwrap());
    store.start_totp(&ada.id, "S", NOW).await.unwrap();
    assert!(!store.use_totp_step(&ada.id, 5).await.unwrap());
    let hashes = vec!["r1".to_owned(), "r2".to_owned()];
    store.enable_totp(&ada.id, 10, &hashes, NOW).await.unwrap();

    assert!(
        !store.use_totp_step(&ada.id, 10).await.unwrap(),
        "the confirming code"
    );
    assert!(
        !store.use_totp_step(&ada.id, 9).await.unwrap(),
        "an older step"
    );
    assert!(store.use_totp_step(&ada.id, 11).await.unwrap());
    assert!(
        !store.use_totp_step(&ada.id, 11).await.unwrap(),
        "the same code again"
    );

    assert!(
        !store.use_recovery_code(&bob.id, "r1", NOW).await.unwrap(),
        "another user's"
    );
    assert!(store.use_recovery_code(&ada.id, "r1", NOW).await.unwrap());
    assert!(!store.use_recovery_code(&ada.id, "r1", NOW).await.unwrap());
    assert!(!store.use_recovery_code(&ada.id, "nope", NOW).await.unwrap());
    assert_eq!(store.recovery_codes_left(&ada.id).await.unwrap(), 1);
}

on_both_engines!(
    enrolment_is_enabled_once_and_its_secret_is_kept,
    each_code_and_recovery_code_works_once,
);
