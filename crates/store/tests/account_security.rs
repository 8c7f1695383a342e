#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Sessions by id, password changes and reset links (docs/account-security.md), on both engines.

mod common;

use common::{new_user, NOW};
use tollgate_domain::{ids, IdPrefix, SessionId, UserId};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, Engine, OutgoingEmail, Store, StoreError};

const DAY: i64 = 86_400_000;
const IDLE: i64 = 7 * DAY;

fn reset_email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        subject: "Reset your password".to_owned(),
        text_body: "https://example.com/reset-password/x".to_owned(),
        html_body: "<p>x</p>".to_owned(),
        kind: "password_reset".to_owned(),
    }
}

async fn session(store: &Store, hash: &str, user: &UserId, at: i64, ua: Option<&str>) -> SessionId {
    store
        .create_session(hash, user, at, at + 30 * DAY, Some("10.0.0.1"), ua)
        .await
        .unwrap()
}

async fn live(store: &Store, hash: &str) -> bool {
    store
        .session_user(hash, NOW + 10, IDLE)
        .await
        .unwrap()
        .is_some()
}

async fn sessions_have_ids_and_are_ended_only_by_their_owner(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, _) = new_user(&store, "ada@example.com").await;
    let (bob, _) = new_user(&store, "bob@example.com").await;
    let a1 = session(&store, "h-a1", &ada.id, NOW, Some("curl/8")).await;
    let a2 = session(&store, "h-a2", &ada.id, NOW + 1, None).await;
    let b1 = session(&store, "h-b1", &bob.id, NOW, None).await;
    assert!(ids::is_well_formed(IdPrefix::Session, &a1), "{a1}");
    assert_ne!(a1, a2);
    let found = store
        .session_user("h-a1", NOW + 10, IDLE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.session_id, a1);

    let listed = store.user_sessions(&ada.id, NOW + 10, IDLE).await.unwrap();
    let listed_ids: Vec<_> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        listed_ids,
        [a2.as_str(), a1.as_str()],
        "most recently seen first"
    );
    assert_eq!(listed[1].user_agent.as_deref(), Some("curl/8"));
    assert_eq!(listed[1].ip.as_deref(), Some("10.0.0.1"));
    // Idle or expired sessions are not listed.
    assert!(store
        .user_sessions(&ada.id, NOW + IDLE + 5, IDLE)
        .await
        .unwrap()
        .is_empty());

    // Bob cannot end Ada's session by its id.
    assert!(!store.delete_user_session(&bob.id, &a1).await.unwrap());
    assert!(live(&store, "h-a1").await);
    assert!(store.delete_user_session(&ada.id, &a1).await.unwrap());
    assert!(!live(&store, "h-a1").await);
    assert!(
        !store.delete_user_session(&ada.id, &a1).await.unwrap(),
        "already ended"
    );

    let a3 = session(&store, "h-a3", &ada.id, NOW + 2, None).await;
    assert_eq!(
        store
            .delete_user_sessions_except(&ada.id, Some(&a3))
            .await
            .unwrap(),
        1
    );
    assert!(live(&store, "h-a3").await);
    assert!(!live(&store, "h-a2").await);
    assert!(live(&store, "h-b1").await, "another user's session stays");
    assert_eq!(
        store
            .delete_user_sessions_except(&ada.id, None)
            .await
            .unwrap(),
        1
    );
    assert!(!live(&store, "h-a3").await);
    let _ = b1;
}

async fn a_password_change_ends_the_other_sessions(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, _) = new_user(&store, "ada@example.com").await;
    let (bob, _) = new_user(&store, "bob@example.com").await;
    let keep = session(&store, "h-keep", &ada.id, NOW, None).await;
    session(&store, "h-other", &ada.id, NOW, None).await;
    session(&store, "h-bob", &bob.id, NOW, None).await;
    assert_eq!(
        store
            .change_password(&ada.id, "new-hash", Some(&keep))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.password_hash(&ada.id).await.unwrap().as_deref(),
        Some("new-hash")
    );
    assert!(live(&store, "h-keep").await);
    assert!(!live(&store, "h-other").await);
    assert!(live(&store, "h-bob").await);
    assert_eq!(
        store.password_hash(&bob.id).await.unwrap().as_deref(),
        Some("hash")
    );
    assert!(matches!(
        store.change_password(&UserId::generate(), "x", None).await,
        Err(StoreError::NotFound)
    ));
    let renamed = store
        .rename_user(&ada.id, &common::name("Ada Lovelace"))
        .await
        .unwrap();
    assert_eq!(renamed.name, "Ada Lovelace");
    assert_eq!(
        store.user(&ada.id).await.unwrap().unwrap().name,
        "Ada Lovelace"
    );
}

async fn a_reset_link_works_once_within_its_hour_and_ends_every_session(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, _) = new_user(&store, "ada@example.com").await;
    let hour = 3_600_000;
    store
        .create_password_reset("link-1", &ada.id, NOW, NOW + hour, &reset_email(&ada.email))
        .await
        .unwrap();
    store
        .create_password_reset("link-2", &ada.id, NOW, NOW + hour, &reset_email(&ada.email))
        .await
        .unwrap();
    store
        .create_password_reset(
            "link-old",
            &ada.id,
            NOW - 2 * hour,
            NOW - hour,
            &reset_email(&ada.email),
        )
        .await
        .unwrap();
    // Each link's email is in the outbox with it.
    let due = store.outbox_messages(10).await.unwrap();
    assert_eq!(due.iter().filter(|m| m.kind == "password_reset").count(), 3);

    session(&store, "h-1", &ada.id, NOW, None).await;
    session(&store, "h-2", &ada.id, NOW, None).await;

    assert!(store
        .password_reset_usable("link-1", NOW + 1)
        .await
        .unwrap());
    assert!(
        !store
            .password_reset_usable("link-1", NOW + hour)
            .await
            .unwrap(),
        "expired"
    );
    assert!(!store.password_reset_usable("link-old", NOW).await.unwrap());
    assert!(!store.password_reset_usable("nope", NOW).await.unwrap());
    assert!(matches!(
        store.reset_password("link-1", "late", NOW + hour).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.password_hash(&ada.id).await.unwrap().as_deref(),
        Some("hash")
    );

    let user = store
        .reset_password("link-1", "reset-hash", NOW + 5)
        .await
        .unwrap();
    assert_eq!(user.id, ada.id);
    assert_eq!(
        store.password_hash(&ada.id).await.unwrap().as_deref(),
        Some("reset-hash")
    );
    assert!(
        !live(&store, "h-1").await && !live(&store, "h-2").await,
        "every session ended"
    );
    // Used once; and the other link sent before it is spent with it.
    for link in ["link-1", "link-2"] {
        assert!(
            matches!(
                store.reset_password(link, "again", NOW + 6).await,
                Err(StoreError::NotFound)
            ),
            "{link}"
        );
    }
    assert_eq!(
        store.password_hash(&ada.id).await.unwrap().as_deref(),
        Some("reset-hash")
    );
    assert_eq!(
        store.prune_password_resets(NOW + hour + 1).await.unwrap(),
        3
    );
}

async fn one_link_used_twice_at_once_resets_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, _) = new_user(&store, "ada@example.com").await;
    store
        .create_password_reset(
            "link",
            &ada.id,
            NOW,
            NOW + 3_600_000,
            &reset_email(&ada.email),
        )
        .await
        .unwrap();
    let tries = (0..6).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .reset_password("link", &format!("hash-{i}"), NOW + 1)
                .await
        })
    });
    let mut done = 0;
    for t in tries {
        match t.await.unwrap() {
            Ok(_) => done += 1,
            Err(StoreError::NotFound) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(done, 1);
}

async fn sessions_from_before_the_migration_get_an_id(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.unmigrated_store().await;
    store.migrate_up_to(8).await.unwrap();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    for sql in [
        "INSERT INTO users (id, email, name, password_hash, created_at) VALUES \
         ('usr_000000000000000000000001', 'a@example.com', 'A', 'h', 1)",
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES \
         ('0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'usr_000000000000000000000001', 1, 1, 99)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    store.migrate().await.unwrap();
    let listed = store
        .user_sessions(
            &UserId::parse("usr_000000000000000000000001").unwrap(),
            2,
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "ses_0123456789abcdef01234567");
    assert!(ids::is_well_formed(IdPrefix::Session, &listed[0].id));
}

on_both_engines!(
    sessions_have_ids_and_are_ended_only_by_their_owner,
    a_password_change_ends_the_other_sessions,
    a_reset_link_works_once_within_its_hour_and_ends_every_session,
    one_link_used_twice_at_once_resets_once,
    sessions_from_before_the_migration_get_an_id,
);
