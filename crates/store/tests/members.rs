#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Members: listing, search, pagination, role changes and the last-admin rule, on both engines.

use serde_json::json;
use tollgate_domain::{Email, Name, OrgId, OrgRole};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, AuditEntry, Conflict, Engine, NewUser, Store, StoreError, User,
};

fn audit(action: &str) -> AuditEntry<'_> {
    AuditEntry {
        actor_id: None,
        actor_email: None,
        action,
        target_type: "member",
        target_id: "x",
        details: json!({}),
        ip: None,
    }
}

async fn user(store: &Store, email: &str, name: &str) -> (User, OrgId) {
    let (u, org) = store
        .create_user(
            NewUser {
                email: &Email::parse(email).unwrap(),
                name: &Name::parse("name", name).unwrap(),
                password_hash: "h",
            },
            &Name::parse("name", "Org").unwrap(),
            1,
        )
        .await
        .unwrap();
    (u, org.id)
}

async fn members_are_listed_searched_and_paged(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = user(&store, "owner@example.com", "Owner").await;
    for (email, name) in [
        ("ada@example.com", "Ada Lovelace"),
        ("bob@example.com", "Bob 100%"),
        ("cy@example.com", "Cy_Young"),
    ] {
        let (u, _) = user(&store, email, name).await;
        store
            .add_membership(&org, &u.id, OrgRole::Member, 2)
            .await
            .unwrap();
    }
    let all = store
        .list_members(&org, None, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    let emails: Vec<_> = all.iter().map(|m| m.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "ada@example.com",
            "bob@example.com",
            "cy@example.com",
            "owner@example.com"
        ]
    );

    let page1 = store
        .list_members(&org, None, tollgate_store::PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(page1.len(), 3, "limit + 1 says there is more");
    let page2 = store
        .list_members(
            &org,
            None,
            tollgate_store::PageRequest::after(Some(&page1[1].user_id), 2),
        )
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["cy@example.com", "owner@example.com"]
    );

    let by_name = store
        .list_members(
            &org,
            Some("LOVELACE"),
            tollgate_store::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    let by_email = store
        .list_members(&org, Some("bob@"), tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(by_email[0].name, "Bob 100%");
    assert_eq!(
        store
            .list_members(&org, Some("100%"), tollgate_store::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_members(&org, Some("%"), tollgate_store::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1,
        "% is literal"
    );
    assert_eq!(
        store
            .list_members(&org, Some("_"), tollgate_store::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1,
        "_ is literal"
    );
}

async fn the_last_admin_stays(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (owner, org) = user(&store, "owner@example.com", "Owner").await;
    let (ada, _) = user(&store, "ada@example.com", "Ada").await;
    store
        .add_membership(&org, &ada.id, OrgRole::Member, 2)
        .await
        .unwrap();

    let err = store
        .set_member_role(&org, &owner.id, OrgRole::Member, 3, audit("member.role"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::LastAdmin)),
        "{err:?}"
    );
    let err = store
        .remove_member(
            &org,
            &owner.id,
            3,
            audit("member.remove"),
            audit("api_key.revoke"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::LastAdmin)));

    let promoted = store
        .set_member_role(&org, &ada.id, OrgRole::OrgAdmin, 3, audit("member.role"))
        .await
        .unwrap();
    assert_eq!(promoted.role, OrgRole::OrgAdmin);
    store
        .set_member_role(&org, &owner.id, OrgRole::Member, 4, audit("member.role"))
        .await
        .unwrap();
    let (removed, revoked) = store
        .remove_member(
            &org,
            &owner.id,
            5,
            audit("member.remove"),
            audit("api_key.revoke"),
        )
        .await
        .unwrap();
    assert!(revoked.is_empty());
    assert_eq!(removed.email, "owner@example.com");
    assert!(store.membership(&org, &owner.id).await.unwrap().is_none());
    assert!(matches!(
        store
            .remove_member(
                &org,
                &owner.id,
                6,
                audit("member.remove"),
                audit("api_key.revoke")
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let actions: Vec<_> = store
        .audit_log(&org, tollgate_store::PageRequest::first(10))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["member.remove", "member.role", "member.role"]);
}

async fn concurrent_demotions_keep_one_admin(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (owner, org) = user(&store, "owner@example.com", "Owner").await;
    let mut admins = vec![owner.id.clone()];
    for i in 0..5 {
        let (u, _) = user(&store, &format!("admin{i}@example.com"), "Admin").await;
        store
            .add_membership(&org, &u.id, OrgRole::OrgAdmin, 2)
            .await
            .unwrap();
        admins.push(u.id);
    }
    let tasks: Vec<_> = admins
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (store, org, id) = (store.clone(), org.clone(), id.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    store
                        .set_member_role(&org, &id, OrgRole::Member, 3, audit("member.role"))
                        .await
                        .map(|_| ())
                } else {
                    store
                        .remove_member(
                            &org,
                            &id,
                            3,
                            audit("member.remove"),
                            audit("api_key.revoke"),
                        )
                        .await
                        .map(|_| ())
                }
            })
        })
        .collect();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => {}
            Err(StoreError::Conflict(Conflict::LastAdmin)) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(refused, 1, "exactly the last change is refused");
    let admins_left = store
        .list_members(&org, None, tollgate_store::PageRequest::first(100))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == OrgRole::OrgAdmin)
        .count();
    assert_eq!(admins_left, 1);
}

/// The search reads the email and lower-cased name copied into each membership (migration
/// 0022): a rename reaches every organization of the user at once.
async fn a_rename_reaches_the_search_in_every_organization(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, first) = user(&store, "owner@example.com", "Owner").await;
    let (ada, second) = user(&store, "ada@example.com", "Ada Lovelace").await;
    store
        .add_membership(&first, &ada.id, OrgRole::Member, 2)
        .await
        .unwrap();
    store
        .rename_user(&ada.id, &Name::parse("name", "Grace HOPPER").unwrap())
        .await
        .unwrap();
    for org in [&first, &second] {
        let found = store
            .list_members(org, Some("hopper"), tollgate_store::PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "Grace HOPPER");
        assert!(store
            .list_members(
                org,
                Some("lovelace"),
                tollgate_store::PageRequest::first(10)
            )
            .await
            .unwrap()
            .is_empty());
    }
}

/// Memberships made before migration 0022 are searched and listed after it like new ones.
async fn the_migration_fills_existing_memberships(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.unmigrated_store().await;
    store.migrate_up_to(21).await.unwrap();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    for sql in [
        "INSERT INTO users (id, email, name, password_hash, created_at) VALUES \
         ('usr_000000000000000000000001', 'zed@example.com', 'Zed Admin', 'h', 1), \
         ('usr_000000000000000000000002', 'ada@example.com', 'Ada LOVELACE', 'h', 1)",
        "INSERT INTO organizations (id, name, org_type, created_at) VALUES \
         ('org_000000000000000000000001', 'Old', 'team', 5)",
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES \
         ('org_000000000000000000000001', 'usr_000000000000000000000001', 'org_admin', 5), \
         ('org_000000000000000000000001', 'usr_000000000000000000000002', 'member', 6)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    store.migrate().await.unwrap();

    let org = &OrgId::parse("org_000000000000000000000001").unwrap();
    let emails = |members: Vec<tollgate_store::Member>| {
        members.into_iter().map(|m| m.email).collect::<Vec<_>>()
    };
    assert_eq!(
        emails(
            store
                .list_members(org, None, tollgate_store::PageRequest::first(10))
                .await
                .unwrap()
        ),
        ["ada@example.com", "zed@example.com"]
    );
    assert_eq!(
        emails(
            store
                .list_members(
                    org,
                    Some("lovelace"),
                    tollgate_store::PageRequest::first(10)
                )
                .await
                .unwrap()
        ),
        ["ada@example.com"]
    );
    assert_eq!(
        emails(
            store
                .list_members(org, Some("ZED@"), tollgate_store::PageRequest::first(10))
                .await
                .unwrap()
        ),
        ["zed@example.com"]
    );
}

on_both_engines!(
    members_are_listed_searched_and_paged,
    a_rename_reaches_the_search_in_every_organization,
    the_migration_fills_existing_memberships,
    the_last_admin_stays,
    concurrent_demotions_keep_one_admin
);
