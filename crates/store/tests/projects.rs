#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Projects, project members, API keys and the change log, on SQLite and on PostgreSQL.

use serde_json::json;
use sqlx::Row;
use tollgate_domain::{Email, Name, OrgRole, ProjectRole};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, ArchiveRefusal, AuditEntry, ChangeKind, Engine, NewKey, NewUser, Org, Store,
    StoreError, User,
};

const NOW: i64 = 1_790_000_000_000;

fn audit(action: &str) -> AuditEntry<'_> {
    AuditEntry {
        actor_id: None,
        actor_email: None,
        action,
        target_type: "project",
        target_id: "",
        details: json!({}),
        ip: None,
    }
}

fn name(s: &str) -> Name {
    Name::parse("name", s).unwrap()
}

async fn new_user(store: &Store, email: &str) -> (User, Org) {
    let email = Email::parse(email).unwrap();
    store
        .create_user(
            NewUser {
                email: &email,
                name: &name("Ada"),
                password_hash: "hash",
            },
            &name("Ada's org"),
            NOW,
        )
        .await
        .unwrap()
}

async fn organizations_are_born_with_a_default_project(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (user, personal) = new_user(&store, "ada@example.com").await;
    let team = store
        .create_org(&user.id, &name("Team"), NOW, audit("organization.create"))
        .await
        .unwrap();
    for org in [&personal, &team] {
        let default = store.default_project(&org.id).await.unwrap().unwrap();
        assert_eq!(default.name, "Default");
        assert!(default.is_default && !default.is_archived());
        assert_eq!(
            store
                .archive_project(&org.id, &default.id, NOW, audit("project.archive"))
                .await
                .unwrap(),
            Err(ArchiveRefusal::IsDefault)
        );
    }
}

async fn the_migration_gives_existing_organizations_a_default_project(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.unmigrated_store().await;
    store.migrate_up_to(2).await.unwrap();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    for sql in [
        "INSERT INTO users (id, email, name, password_hash, created_at) VALUES \
         ('usr_000000000000000000000001', 'a@example.com', 'A', 'h', 1), \
         ('usr_000000000000000000000002', 'b@example.com', 'B', 'h', 1)",
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

    let org = "org_000000000000000000000001";
    let default = store.default_project(org).await.unwrap().unwrap();
    assert_eq!((default.name.as_str(), default.created_at), ("Default", 5));
    assert!(tollgate_domain::ids::is_well_formed(
        tollgate_domain::IdPrefix::Project,
        &default.id
    ));
    // The existing member keeps access, through the Default project.
    let member = store
        .membership(org, "usr_000000000000000000000002")
        .await
        .unwrap()
        .expect("member keeps access");
    assert_eq!(member.role, OrgRole::Member);
    let assigned = store
        .project_member(&default.id, "usr_000000000000000000000002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(assigned.role, ProjectRole::ProjectMember);
    assert!(store
        .project_member(&default.id, "usr_000000000000000000000001")
        .await
        .unwrap()
        .is_none());
}

async fn members_see_assigned_projects_and_lose_access_with_the_last_one(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = new_user(&store, "ada@example.com").await;
    let (bob, _) = new_user(&store, "bob@example.com").await;
    let p = store
        .create_project(&org.id, &name("P"), NOW + 1, audit("project.create"))
        .await
        .unwrap();
    let q = store
        .create_project(&org.id, &name("Q"), NOW + 2, audit("project.create"))
        .await
        .unwrap();
    store
        .add_membership(&org.id, &bob.id, OrgRole::Member, NOW)
        .await
        .unwrap();
    assert!(
        store.membership(&org.id, &bob.id).await.unwrap().is_none(),
        "no project, no access"
    );
    assert!(store.memberships(&bob.id).await.unwrap().len() == 1);
    assert!(
        store.member(&org.id, &bob.id).await.unwrap().is_some(),
        "still a member"
    );

    store
        .set_project_member(
            &org.id,
            &p.id,
            &bob.id,
            ProjectRole::ProjectAdmin,
            NOW,
            audit("x"),
        )
        .await
        .unwrap();
    assert!(store.membership(&org.id, &bob.id).await.unwrap().is_some());
    let seen = store
        .visible_projects(&org.id, &bob.id, false, 10, None)
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].project.id, p.id);
    assert_eq!(seen[0].role, Some(ProjectRole::ProjectAdmin));
    let all = store
        .visible_projects(&org.id, &admin.id, true, 10, None)
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|p| p.project.name.as_str())
            .collect::<Vec<_>>(),
        ["Default", "P", "Q"]
    );
    // Pages: after the first, and a cursor the caller cannot see.
    let page = store
        .visible_projects(&org.id, &admin.id, true, 1, Some(&all[0].project.id))
        .await
        .unwrap();
    assert_eq!(page.len(), 2, "one more than the limit says there are more");
    assert_eq!(page[0].project.id, p.id);
    assert!(matches!(
        store
            .visible_projects(&org.id, &bob.id, false, 10, Some(&q.id))
            .await,
        Err(StoreError::NotFound)
    ));

    // Archiving the only project takes access away; another assignment gives it back.
    store
        .archive_project(&org.id, &p.id, NOW + 3, audit("project.archive"))
        .await
        .unwrap()
        .unwrap();
    assert!(store.membership(&org.id, &bob.id).await.unwrap().is_none());
    assert!(store.memberships(&bob.id).await.unwrap().len() == 1);
    assert_eq!(
        store
            .archive_project(&org.id, &p.id, NOW + 4, audit("project.archive"))
            .await
            .unwrap(),
        Err(ArchiveRefusal::AlreadyArchived)
    );
    assert!(matches!(
        store
            .rename_project(&org.id, &p.id, &name("New"), NOW, audit("x"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        matches!(
            store
                .set_project_member(
                    &org.id,
                    &p.id,
                    &bob.id,
                    ProjectRole::ProjectMember,
                    NOW,
                    audit("x")
                )
                .await,
            Err(StoreError::NotFound)
        ),
        "archived projects take no members"
    );
    store
        .set_project_member(
            &org.id,
            &q.id,
            &bob.id,
            ProjectRole::ProjectMember,
            NOW,
            audit("x"),
        )
        .await
        .unwrap();
    assert!(store.membership(&org.id, &bob.id).await.unwrap().is_some());

    // Changing a role replaces it; removing it twice is NotFound.
    store
        .set_project_member(
            &org.id,
            &q.id,
            &bob.id,
            ProjectRole::ProjectAdmin,
            NOW,
            audit("x"),
        )
        .await
        .unwrap();
    let members = store.project_members(&q.id, 10, None).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, ProjectRole::ProjectAdmin);
    assert_eq!(members[0].email, "bob@example.com");
    store
        .remove_project_member(&org.id, &q.id, &bob.id, NOW, audit("x"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .remove_project_member(&org.id, &q.id, &bob.id, NOW, audit("x"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn projects_of_another_organization_are_out_of_reach(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "ada@example.com").await;
    let (bob, other) = new_user(&store, "bob@example.com").await;
    let theirs = store.default_project(&other.id).await.unwrap().unwrap();
    assert!(store
        .project_with_role(&org.id, &theirs.id, &bob.id)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .rename_project(&org.id, &theirs.id, &name("Mine"), NOW, audit("x"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .archive_project(&org.id, &theirs.id, NOW, audit("x"))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .add_membership(&org.id, &bob.id, OrgRole::Member, NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .set_project_member(
                &org.id,
                &theirs.id,
                &bob.id,
                ProjectRole::ProjectMember,
                NOW,
                audit("x")
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let key = NewKey {
        org_id: &org.id,
        project_id: &theirs.id,
        name: &name("k"),
        public_id: "0123456789abcdef",
        secret_hash: "00",
        created_by: &bob.id,
    };
    assert!(matches!(
        store.create_api_key(key, NOW, audit("x")).await,
        Err(StoreError::NotFound)
    ));
}

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
    let listed = store.api_keys(&project.id, 10, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|k| &k.id).collect::<Vec<_>>(),
        [&ids[0], &ids[1]]
    );
    let after = store
        .api_keys(&project.id, 10, Some(&ids[0]))
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
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

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
        store.api_keys(&project.id, 10, None).await.unwrap().len(),
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
        store.set_org_suspended("org_nope", None, NOW).await,
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
    let all = store.org_api_keys(&org.id, 10, None).await.unwrap();
    assert_eq!(all.len(), 2, "the revoked key is not listed");
    assert_eq!(all[1].name, "in other");
    assert_eq!(
        store
            .org_api_keys(&org.id, 10, Some(&all[0].id))
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
        store.org_api_keys(&org.id, 10, None).await.unwrap().len(),
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
    let log = store.audit_log(&org.id, 10, None).await.unwrap();
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
    organizations_are_born_with_a_default_project,
    the_migration_gives_existing_organizations_a_default_project,
    members_see_assigned_projects_and_lose_access_with_the_last_one,
    projects_of_another_organization_are_out_of_reach,
    keys_are_created_listed_revoked_and_looked_up,
    concurrent_changes_get_distinct_ordered_versions,
);
