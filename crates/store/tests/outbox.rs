#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The email outbox on both engines: transactional enqueue, exclusive claims, leases, retries.

use std::collections::HashSet;

use tollgate_store::testing::TestDb;
use tollgate_store::{enqueue_email_in, on_both_engines, Engine, OutgoingEmail, Retry, Store};

const NOW: i64 = 1_790_000_000_000;
const LEASE: i64 = 60_000;

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        subject: "You are invited".to_owned(),
        text_body: "Accept: https://tollgate.test/invites/abc".to_owned(),
        html_body: "<p><a href=\"https://tollgate.test/invites/abc\">Accept</a></p>".to_owned(),
        kind: "invitation".to_owned(),
    }
}

async fn enqueued_messages_are_due_at_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let id = store
        .enqueue_email(&email("ada@example.com"), NOW)
        .await
        .unwrap();
    let m = store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(m.to, "ada@example.com");
    assert_eq!(m.kind, "invitation");
    assert_eq!(m.text_body, email("x").text_body);
    assert_eq!(m.html_body, email("x").html_body);
    assert_eq!((m.created_at, m.next_attempt_at, m.attempts), (NOW, NOW, 0));
    assert_eq!((m.locked_until, m.sent_at, m.failed_at), (None, None, None));
    assert_eq!(m.last_error, None);
    assert_eq!(store.pending_email_count().await.unwrap(), 1);

    assert!(store
        .claim_due_emails(NOW - 1, NOW + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let claimed = store.claim_due_emails(NOW, NOW + LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].locked_until, Some(NOW + LEASE));
}

async fn enqueue_in_a_rolled_back_transaction_leaves_nothing(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let mut tx = store.begin_write().await.unwrap();
    enqueue_email_in(&mut tx, &email("ada@example.com"), NOW)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(store.outbox_messages(10).await.unwrap().is_empty());

    let mut tx = store.begin_write().await.unwrap();
    let id = enqueue_email_in(&mut tx, &email("bob@example.com"), NOW)
        .await
        .unwrap();
    // Dropped without commit: also rolled back.
    drop(tx);
    assert!(store.outbox_message(id).await.unwrap().is_none());

    let mut tx = store.begin_write().await.unwrap();
    let id = enqueue_email_in(&mut tx, &email("cy@example.com"), NOW)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let all = store.outbox_messages(10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].id, all[0].to.as_str()), (id, "cy@example.com"));
}

async fn a_claimed_message_is_not_claimed_again_until_its_lease_ends(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let id = store
        .enqueue_email(&email("ada@example.com"), NOW)
        .await
        .unwrap();
    let first = store.claim_due_emails(NOW, NOW + LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    for at in [NOW, NOW + LEASE - 1] {
        assert!(
            store
                .claim_due_emails(at, at + LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "still leased at {at}"
        );
    }
    // The first worker died: once its lease ends, another takes the message over.
    let again = store
        .claim_due_emails(NOW + LEASE, NOW + 2 * LEASE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (id, 2));

    // The dead worker's late failure report no longer counts: the lease is someone else's.
    let stale = store
        .mark_email_failed(id, NOW + LEASE, "late", Retry::At(NOW + 1), NOW + LEASE)
        .await
        .unwrap();
    assert!(!stale);
    let m = store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(m.locked_until, Some(NOW + 2 * LEASE));
    assert_eq!(m.last_error, None);
}

async fn concurrent_claimers_never_share_a_message(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let mut ids = HashSet::new();
    for i in 0..40 {
        ids.insert(
            store
                .enqueue_email(&email(&format!("u{i}@example.com")), NOW)
                .await
                .unwrap(),
        );
    }
    // A second store is a second process: its own pool, the same database.
    let other = db.store().await;
    let claimers: Vec<(Store, i64)> = vec![
        (store.clone(), 3),
        (other.clone(), 3),
        (store.clone(), 5),
        (other.clone(), 1),
    ];
    let mut tasks = Vec::new();
    for (s, limit) in claimers {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = s.claim_due_emails(NOW, NOW + LEASE, limit).await.unwrap();
                if batch.is_empty() {
                    // A claimer that lost every race to its candidates also sees an empty batch;
                    // only stop when nothing unclaimed is left.
                    let unclaimed = s
                        .outbox_messages(100)
                        .await
                        .unwrap()
                        .iter()
                        .filter(|m| m.locked_until.is_none())
                        .count();
                    if unclaimed == 0 {
                        break;
                    }
                    continue;
                }
                assert!(batch.len() as i64 <= limit);
                mine.extend(batch.into_iter().map(|m| m.id));
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id), "message {id} claimed twice");
        }
    }
    assert_eq!(seen, ids);
    for m in store.outbox_messages(100).await.unwrap() {
        assert_eq!(m.attempts, 1, "message {} claimed once", m.id);
    }
}

async fn one_message_raced_by_many_claimers_goes_to_one(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let other = db.store().await;
    for round in 0..10 {
        let now = NOW + round;
        let id = store
            .enqueue_email(&email("ada@example.com"), now)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let s = if i % 2 == 0 {
                    store.clone()
                } else {
                    other.clone()
                };
                tokio::spawn(async move { s.claim_due_emails(now, now + LEASE, 1).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            let got = t.await.unwrap();
            assert!(got.iter().all(|m| m.id == id));
            winners += got.len();
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn failures_are_retried_later_then_given_up(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let id = store
        .enqueue_email(&email("ada@example.com"), NOW)
        .await
        .unwrap();

    let m = store.claim_due_emails(NOW, NOW + LEASE, 1).await.unwrap();
    let lease = m[0].locked_until.unwrap();
    let retry_at = NOW + 30_000;
    assert!(store
        .mark_email_failed(id, lease, "connection refused", Retry::At(retry_at), NOW)
        .await
        .unwrap());
    let m = store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(m.attempts, 1);
    assert_eq!(m.next_attempt_at, retry_at);
    assert_eq!(m.locked_until, None);
    assert_eq!(m.last_error.as_deref(), Some("connection refused"));
    assert_eq!((m.sent_at, m.failed_at), (None, None));

    // Not due before its retry time, due from it on.
    assert!(store
        .claim_due_emails(retry_at - 1, retry_at + LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    let m = store
        .claim_due_emails(retry_at, retry_at + LEASE, 1)
        .await
        .unwrap();
    assert_eq!(m[0].attempts, 2);

    // Giving up settles the message for good; errors are kept short.
    let long_error = "x".repeat(10_000);
    assert!(store
        .mark_email_failed(
            id,
            retry_at + LEASE,
            &long_error,
            Retry::GiveUp,
            retry_at + 5
        )
        .await
        .unwrap());
    let m = store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(m.failed_at, Some(retry_at + 5));
    assert_eq!(m.next_attempt_at, retry_at, "unchanged by giving up");
    assert_eq!(m.last_error.unwrap().len(), 2000);
    assert_eq!(store.pending_email_count().await.unwrap(), 0);
    let later = retry_at + 365 * 86_400_000;
    assert!(store
        .claim_due_emails(later, later + LEASE, 1)
        .await
        .unwrap()
        .is_empty());
}

async fn sent_messages_are_settled(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let id = store
        .enqueue_email(&email("ada@example.com"), NOW)
        .await
        .unwrap();
    let m = store.claim_due_emails(NOW, NOW + LEASE, 1).await.unwrap();
    assert!(store.mark_email_sent(id, NOW + 10).await.unwrap());
    assert!(
        !store.mark_email_sent(id, NOW + 20).await.unwrap(),
        "only once"
    );
    let sent = store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(sent.sent_at, Some(NOW + 10));
    assert_eq!(sent.locked_until, None);
    // A failure reported after the success changes nothing.
    assert!(!store
        .mark_email_failed(id, m[0].locked_until.unwrap(), "late", Retry::GiveUp, NOW)
        .await
        .unwrap());
    assert_eq!(store.outbox_message(id).await.unwrap().unwrap(), sent);
    let later = NOW + 2 * LEASE;
    assert!(store
        .claim_due_emails(later, later + LEASE, 1)
        .await
        .unwrap()
        .is_empty());
}

async fn due_messages_are_claimed_oldest_first(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let late = store
        .enqueue_email(&email("a@example.com"), NOW + 5)
        .await
        .unwrap();
    let early = store
        .enqueue_email(&email("b@example.com"), NOW)
        .await
        .unwrap();
    let middle = store
        .enqueue_email(&email("c@example.com"), NOW + 2)
        .await
        .unwrap();
    let now = NOW + 10;
    let order: Vec<i64> = store
        .claim_due_emails(now, now + LEASE, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(order, [early, middle, late]);
    let listed: Vec<i64> = store
        .outbox_messages(2)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, [middle, early], "newest first, limited");
}

on_both_engines!(
    enqueued_messages_are_due_at_once,
    enqueue_in_a_rolled_back_transaction_leaves_nothing,
    a_claimed_message_is_not_claimed_again_until_its_lease_ends,
    concurrent_claimers_never_share_a_message,
    one_message_raced_by_many_claimers_goes_to_one,
    failures_are_retried_later_then_given_up,
    sent_messages_are_settled,
    due_messages_are_claimed_oldest_first,
);
