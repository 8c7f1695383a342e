#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Rate limits of organizations and projects, and the shared rate buckets, on SQLite and on
//! PostgreSQL.

mod common;

use std::sync::Arc;

use common::{audit, new_user, NOW};
use tollgate_domain::limits::RateLimits;
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, ChangeKind, Engine, StoreError};

fn limits(rpm: Option<u64>, tpm: Option<u64>, rph: Option<u64>) -> RateLimits {
    RateLimits {
        rpm,
        tpm,
        rph,
        ..RateLimits::default()
    }
}

async fn overrides_are_set_replaced_cleared_audited_and_signalled(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "ada@example.com").await;
    let (_, other) = new_user(&store, "bob@example.com").await;
    assert!(store.org_model_limits(&org.id).await.unwrap().is_empty());
    let start = store.change_version().await.unwrap();

    let first = limits(Some(5), Some(1_000), None);
    store
        .set_org_model_limits(&org.id, "m1", &first, NOW, audit("limits.set"))
        .await
        .unwrap();
    let second = limits(None, None, Some(100_000_000_000));
    store
        .set_org_model_limits(&org.id, "m2", &second, NOW, audit("limits.set"))
        .await
        .unwrap();
    assert_eq!(
        store.org_model_limits(&org.id).await.unwrap(),
        [("m1".to_owned(), first), ("m2".to_owned(), second)]
    );
    // Replacing sets every dimension anew (rpm is gone).
    let replaced = limits(None, Some(7), None);
    store
        .set_org_model_limits(&org.id, "m1", &replaced, NOW + 1, audit("limits.set"))
        .await
        .unwrap();
    store
        .set_org_model_limits(
            &org.id,
            "m2",
            &RateLimits::default(),
            NOW + 2,
            audit("limits.clear"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.org_model_limits(&org.id).await.unwrap(),
        [("m1".to_owned(), replaced)]
    );
    assert!(store.org_model_limits(&other.id).await.unwrap().is_empty());

    let changes = store.changes_since(start, 100).await.unwrap();
    assert_eq!(changes.len(), 4);
    assert!(changes
        .iter()
        .all(|c| c.kind == ChangeKind::Limits && c.target_id == org.id));
    let log = store
        .audit_log(&org.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action.starts_with("limits."))
            .count(),
        4
    );
}

async fn project_limits_belong_to_their_organization(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "ada@example.com").await;
    let (_, other) = new_user(&store, "bob@example.com").await;
    let project = store.default_project(&org.id).await.unwrap().unwrap();
    let foreign = store.default_project(&other.id).await.unwrap().unwrap();
    let l = limits(Some(3), None, None);
    store
        .set_project_model_limits(&org.id, &project.id, "m1", &l, NOW, audit("project.limits"))
        .await
        .unwrap();
    let err = store
        .set_project_model_limits(&org.id, &foreign.id, "m1", &l, NOW, audit("project.limits"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let listed = store.project_model_limits(&org.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].project_id.as_str(),
            listed[0].model.as_str(),
            listed[0].limits
        ),
        (project.id.as_str(), "m1", l)
    );
    assert!(store
        .project_model_limits(&other.id)
        .await
        .unwrap()
        .is_empty());
    store
        .set_project_model_limits(
            &org.id,
            &project.id,
            "m1",
            &RateLimits::default(),
            NOW,
            audit("project.limits"),
        )
        .await
        .unwrap();
    assert!(store
        .project_model_limits(&org.id)
        .await
        .unwrap()
        .is_empty());
}

async fn buckets_change_by_compare_and_swap(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    assert_eq!(store.rate_bucket("b").await.unwrap(), None);
    assert!(store.swap_rate_bucket("b", None, 100, NOW).await.unwrap());
    assert!(
        !store.swap_rate_bucket("b", None, 50, NOW).await.unwrap(),
        "created once"
    );
    let b = store.rate_bucket("b").await.unwrap().unwrap();
    assert_eq!((b.level, b.updated_at), (100, NOW));
    assert!(store
        .swap_rate_bucket("b", Some(&b), 40, NOW + 5)
        .await
        .unwrap());
    assert!(
        !store
            .swap_rate_bucket("b", Some(&b), 30, NOW + 6)
            .await
            .unwrap(),
        "a stale version loses"
    );
    let now = store.rate_bucket("b").await.unwrap().unwrap();
    assert_eq!((now.level, now.updated_at), (40, NOW + 5));

    // Concurrent swaps from the same version: exactly one wins.
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .swap_rate_bucket("b", Some(&now), i, NOW + 10)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);

    assert!(store
        .swap_rate_bucket("old", None, 1, NOW - 1_000)
        .await
        .unwrap());
    assert_eq!(store.prune_rate_buckets(NOW).await.unwrap(), 1);
    assert!(store.rate_bucket("old").await.unwrap().is_none());
    assert!(store.rate_bucket("b").await.unwrap().is_some());
}

on_both_engines!(
    overrides_are_set_replaced_cleared_audited_and_signalled,
    project_limits_belong_to_their_organization,
    buckets_change_by_compare_and_swap,
);
