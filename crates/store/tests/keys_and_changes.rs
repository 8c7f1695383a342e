#![allow(clippy::unwrap_used, clippy::expect_used)]

//! API keys and the change log, on SQLite and on PostgreSQL.

mod common;

use common::{audit, name, new_user, NOW};
use sqlx::Row;
use tollgate_domain::OrgId;
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, ChangeKind, Conflict, Engine, NewKey, StoreError};

async fn keys_are_created_listed_revoked_and_looked_up(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (ada, org) = new_user(&store, "ada@example.com").await;
    let project = store.default_project(&org.id).await.unwrap().unwrap();
    let start = store.change_version().await.unwrap();
    let mut ids = Vec::new();
    for (i, public_id) in ["00000000000000a1", "00000000000000a2"].iter().enumerate() {
        let key = store
            .create_api_key(
                NewKey {
                    org_id: &org.id,
                    project_id: &project.id,
                    name: &name(&format!("key {i}")),
                    public_id,
                    secret_hash: "digest",
                    created_by: &ada.id,
                },
                NOW + i64::try_from(i).unwrap(),
                audit("api_key.create"),
            )
            .await
            .unwrap();
        assert_eq!(key.created_by.as_ref().unwrap().email, "ada@example.com");
        ids.push(key.id);
    }
    let listed = store
        .api_keys(&project.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|k| &k.id).collect::<Vec<_>>(),
        [&ids[0], &ids[1]]
    );
    let after = store
        .api_keys(
            &project.id,
            tollgate_store::PageRequest::after(Some(&ids[0]), 10),
        )
        .await
        .unwrap();
    assert_eq!(after.len(), 1);

    let creds = store
        .key_credentials("00000000000000a1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (creds.key_id.as_str(), creds.secret_hash.as_str()),
        (ids[0].as_str(), "digest")
    );
    assert!(!creds.revoked && !creds.project_archived && !creds.org_suspended);
    assert!(store
        .key_credentials("ffffffffffffffff")
        .await
        .unwrap()
        .is_none());

    // Public ids are unique.
    let dup = store
        .create_api_key(
            NewKey {
                org_id: &org.id,
                project_id: &project.id,
                name: &name("dup"),
                public_id: "00000000000000a1",
                secret_hash: "x",
                created_by: &ada.id,
            },
            NOW,
            audit("api_key.create"),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(Conflict::KeyPublicId))),
        "{dup:?}"
    );

    // "Last used" is written at most once a minute.
    assert!(store.touch_api_key(&ids[0], NOW, 60_000).await.unwrap());
    assert!(!store
        .touch_api_key(&ids[0], NOW + 59_999, 60_000)
        .await
        .unwrap());
    assert!(store
        .touch_api_key(&ids[0], NOW + 60_000, 60_000)
        .await
        .unwrap());

    store
        .revoke_api_key(&project.id, &ids[0], NOW, audit("api_key.revoke"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .revoke_api_key(&project.id, &ids[0], NOW, audit("api_key.revoke"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .key_credentials("00000000000000a1")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert_eq!(
        store
            .api_keys(&project.id, tollgate_store::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .set_org_suspended(&org.id, Some(NOW), NOW)
        .await
        .unwrap();
    assert!(
        store
            .key_credentials("00000000000000a2")
            .await
            .unwrap()
            .unwrap()
            .org_suspended
    );
    store.set_org_suspended(&org.id, None, NOW).await.unwrap();
    assert!(matches!(
        store.set_org_suspended(&OrgId::generate(), None, NOW).await,
        Err(StoreError::NotFound)
    ));

    // "All projects": live keys of active projects only.
    let other = store
        .create_project(&org.id, &name("Other"), NOW + 5, audit("project.create"))
        .await
        .unwrap();
    store
        .create_api_key(
            NewKey {
                org_id: &org.id,
                project_id: &other.id,
                name: &name("in other"),
                public_id: "00000000000000b1",
                secret_hash: "digest",
                created_by: &ada.id,
            },
            NOW + 6,
            audit("api_key.create"),
        )
        .await
        .unwrap();
    let all = store
        .org_api_keys(&org.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "the revoked key is not listed");
    assert_eq!(all[1].name, "in other");
    assert_eq!(
        store
            .org_api_keys(
                &org.id,
                tollgate_store::PageRequest::after(Some(&all[0].id), 10)
            )
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .archive_project(&org.id, &other.id, NOW + 7, audit("project.archive"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .org_api_keys(&org.id, tollgate_store::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .key_credentials("00000000000000b1")
            .await
            .unwrap()
            .unwrap()
            .project_archived
    );

    let changes = store.changes_since(start, 100).await.unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.kind, c.target_id.as_str()))
            .collect::<Vec<_>>(),
        [
            (ChangeKind::ApiKey, ids[0].as_str()),
            (ChangeKind::Organization, org.id.as_str()),
            (ChangeKind::Organization, org.id.as_str()),
            (ChangeKind::Project, other.id.as_str()),
        ]
    );
    let log = store
        .audit_log(&org.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        [
            "project.archive",
            "api_key.create",
            "project.create",
            "api_key.revoke",
            "api_key.create",
            "api_key.create"
        ],
        "the refused duplicate left no entry"
    );
}

async fn concurrent_changes_get_distinct_ordered_versions(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let start = store.change_version().await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .signal_change(ChangeKind::Catalog, &format!("t{i}"), NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, ((start + 1)..=(start + 20)).collect::<Vec<_>>());
    let seen = store.changes_since(start, 100).await.unwrap();
    assert_eq!(seen.len(), 20);
    assert!(seen.windows(2).all(|w| w[0].version < w[1].version));
    assert_eq!(
        store.changes_since(start + 5, 3).await.unwrap()[0].version,
        start + 6
    );
    assert_eq!(store.prune_changes(NOW + 1).await.unwrap(), 20);
    assert_eq!(
        store.change_version().await.unwrap(),
        start + 20,
        "the counter stays"
    );
    let n: i64 = sqlx::AnyPool::connect(&db.url)
        .await
        .unwrap()
        .fetch_one_count()
        .await;
    assert_eq!(n, 0);
}

trait CountEvents {
    async fn fetch_one_count(self) -> i64;
}

impl CountEvents for sqlx::AnyPool {
    async fn fetch_one_count(self) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM change_events")
            .fetch_one(&self)
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }
}

on_both_engines!(
    keys_are_created_listed_revoked_and_looked_up,
    concurrent_changes_get_distinct_ordered_versions,
);
