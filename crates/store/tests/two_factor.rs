#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Two-factor enrolment, single-use codes and recovery codes (docs/account-security.md), on
//! both engines.

mod common;

use common::{new_user, NOW};
use serde_json::json;
use tollgate_domain::{Name, OrgId, OrgRole};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, AuditEntry, Engine, StoreError};

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

/// Migration 0020 and decision 0024: an organization's `require_2fa` starts off, is read
/// with the organization and its memberships, is audited once per change, and the members
/// list says who has two-factor sign-in on.
async fn organizations_require_two_factor_and_members_show_it(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, org) = new_user(&store, "ada@example.com").await;
    let (bob, _) = new_user(&store, "bob@example.com").await;
    store
        .add_membership(&org.id, &bob.id, OrgRole::OrgAdmin, NOW)
        .await
        .unwrap();
    assert!(!org.require_2fa, "off for a new organization");
    assert!(!store.org(&org.id).await.unwrap().unwrap().require_2fa);

    let on = store
        .set_org_require_2fa(&org.id, true, NOW + 1, entry(&ada.id, "on"))
        .await
        .unwrap();
    assert!(on.require_2fa);
    assert!(store.org(&org.id).await.unwrap().unwrap().require_2fa);
    let seen_by_bob = store.membership(&org.id, &bob.id).await.unwrap().unwrap();
    assert!(seen_by_bob.org.require_2fa);
    let listed = store.memberships(&ada.id).await.unwrap();
    assert!(listed
        .iter()
        .any(|m| m.org.id == org.id && m.org.require_2fa));
    // Renaming keeps it.
    let renamed = store
        .rename_org(
            &org.id,
            &Name::parse("name", "R").unwrap(),
            NOW + 2,
            entry(&ada.id, "rename"),
        )
        .await
        .unwrap();
    assert!(renamed.require_2fa);

    // The same value again changes nothing and is not audited.
    store
        .set_org_require_2fa(&org.id, true, NOW + 3, entry(&ada.id, "again"))
        .await
        .unwrap();
    let off = store
        .set_org_require_2fa(&org.id, false, NOW + 4, entry(&ada.id, "off"))
        .await
        .unwrap();
    assert!(!off.require_2fa);
    let log = store
        .audit_log(&org.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["off", "rename", "on"]
    );
    assert!(matches!(
        store
            .set_org_require_2fa(&OrgId::generate(), true, NOW, entry(&ada.id, "x"))
            .await,
        Err(StoreError::NotFound)
    ));

    // Who has two-factor on: only a confirmed enrolment counts.
    store.start_totp(&bob.id, "S", NOW).await.unwrap();
    let totp = |members: Vec<tollgate_store::Member>| {
        members
            .into_iter()
            .map(|m| (m.email, m.totp_enabled))
            .collect::<Vec<_>>()
    };
    let members = store
        .list_members(&org.id, None, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        totp(members),
        [
            ("ada@example.com".to_owned(), false),
            ("bob@example.com".to_owned(), false)
        ]
    );
    store.enable_totp(&bob.id, 1, &[], NOW).await.unwrap();
    let members = store
        .list_members(&org.id, None, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        totp(members),
        [
            ("ada@example.com".to_owned(), false),
            ("bob@example.com".to_owned(), true)
        ]
    );
    assert!(
        store
            .member(&org.id, &bob.id)
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
}

fn entry<'a>(actor: &'a str, action: &'a str) -> AuditEntry<'a> {
    AuditEntry {
        actor_id: Some(actor),
        actor_email: None,
        action,
        target_type: "organization",
        target_id: "",
        details: json!({}),
        ip: None,
    }
}

on_both_engines!(
    enrolment_is_enabled_once_and_its_secret_is_kept,
    each_code_and_recovery_code_works_once,
    organizations_require_two_factor_and_members_show_it,
);
