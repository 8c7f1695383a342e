#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The storage conformance suite: every test runs on SQLite and on PostgreSQL.

use serde_json::json;
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::payment::PaymentKind;
use tollgate_domain::{Email, Money, Name, OrgId, OrgRole, OrgType, PaymentId};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, AuditEntry, BeganPayment, Conflict, Engine, NewPayment, NewUser, Store,
    StoreError,
};

const NOW: i64 = 1_790_000_000_000;

fn audit<'a>(actor: &'a str, action: &'a str, target: &'a str) -> AuditEntry<'a> {
    AuditEntry {
        actor_id: Some(actor),
        actor_email: None,
        action,
        target_type: "organization",
        target_id: target,
        details: json!({}),
        ip: Some("127.0.0.1"),
    }
}

async fn new_user(store: &Store, email: &str) -> (tollgate_store::User, tollgate_store::Org) {
    let email = Email::parse(email).unwrap();
    let name = Name::parse("name", "Ada").unwrap();
    let org_name = Name::parse("name", "Ada's org").unwrap();
    store
        .create_user(
            NewUser {
                email: &email,
                name: &name,
                password_hash: "hash",
            },
            &org_name,
            NOW,
        )
        .await
        .unwrap()
}

async fn sign_up_creates_a_personal_org(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (user, org) = new_user(&store, "Ada@Example.com").await;
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(org.org_type, OrgType::Personal);
    let memberships = store.memberships(&user.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].org, org);
    assert_eq!(memberships[0].role, OrgRole::OrgAdmin);
    let creds = store
        .credentials(&Email::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.password_hash, "hash");
}

async fn duplicate_email_is_a_conflict_and_writes_nothing(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    new_user(&store, "ada@example.com").await;
    let email = Email::parse("ADA@example.com").unwrap();
    let name = Name::parse("name", "Other").unwrap();
    let err = store
        .create_user(
            NewUser {
                email: &email,
                name: &name,
                password_hash: "h",
            },
            &name,
            NOW,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::Email)),
        "{err:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
}

/// Each refusal names its own rule: a second pending auto-recharge and a second membership are
/// conflicts of their own unique indexes (PostgreSQL names the index, SQLite its columns), and
/// a payment that reuses an idempotency key is the same payment found again, not a conflict.
async fn conflicts_are_named_by_their_own_index(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, org) = new_user(&store, "ada@example.com").await;

    let ids: Vec<PaymentId> = (1..=3)
        .map(|n| PaymentId::parse(&format!("pay_{n:024x}")).unwrap())
        .collect();
    let recharge = |n: usize, key: &'static str| NewPayment {
        id: &ids[n - 1],
        org_id: &org.id,
        kind: PaymentKind::AutoRecharge,
        amount: Money::from_micros(10_000_000),
        idempotency_key: key,
        fingerprint: "f",
        customer_ref: "cus_1",
        card_ref: "card_1",
        payment_method: "Visa ending 4242",
        bill_to: None,
        grant_source: Some(GrantSource::Purchase),
        description: "Auto-recharge",
    };
    let first = store.begin_payment(&recharge(1, "k1"), NOW).await.unwrap();
    assert!(matches!(first, BeganPayment::Created(_)), "{first:?}");
    let again = store.begin_payment(&recharge(2, "k1"), NOW).await.unwrap();
    assert!(!matches!(again, BeganPayment::Created(_)), "{again:?}");
    let second = store.begin_payment(&recharge(3, "k2"), NOW).await;
    assert!(
        matches!(
            second,
            Err(StoreError::Conflict(Conflict::RechargeInFlight))
        ),
        "{second:?}"
    );

    let twice = store
        .add_membership(&org.id, &ada.id, OrgRole::Member, NOW)
        .await;
    assert!(
        matches!(twice, Err(StoreError::Conflict(Conflict::Membership))),
        "{twice:?}"
    );
}

async fn orgs_are_created_renamed_and_retyped(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (user, _) = new_user(&store, "ada@example.com").await;
    let team = store
        .create_org(
            &user.id,
            &Name::parse("name", "Team").unwrap(),
            NOW + 1,
            audit(&user.id, "org.create", "x"),
        )
        .await
        .unwrap();
    assert_eq!(team.org_type, OrgType::Team);
    let all = store.memberships(&user.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].org.id, team.id,
        "memberships are listed oldest first"
    );

    let renamed = store
        .rename_org(
            &team.id,
            &Name::parse("name", "Renamed").unwrap(),
            NOW + 2,
            audit(&user.id, "org.rename", &team.id),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(store.org(&team.id).await.unwrap().unwrap().name, "Renamed");

    let log = store
        .audit_log(&team.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["org.rename", "org.create"]
    );
    assert_eq!(log[0].ip.as_deref(), Some("127.0.0.1"));

    let retyped = store
        .set_org_type(&team.id, OrgType::Enterprise)
        .await
        .unwrap();
    assert_eq!(retyped.org_type, OrgType::Enterprise);
    assert!(matches!(
        store.set_org_type(&OrgId::generate(), OrgType::Team).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .rename_org(
                &OrgId::generate(),
                &Name::parse("name", "X").unwrap(),
                NOW,
                audit(&user.id, "org.rename", "x")
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn membership_is_scoped_to_the_user(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, ada_org) = new_user(&store, "ada@example.com").await;
    let (bob, bob_org) = new_user(&store, "bob@example.com").await;
    assert!(store
        .membership(&ada_org.id, &ada.id)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .membership(&bob_org.id, &ada.id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .membership(&OrgId::generate(), &bob.id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.count_members(&ada_org.id).await.unwrap(), 1);
}

async fn sessions_expire_and_end(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (user, _) = new_user(&store, "ada@example.com").await;
    let idle = 60 * 60 * 1000;
    store
        .create_session(
            "h1",
            &user.id,
            NOW,
            NOW + 10 * idle,
            Some("127.0.0.1"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .session_user("h1", NOW + 1, idle)
            .await
            .unwrap()
            .unwrap()
            .user
            .id,
        user.id
    );
    assert!(store
        .session_user("h2", NOW + 1, idle)
        .await
        .unwrap()
        .is_none());
    // Idle for longer than the idle timeout.
    assert!(store
        .session_user("h1", NOW + idle + 1, idle)
        .await
        .unwrap()
        .is_none());
    // Used now and then, it lives until its absolute expiry.
    let mut t = NOW;
    while t + idle / 2 < NOW + 10 * idle {
        t += idle / 2;
        assert!(
            store.session_user("h1", t, idle).await.unwrap().is_some(),
            "alive at {t}"
        );
    }
    assert!(store
        .session_user("h1", NOW + 10 * idle, idle)
        .await
        .unwrap()
        .is_none());
    store
        .create_session("h3", &user.id, NOW, NOW + idle, None, None)
        .await
        .unwrap();
    assert!(store.delete_session("h3").await.unwrap());
    assert!(store
        .session_user("h3", NOW + 1, idle)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .delete_expired_sessions(NOW + 20 * idle, idle)
            .await
            .unwrap(),
        1
    );
}

async fn rate_windows_count_and_roll_over(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let window = 60_000;
    let start = NOW - NOW % window;
    for expected in 1..=3 {
        assert_eq!(
            store
                .rate_hit("login:a", window, start + expected)
                .await
                .unwrap(),
            expected
        );
    }
    assert_eq!(
        store
            .rate_hits("login:a", window, start + 10)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .rate_hits("login:b", window, start + 10)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .rate_hit("login:a", window, start + window)
            .await
            .unwrap(),
        1,
        "a new window starts at one"
    );
    store.rate_reset("login:a").await.unwrap();
    assert_eq!(
        store
            .rate_hits("login:a", window, start + window)
            .await
            .unwrap(),
        0
    );
}

async fn concurrent_rate_hits_are_all_counted(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.rate_hit("bucket", 3_600_000, NOW).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
}

async fn released_hits_are_taken_back_in_their_window_only(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let window = 60_000;
    let start = NOW - NOW % window;
    store.rate_add("b", 2, window, start).await.unwrap();
    store.rate_release("b", window, start + 5).await.unwrap();
    assert_eq!(store.rate_hits("b", window, start).await.unwrap(), 1);
    // A release from the previous window does not touch the new one.
    store.rate_hit("b", window, start + window).await.unwrap();
    store.rate_release("b", window, start).await.unwrap();
    assert_eq!(
        store.rate_hits("b", window, start + window).await.unwrap(),
        1
    );
    // Never below zero; unknown buckets are a no-op.
    store
        .rate_release("b", window, start + window)
        .await
        .unwrap();
    store
        .rate_release("b", window, start + window)
        .await
        .unwrap();
    store.rate_release("none", window, start).await.unwrap();
    assert_eq!(
        store.rate_hits("b", window, start + window).await.unwrap(),
        0
    );
}

async fn rate_takes_stop_at_the_limit_and_start_again_in_a_new_window(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let window = 60_000;
    let start = NOW - NOW % window;
    // Twenty at once against a limit of five: exactly five are counted.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.rate_take("t", 5, window, start).await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        taken += usize::from(t.await.unwrap());
    }
    assert_eq!(taken, 5);
    assert_eq!(store.rate_hits("t", window, start).await.unwrap(), 5);
    // A place given back can be taken again, once.
    store.rate_release("t", window, start + 1).await.unwrap();
    assert!(store.rate_take("t", 5, window, start + 2).await.unwrap());
    assert!(!store.rate_take("t", 5, window, start + 3).await.unwrap());
    // A new window starts from one.
    assert!(store
        .rate_take("t", 5, window, start + window)
        .await
        .unwrap());
    assert_eq!(
        store.rate_hits("t", window, start + window).await.unwrap(),
        1
    );
    // A limit of zero takes nothing.
    assert!(!store.rate_take("z", 0, window, start).await.unwrap());
    assert_eq!(store.rate_hits("z", window, start).await.unwrap(), 0);
}

async fn migrations_are_idempotent(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

on_both_engines!(
    sign_up_creates_a_personal_org,
    duplicate_email_is_a_conflict_and_writes_nothing,
    orgs_are_created_renamed_and_retyped,
    membership_is_scoped_to_the_user,
    sessions_expire_and_end,
    rate_windows_count_and_roll_over,
    concurrent_rate_hits_are_all_counted,
    released_hits_are_taken_back_in_their_window_only,
    rate_takes_stop_at_the_limit_and_start_again_in_a_new_window,
    migrations_are_idempotent,
    conflicts_are_named_by_their_own_index,
);
