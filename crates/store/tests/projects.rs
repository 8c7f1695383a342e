#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Projects and project members, on SQLite and on PostgreSQL.

mod common;

use common::{audit, name, new_user, NOW};
use tollgate_domain::{OrgId, OrgRole, ProjectRole, UserId};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, ArchiveRefusal, Engine, NewKey, StoreError};

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

    let org = &OrgId::parse("org_000000000000000000000001").unwrap();
    let default = store.default_project(org).await.unwrap().unwrap();
    assert_eq!((default.name.as_str(), default.created_at), ("Default", 5));
    assert!(tollgate_domain::ids::is_well_formed(
        tollgate_domain::IdPrefix::Project,
        &default.id
    ));
    // The existing member keeps access, through the Default project.
    let (admin, member_id) = (
        UserId::parse("usr_000000000000000000000001").unwrap(),
        UserId::parse("usr_000000000000000000000002").unwrap(),
    );
    let member = store
        .membership(org, &member_id)
        .await
        .unwrap()
        .expect("member keeps access");
    assert_eq!(member.role, OrgRole::Member);
    let assigned = store
        .project_member(&default.id, &member_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(assigned.role, ProjectRole::ProjectMember);
    assert!(store
        .project_member(&default.id, &admin)
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
        .visible_projects(
            &org.id,
            &bob.id,
            false,
            tollgate_store::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].project.id, p.id);
    assert_eq!(seen[0].role, Some(ProjectRole::ProjectAdmin));
    let all = store
        .visible_projects(
            &org.id,
            &admin.id,
            true,
            tollgate_store::PageRequest::first(10),
        )
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
        .visible_projects(
            &org.id,
            &admin.id,
            true,
            tollgate_store::PageRequest::after(Some(&all[0].project.id), 1),
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 2, "one more than the limit says there are more");
    assert_eq!(page[0].project.id, p.id);
    assert!(matches!(
        store
            .visible_projects(
                &org.id,
                &bob.id,
                false,
                tollgate_store::PageRequest::after(Some(&q.id), 10)
            )
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
    let members = store
        .project_members(&q.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, ProjectRole::ProjectAdmin);
    assert_eq!(members[0].email, "bob@example.com");
    store
        .remove_project_member(
            &org.id,
            &q.id,
            &bob.id,
            NOW,
            audit("x"),
            audit("api_key.revoke"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .remove_project_member(
                &org.id,
                &q.id,
                &bob.id,
                NOW,
                audit("x"),
                audit("api_key.revoke")
            )
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
        .project_with_role(&org.id, &theirs.id, Some(&bob.id))
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

on_both_engines!(
    organizations_are_born_with_a_default_project,
    the_migration_gives_existing_organizations_a_default_project,
    members_see_assigned_projects_and_lose_access_with_the_last_one,
    projects_of_another_organization_are_out_of_reach,
);
