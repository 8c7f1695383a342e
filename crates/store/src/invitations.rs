//! Invitations: created with their email in one transaction, resent with a new token, revoked,
//! and accepted (membership created) or rejected by the invitee — each transition a guarded
//! update, so that concurrent requests cannot both win.

use std::str::FromStr;

use sqlx::{Any, Transaction};
use tollgate_domain::invite::{check_usable, InviteRole, InviteStatus, InviteUnusable};
use tollgate_domain::{Email, InviteId, OrgId, ProjectId, ProjectRole, Timestamp, UserId};

use crate::audit::{insert_audit, AuditEntry};
use crate::cursor::{Keyset, Order, PageRequest};
use crate::error::corrupt;
use crate::orgs::insert_membership;
use crate::outbox::{enqueue_email_in, OutgoingEmail};
use crate::project_members::assign_projects_in;
use crate::{Conflict, Result, Store, StoreError, User};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InviteId,
    pub org_id: OrgId,
    pub org_name: String,
    pub email: String,
    pub role: InviteRole,
    pub project_ids: Vec<ProjectId>,
    pub status: InviteStatus,
    pub invited_by: Option<UserId>,
    pub inviter_name: Option<String>,
    pub inviter_email: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
    pub responded_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    org_id: String,
    org_name: String,
    email: String,
    role: String,
    project_ids: String,
    status: String,
    invited_by: Option<String>,
    inviter_name: Option<String>,
    inviter_email: Option<String>,
    created_at: Timestamp,
    sent_at: Timestamp,
    expires_at: Timestamp,
    responded_at: Option<Timestamp>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;

    fn try_from(r: InvitationRow) -> Result<Self> {
        Ok(Invitation {
            role: InviteRole::from_str(&r.role).map_err(|e| corrupt(e.to_string()))?,
            status: InviteStatus::from_str(&r.status).map_err(|e| corrupt(e.to_string()))?,
            project_ids: serde_json::from_str::<Vec<String>>(&r.project_ids)
                .map_err(|e| corrupt(e.to_string()))?
                .into_iter()
                .map(ProjectId::from_stored)
                .collect(),
            id: InviteId::from_stored(r.id),
            org_id: OrgId::from_stored(r.org_id),
            org_name: r.org_name,
            email: r.email,
            invited_by: r.invited_by.map(UserId::from_stored),
            inviter_name: r.inviter_name,
            inviter_email: r.inviter_email,
            created_at: r.created_at,
            sent_at: r.sent_at,
            expires_at: r.expires_at,
            responded_at: r.responded_at,
        })
    }
}

const SELECT: &str = "SELECT i.id, i.org_id, o.name AS org_name, i.email, i.role, i.project_ids, i.status, \
     i.invited_by, u.name AS inviter_name, u.email AS inviter_email, i.created_at, i.sent_at, i.expires_at, \
     i.responded_at \
     FROM invitations i JOIN organizations o ON o.id = i.org_id LEFT JOIN users u ON u.id = i.invited_by";

/// Why an invitation operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("invitation not found")]
    NotFound,
    #[error("{0}")]
    Unusable(InviteUnusable),
    #[error("already a member of the organization")]
    AlreadyMember,
    #[error("already invited")]
    AlreadyInvited,
    /// Resend or revoke of an invitation that is no longer pending.
    #[error("the invitation is {0}")]
    NotPending(&'static str),
    /// A project the invitation names was archived since it was sent.
    #[error("a project of the invitation is archived")]
    ProjectGone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for InviteError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// A new invitation and the email that carries its link.
pub struct NewInvitation<'a> {
    pub email: &'a Email,
    pub role: InviteRole,
    pub project_ids: &'a [ProjectId],
    pub token_hash: &'a str,
    pub expires_at: Timestamp,
    pub message: &'a OutgoingEmail,
}

/// A resent invitation's new token digest, expiry and email.
pub struct Reissue<'a> {
    pub token_hash: &'a str,
    pub expires_at: Timestamp,
    pub message: &'a OutgoingEmail,
}

async fn fetch(
    tx: &mut Transaction<'static, Any>,
    filter: &str,
    key: &str,
) -> Result<Option<Invitation>> {
    sqlx::query_as::<_, InvitationRow>(&format!("{SELECT} WHERE {filter}"))
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?
        .map(Invitation::try_from)
        .transpose()
}

async fn is_member_email(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    email: &str,
) -> Result<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND u.email = $2")
        .bind(org_id.as_str())
        .bind(email)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

impl Store {
    /// Creates an invitation and queues its email in one transaction. An address that is
    /// already a member, or has a pending invitation that has not expired, is refused; an
    /// expired pending invitation of the address is revoked and replaced.
    pub async fn create_invitation(
        &self,
        org_id: &OrgId,
        inviter_id: &UserId,
        new: NewInvitation<'_>,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Invitation, InviteError> {
        let mut tx = self.begin_write().await?;
        let email = new.email.as_str();
        if is_member_email(&mut tx, org_id, email).await? {
            return Err(InviteError::AlreadyMember);
        }
        sqlx::query(
            "UPDATE invitations SET status = 'revoked', responded_at = $1 \
             WHERE org_id = $2 AND email = $3 AND status = 'pending' AND expires_at <= $1",
        )
        .bind(now)
        .bind(org_id.as_str())
        .bind(email)
        .execute(&mut *tx)
        .await?;
        let id = InviteId::generate();
        let inserted = sqlx::query(
            "INSERT INTO invitations (id, org_id, email, role, project_ids, token_hash, status, invited_by, \
             created_at, sent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8, $9)",
        )
        .bind(id.as_str())
        .bind(org_id.as_str())
        .bind(email)
        .bind(new.role.as_str())
        .bind(serde_json::to_string(new.project_ids).unwrap_or_else(|_| "[]".into()))
        .bind(new.token_hash)
        .bind(inviter_id.as_str())
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(match StoreError::unique(e, Conflict::PendingInvitation) {
                StoreError::Conflict(Conflict::PendingInvitation) => InviteError::AlreadyInvited,
                other => other.into(),
            });
        }
        enqueue_email_in(&mut tx, new.message, now).await?;
        insert_audit(
            &mut tx,
            org_id,
            &AuditEntry {
                target_id: &id,
                ..audit
            },
            now,
        )
        .await?;
        let invitation = fetch(&mut tx, "i.id = $1", &id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// An invitation of `org_id` by id (`None` for another organization's).
    pub async fn invitation(&self, org_id: &OrgId, id: &InviteId) -> Result<Option<Invitation>> {
        sqlx::query_as::<_, InvitationRow>(&format!("{SELECT} WHERE i.id = $1 AND i.org_id = $2"))
            .bind(id.as_str())
            .bind(org_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(Invitation::try_from)
            .transpose()
    }

    pub async fn invitation_by_token(&self, token_hash: &str) -> Result<Option<Invitation>> {
        sqlx::query_as::<_, InvitationRow>(&format!("{SELECT} WHERE i.token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(Invitation::try_from)
            .transpose()
    }

    /// The Invites list: pending invitations (expired ones included) sent since `since`, and
    /// invitations rejected since `since`; newest first, paged by id (`limit + 1` rows).
    /// `NotFound` when `after` is not an invitation of the organization.
    pub async fn list_invitations(
        &self,
        org_id: &OrgId,
        since: Timestamp,
        page: PageRequest<'_>,
    ) -> Result<Vec<Invitation>> {
        const ORDER: &str = "i.created_at, i.id";
        let invitations = Keyset::by_time(
            "SELECT created_at, id FROM invitations WHERE org_id = $1 AND id = $2",
            Order::Descending,
        );
        let (after_time, after_id) = invitations.start(&self.pool, org_id, None, page).await?;
        let sql = format!(
            "{SELECT} WHERE i.org_id = $1 \
             AND ((i.status = 'pending' AND i.sent_at >= $2) OR (i.status = 'rejected' AND i.responded_at >= $2)) \
             AND {} {} LIMIT $5",
            invitations.after_sql(ORDER, 3),
            invitations.order_sql(ORDER),
        );
        sqlx::query_as::<_, InvitationRow>(&sql)
            .bind(org_id.as_str())
            .bind(since)
            .bind(after_time)
            .bind(after_id)
            .bind(page.rows())
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Invitation::try_from)
            .collect()
    }

    /// Gives a pending (or expired) invitation a new token and expiry and queues the new email;
    /// the old link stops working.
    pub async fn resend_invitation(
        &self,
        org_id: &OrgId,
        id: &InviteId,
        reissue: Reissue<'_>,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Invitation, InviteError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invitations SET token_hash = $1, expires_at = $2, sent_at = $3 \
             WHERE id = $4 AND org_id = $5 AND status = 'pending'",
        )
        .bind(reissue.token_hash)
        .bind(reissue.expires_at)
        .bind(now)
        .bind(id.as_str())
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await?;
        let current = fetch(&mut tx, "i.id = $1", id)
            .await?
            .filter(|i| i.org_id == *org_id);
        let Some(invitation) = current else {
            return Err(InviteError::NotFound);
        };
        if done.rows_affected() == 0 {
            return Err(InviteError::NotPending(invitation.status.as_str()));
        }
        enqueue_email_in(&mut tx, reissue.message, now).await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Revokes a pending invitation.
    pub async fn revoke_invitation(
        &self,
        org_id: &OrgId,
        id: &InviteId,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Invitation, InviteError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invitations SET status = 'revoked', responded_at = $1 \
             WHERE id = $2 AND org_id = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await?;
        let Some(invitation) = fetch(&mut tx, "i.id = $1", id)
            .await?
            .filter(|i| i.org_id == *org_id)
        else {
            return Err(InviteError::NotFound);
        };
        if done.rows_affected() == 0 {
            return Err(InviteError::NotPending(invitation.status.as_str()));
        }
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Accepts an invitation for `user`: marks it accepted and creates the membership in one
    /// transaction. Of two concurrent accepts, exactly one succeeds.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: Timestamp,
        ip: Option<&str>,
    ) -> Result<Invitation, InviteError> {
        self.respond(token_hash, user, now, ip, true).await
    }

    pub async fn reject_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: Timestamp,
        ip: Option<&str>,
    ) -> Result<Invitation, InviteError> {
        self.respond(token_hash, user, now, ip, false).await
    }

    async fn respond(
        &self,
        token_hash: &str,
        user: &User,
        now: Timestamp,
        ip: Option<&str>,
        accept: bool,
    ) -> Result<Invitation, InviteError> {
        let mut tx = self.begin_write().await?;
        let invitation = fetch(&mut tx, "i.token_hash = $1", token_hash)
            .await?
            .ok_or(InviteError::NotFound)?;
        check_usable(
            invitation.status,
            invitation.expires_at,
            &invitation.email,
            &user.email,
            now,
        )
        .map_err(InviteError::Unusable)?;
        if accept && is_member_email(&mut tx, &invitation.org_id, &user.email).await? {
            return Err(InviteError::AlreadyMember);
        }
        let new_status = if accept {
            InviteStatus::Accepted
        } else {
            InviteStatus::Rejected
        };
        let done = sqlx::query(
            "UPDATE invitations SET status = $1, responded_at = $2 \
             WHERE id = $3 AND status = 'pending' AND expires_at > $2",
        )
        .bind(new_status.as_str())
        .bind(now)
        .bind(invitation.id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Another request changed it first; report what it became.
            drop(tx);
            let now_state = self
                .invitation_by_token(token_hash)
                .await?
                .ok_or(InviteError::NotFound)?;
            let unusable = check_usable(
                now_state.status,
                now_state.expires_at,
                &now_state.email,
                &user.email,
                now,
            )
            .err()
            .unwrap_or(InviteUnusable::AlreadyAccepted);
            return Err(InviteError::Unusable(unusable));
        }
        if accept {
            insert_membership(
                &mut tx,
                &invitation.org_id,
                &user.id,
                invitation.role.org_role(),
                now,
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Conflict::Membership) => InviteError::AlreadyMember,
                other => other.into(),
            })?;
            if let Some(role) = invitation.role.project_role() {
                let assignments: Vec<(&ProjectId, ProjectRole)> =
                    invitation.project_ids.iter().map(|id| (id, role)).collect();
                assign_projects_in(&mut tx, &invitation.org_id, &user.id, &assignments, now)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => InviteError::ProjectGone,
                        other => other.into(),
                    })?;
            }
        }
        let action = if accept {
            "invitation.accept"
        } else {
            "invitation.reject"
        };
        let audit = AuditEntry {
            actor_id: Some(&user.id),
            actor_email: Some(&user.email),
            action,
            target_type: "invitation",
            target_id: &invitation.id,
            details: serde_json::json!({"email": invitation.email, "role": invitation.role.as_str()}),
            ip,
        };
        insert_audit(&mut tx, &invitation.org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(Invitation {
            status: new_status,
            responded_at: Some(now),
            ..invitation
        })
    }
}
