#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Invitations: every transition and every illegal one, on both engines.

use serde_json::json;
use tollgate_domain::invite::{InviteRole, InviteStatus, InviteUnusable};
use tollgate_domain::{Email, Name, OrgId, OrgRole, UserId};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, AuditEntry, Engine, InviteError, NewInvitation, NewUser, OutgoingEmail,
    Reissue, Store, User,
};

const DAY: i64 = 24 * 3600 * 1000;
const NOW: i64 = 1_790_000_000_000;

fn audit(action: &str) -> AuditEntry<'_> {
    AuditEntry {
        actor_id: None,
        actor_email: None,
        action,
        target_type: "invitation",
        target_id: "",
        details: json!({}),
        ip: None,
    }
}

fn message(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.into(),
        subject: "You're invited".into(),
        text_body: "link".into(),
        html_body: "<a>link</a>".into(),
        kind: "invitation".into(),
    }
}

async fn user(store: &Store, email: &str) -> (User, OrgId) {
    let (u, org) = store
        .create_user(
            NewUser {
                email: &Email::parse(email).unwrap(),
                name: &Name::parse("name", "Someone").unwrap(),
                password_hash: "h",
            },
            &Name::parse("name", "Org").unwrap(),
            NOW,
        )
        .await
        .unwrap();
    (u, org.id)
}

async fn invite(
    store: &Store,
    org: &OrgId,
    by: &UserId,
    email: &str,
    token: &str,
    now: i64,
) -> Result<tollgate_store::Invitation, InviteError> {
    let email = Email::parse(email).unwrap();
    store
        .create_invitation(
            org,
            by,
            NewInvitation {
                email: &email,
                role: InviteRole::OrgAdmin,
                project_ids: &[],
                token_hash: token,
                expires_at: now + 7 * DAY,
                message: &message(email.as_str()),
            },
            now,
            audit("invitation.create"),
        )
        .await
}

async fn inviting_writes_the_invitation_and_its_email_together(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = user(&store, "admin@example.com").await;
    let inv = invite(&store, &org, &admin.id, "New@Example.com", "t1", NOW)
        .await
        .unwrap();
    assert_eq!(inv.email, "new@example.com");
    assert_eq!(inv.status, InviteStatus::Pending);
    assert_eq!(inv.inviter_email.as_deref(), Some("admin@example.com"));
    assert_eq!(inv.org_name, "Org");
    let outbox = store.outbox_messages(10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, "new@example.com");
    let log = store
        .audit_log(&org, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].target_id.as_str()),
        ("invitation.create", inv.id.as_str())
    );

    // Refusals write nothing: not the invitation, not an email.
    assert!(matches!(
        invite(&store, &org, &admin.id, "new@example.com", "t2", NOW).await,
        Err(InviteError::AlreadyInvited)
    ));
    assert!(matches!(
        invite(&store, &org, &admin.id, "admin@example.com", "t3", NOW).await,
        Err(InviteError::AlreadyMember)
    ));
    assert_eq!(store.outbox_messages(10).await.unwrap().len(), 1);

    // An expired pending invitation is replaced by a new one.
    let again = invite(
        &store,
        &org,
        &admin.id,
        "new@example.com",
        "t4",
        NOW + 8 * DAY,
    )
    .await
    .unwrap();
    assert_ne!(again.id, inv.id);
    assert_eq!(
        store
            .invitation(&org, &inv.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        InviteStatus::Revoked
    );
}

async fn concurrent_invitations_of_one_address_make_one(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = user(&store, "admin@example.com").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, org, admin) = (store.clone(), org.clone(), admin.id.clone());
            tokio::spawn(async move {
                invite(
                    &store,
                    &org,
                    &admin,
                    "x@example.com",
                    &format!("tok{i}"),
                    NOW,
                )
                .await
                .is_ok()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
    assert_eq!(store.outbox_messages(10).await.unwrap().len(), 1);
}

async fn accept_reject_and_every_illegal_transition(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = user(&store, "admin@example.com").await;
    let (ada, _) = user(&store, "ada@example.com").await;
    let (eve, _) = user(&store, "eve@example.com").await;
    let inv = invite(&store, &org, &admin.id, "ada@example.com", "ta", NOW)
        .await
        .unwrap();

    let other = store.accept_invitation("ta", &eve, NOW + 1, None).await;
    assert!(matches!(
        other,
        Err(InviteError::Unusable(InviteUnusable::OtherEmail))
    ));
    assert!(matches!(
        store.accept_invitation("nope", &ada, NOW + 1, None).await,
        Err(InviteError::NotFound)
    ));

    let accepted = store
        .accept_invitation("ta", &ada, NOW + 1, Some("10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(accepted.status, InviteStatus::Accepted);
    assert_eq!(
        store.membership(&org, &ada.id).await.unwrap().unwrap().role,
        OrgRole::OrgAdmin
    );
    assert!(matches!(
        store.accept_invitation("ta", &ada, NOW + 2, None).await,
        Err(InviteError::Unusable(InviteUnusable::AlreadyAccepted))
    ));
    assert!(matches!(
        store.reject_invitation("ta", &ada, NOW + 2, None).await,
        Err(InviteError::Unusable(_))
    ));
    assert!(matches!(
        store
            .revoke_invitation(&org, &inv.id, NOW + 2, audit("invitation.revoke"))
            .await,
        Err(InviteError::NotPending("accepted"))
    ));
    assert!(matches!(
        store
            .resend_invitation(
                &org,
                &inv.id,
                Reissue {
                    token_hash: "tz",
                    expires_at: NOW + 9 * DAY,
                    message: &message("x")
                },
                NOW + 2,
                audit("r")
            )
            .await,
        Err(InviteError::NotPending("accepted"))
    ));

    // Reject, then it cannot be accepted.
    let (bob, _) = user(&store, "bob@example.com").await;
    invite(&store, &org, &admin.id, "bob@example.com", "tb", NOW)
        .await
        .unwrap();
    store
        .reject_invitation("tb", &bob, NOW + 1, None)
        .await
        .unwrap();
    assert!(matches!(
        store.accept_invitation("tb", &bob, NOW + 2, None).await,
        Err(InviteError::Unusable(InviteUnusable::AlreadyRejected))
    ));
    assert!(store.membership(&org, &bob.id).await.unwrap().is_none());

    // Revoked and expired.
    let (cy, _) = user(&store, "cy@example.com").await;
    let c = invite(&store, &org, &admin.id, "cy@example.com", "tc", NOW)
        .await
        .unwrap();
    store
        .revoke_invitation(&org, &c.id, NOW + 1, audit("invitation.revoke"))
        .await
        .unwrap();
    assert!(matches!(
        store.accept_invitation("tc", &cy, NOW + 2, None).await,
        Err(InviteError::Unusable(InviteUnusable::Revoked))
    ));
    let (dee, _) = user(&store, "dee@example.com").await;
    invite(&store, &org, &admin.id, "dee@example.com", "td", NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .accept_invitation("td", &dee, NOW + 7 * DAY, None)
            .await,
        Err(InviteError::Unusable(InviteUnusable::Expired))
    ));
    let actions: Vec<_> = store
        .audit_log(&org, tollgate_store::PageRequest::first(20))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"invitation.accept".to_owned())
            && actions.contains(&"invitation.reject".to_owned())
    );
    assert!(
        store
            .invitation(&OrgId::generate(), &c.id)
            .await
            .unwrap()
            .is_none(),
        "scoped by organization"
    );
}

async fn resend_replaces_the_token_and_expiry(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = user(&store, "admin@example.com").await;
    let (ada, _) = user(&store, "ada@example.com").await;
    let inv = invite(&store, &org, &admin.id, "ada@example.com", "old", NOW)
        .await
        .unwrap();
    // Expired, then resent: works again, with the new token only.
    let later = NOW + 8 * DAY;
    let resent = store
        .resend_invitation(
            &org,
            &inv.id,
            Reissue {
                token_hash: "new",
                expires_at: later + 7 * DAY,
                message: &message("ada@example.com"),
            },
            later,
            audit("invitation.resend"),
        )
        .await
        .unwrap();
    assert_eq!(resent.expires_at, later + 7 * DAY);
    assert_eq!(
        store.outbox_messages(10).await.unwrap().len(),
        2,
        "a new email"
    );
    assert!(matches!(
        store.accept_invitation("old", &ada, later + 1, None).await,
        Err(InviteError::NotFound)
    ));
    store
        .accept_invitation("new", &ada, later + 1, None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .resend_invitation(
                &OrgId::generate(),
                &inv.id,
                Reissue {
                    token_hash: "n2",
                    expires_at: later,
                    message: &message("x")
                },
                later,
                audit("r")
            )
            .await,
        Err(InviteError::NotFound)
    ));
}

async fn two_concurrent_accepts_create_one_membership(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = user(&store, "admin@example.com").await;
    let (ada, _) = user(&store, "ada@example.com").await;
    invite(&store, &org, &admin.id, "ada@example.com", "tok", NOW)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (store, ada) = (store.clone(), ada.clone());
            tokio::spawn(async move {
                store
                    .accept_invitation("tok", &ada, NOW + 1, None)
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
    assert_eq!(store.count_members(&org).await.unwrap(), 2);
}

async fn the_invites_list_shows_pending_and_recent_rejections(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (admin, org) = user(&store, "admin@example.com").await;
    let (r, _) = user(&store, "r@example.com").await;
    let (a, _) = user(&store, "a@example.com").await;
    invite(&store, &org, &admin.id, "p@example.com", "tp", NOW)
        .await
        .unwrap();
    invite(&store, &org, &admin.id, "r@example.com", "tr", NOW + 1)
        .await
        .unwrap();
    invite(&store, &org, &admin.id, "a@example.com", "ta", NOW + 2)
        .await
        .unwrap();
    let v = invite(&store, &org, &admin.id, "v@example.com", "tv", NOW + 3)
        .await
        .unwrap();
    store
        .reject_invitation("tr", &r, NOW + 10, None)
        .await
        .unwrap();
    store
        .accept_invitation("ta", &a, NOW + 10, None)
        .await
        .unwrap();
    store
        .revoke_invitation(&org, &v.id, NOW + 10, audit("x"))
        .await
        .unwrap();

    let listed = store
        .list_invitations(&org, NOW - 30 * DAY, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    let emails: Vec<_> = listed.iter().map(|i| i.email.as_str()).collect();
    assert_eq!(
        emails,
        ["r@example.com", "p@example.com"],
        "newest first; accepted and revoked are not listed"
    );
    let page = store
        .list_invitations(&org, NOW - 30 * DAY, tollgate_store::PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let rest = store
        .list_invitations(
            &org,
            NOW - 30 * DAY,
            tollgate_store::PageRequest::after(Some(&page[0].id), 1),
        )
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|i| i.email.as_str()).collect::<Vec<_>>(),
        ["p@example.com"]
    );
    // 31 days later the rejection is gone; the stale pending invitation too.
    assert!(store
        .list_invitations(
            &org,
            NOW + 31 * DAY - 30 * DAY + 11,
            tollgate_store::PageRequest::first(10)
        )
        .await
        .unwrap()
        .is_empty());
}

on_both_engines!(
    inviting_writes_the_invitation_and_its_email_together,
    concurrent_invitations_of_one_address_make_one,
    accept_reject_and_every_illegal_transition,
    resend_replaces_the_token_and_expiry,
    two_concurrent_accepts_create_one_membership,
    the_invites_list_shows_pending_and_recent_rejections,
);
