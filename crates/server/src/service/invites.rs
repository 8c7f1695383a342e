//! Invitations: New Invite (many addresses, each succeeding or failing on its own), the
//! Invites list, resend, revoke — and the invitee's side: look at, accept, reject.

use serde_json::json;
use tollgate_domain::invite::{split_emails, InviteRole, InviteUnusable, LIST_REJECTED_FOR_MS};
use tollgate_domain::{secret, Email, IdPrefix, OrgAction};
use tollgate_domain::{InviteId, OrgId, ProjectId};
use tollgate_store::{Invitation, InviteError, NewInvitation, OutgoingEmail, Reissue, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::email::templates::Invitation as InvitationEmail;
use crate::service::{audit, page_of, Page, ServiceError, ServiceResult};

const HOUR_MS: i64 = 3_600_000;

/// Who sends an invitation email, from where.
struct Inviting<'a> {
    org_name: &'a str,
    inviter: &'a User,
    base_url: &'a str,
}

/// One address of a New Invite that was not invited, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteFailure {
    pub email: String,
    /// `invalid_email`, `already_member` or `already_invited`.
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct InviteOutcome {
    pub created: Vec<Invitation>,
    pub errors: Vec<InviteFailure>,
}

pub struct InviteRequest<'a> {
    /// Addresses, each entry possibly holding several separated by commas, spaces or newlines.
    pub emails: &'a [String],
    pub role: &'a str,
    pub project_ids: &'a [String],
}

pub(crate) fn invite_error(e: InviteError) -> ServiceError {
    match e {
        InviteError::NotFound => ServiceError::NotFound("invitation"),
        InviteError::Unusable(u) => {
            let code = match u {
                InviteUnusable::Expired => "invite_expired",
                InviteUnusable::Revoked => "invite_revoked",
                InviteUnusable::AlreadyAccepted => "invite_already_accepted",
                InviteUnusable::AlreadyRejected => "invite_already_rejected",
                InviteUnusable::OtherEmail => "invite_email_mismatch",
            };
            let message = u.to_string();
            match u {
                InviteUnusable::Expired | InviteUnusable::Revoked => {
                    ServiceError::Gone { code, message }
                }
                InviteUnusable::OtherEmail => ServiceError::Denied { code, message },
                InviteUnusable::AlreadyAccepted | InviteUnusable::AlreadyRejected => {
                    ServiceError::Conflict { code, message }
                }
            }
        }
        InviteError::AlreadyMember => ServiceError::Conflict {
            code: "already_member",
            message: "You are already a member of this organization.".to_owned(),
        },
        InviteError::AlreadyInvited => ServiceError::Conflict {
            code: "already_invited",
            message: "This address already has a pending invitation.".to_owned(),
        },
        InviteError::NotPending(status) => ServiceError::Conflict {
            code: "invite_not_pending",
            message: format!(
                "This invitation is {status}: only pending invitations can be resent or revoked."
            ),
        },
        InviteError::ProjectGone => ServiceError::Conflict {
            code: "project_archived",
            message: "A project this invitation gives access to has been archived; ask an organization admin for a new invitation.".to_owned(),
        },
        InviteError::Store(e) => e.into(),
    }
}

/// The answer when an invitation names a project that is not an active one of the
/// organization (malformed, repeated, another organization's, archived or unknown).
fn unknown_projects() -> ServiceError {
    ServiceError::Invalid(tollgate_domain::ValidationError::new(
        "project_ids",
        "This organization has no such active projects.",
    ))
}

/// An invitation's project ids as the request gives them, read once: a malformed one names no
/// project of the organization.
fn invite_project_ids(raw: &[String]) -> ServiceResult<Vec<ProjectId>> {
    raw.iter()
        .map(|id| ProjectId::parse(id).ok_or_else(unknown_projects))
        .collect()
}

impl App {
    fn invite_ttl_ms(&self) -> i64 {
        i64::from(self.config.invite_ttl_days) * 24 * HOUR_MS
    }

    fn invitation_email(
        &self,
        from: &Inviting<'_>,
        to: &str,
        role: InviteRole,
        projects: &[String],
        token: &str,
        expires_at: i64,
    ) -> ServiceResult<OutgoingEmail> {
        let accept_url = format!("{}/invites/{token}", from.base_url);
        self.mailer
            .render(
                to,
                &InvitationEmail {
                    org_name: from.org_name,
                    inviter_name: &from.inviter.name,
                    inviter_email: &from.inviter.email,
                    role: role.label(),
                    projects,
                    accept_url: &accept_url,
                    expires_at,
                },
            )
            .map_err(|e| ServiceError::Internal(e.into()))
    }

    /// Counts `n` invitation emails against the organization's hourly allowance.
    async fn spend_invite_allowance(&self, org_id: &str, n: usize) -> ServiceResult<()> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let bucket = format!("invites:org:{org_id}");
        let used = self.store.rate_add(&bucket, n, HOUR_MS, self.now()).await?;
        if used > self.config.invite_emails_per_hour {
            let left = HOUR_MS - self.now().rem_euclid(HOUR_MS);
            return Err(ServiceError::TooManyRequests {
                retry_after_secs: u64::try_from(left / 1000 + 1).unwrap_or(1),
            });
        }
        Ok(())
    }

    pub async fn invite(
        &self,
        user: &User,
        org_id: &OrgId,
        request: InviteRequest<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<InviteOutcome> {
        let org = self
            .org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        let role: InviteRole = request.role.parse()?;
        role.check_projects(request.project_ids)?;
        let project_ids = invite_project_ids(request.project_ids)?;
        let projects = self.invite_project_names(org_id, &project_ids).await?;
        let entries = split_emails(request.emails)?;
        self.spend_invite_allowance(org_id, entries.len()).await?;

        let mut outcome = InviteOutcome::default();
        for raw in entries {
            let email = match Email::parse(&raw) {
                Ok(e) => e,
                Err(e) => {
                    outcome.errors.push(InviteFailure {
                        email: raw,
                        code: "invalid_email",
                        message: e.message,
                    });
                    continue;
                }
            };
            let token = secret::new_token();
            let expires_at = self.now() + self.invite_ttl_ms();
            let message = self.invitation_email(
                &Inviting {
                    org_name: &org.org.name,
                    inviter: user,
                    base_url: &client.base_url,
                },
                email.as_str(),
                role,
                &projects,
                &token,
                expires_at,
            )?;
            let created = self
                .store
                .create_invitation(
                    org_id,
                    &user.id,
                    NewInvitation {
                        email: &email,
                        role,
                        project_ids: &project_ids,
                        token_hash: &secret::digest(&token),
                        expires_at,
                        message: &message,
                    },
                    self.now(),
                    audit(user, client, "invitation.create", "invitation", "", json!({"email": email.as_str(), "role": role.as_str(), "project_ids": request.project_ids})),
                )
                .await;
            match created {
                Ok(invitation) => outcome.created.push(invitation),
                Err(InviteError::AlreadyMember) => outcome.errors.push(InviteFailure {
                    email: email.as_str().to_owned(),
                    code: "already_member",
                    message: "Already a member of the organization.".to_owned(),
                }),
                Err(InviteError::AlreadyInvited) => outcome.errors.push(InviteFailure {
                    email: email.as_str().to_owned(),
                    code: "already_invited",
                    message: "Already invited: resend the pending invitation instead.".to_owned(),
                }),
                Err(other) => return Err(invite_error(other)),
            }
        }
        if !outcome.created.is_empty() {
            self.mailer.wake();
        }
        Ok(outcome)
    }

    /// The names of the projects an invitation gives access to: each must be an active project
    /// of the organization.
    async fn invite_project_names(
        &self,
        org_id: &OrgId,
        project_ids: &[ProjectId],
    ) -> ServiceResult<Vec<String>> {
        let mut names = Vec::with_capacity(project_ids.len());
        for (i, id) in project_ids.iter().enumerate() {
            if project_ids[..i].contains(id) {
                return Err(unknown_projects());
            }
            let project = self
                .store
                .project_with_role(org_id, id, None)
                .await?
                .filter(|p| !p.project.is_archived())
                .ok_or_else(unknown_projects)?;
            names.push(project.project.name);
        }
        Ok(names)
    }

    pub async fn list_invitations(
        &self,
        user: &User,
        org_id: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<Invitation>> {
        self.org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        let since = self.now() - LIST_REJECTED_FOR_MS;
        page_of(after, IdPrefix::Invite, limit, |page| {
            self.store.list_invitations(org_id, since, page)
        })
        .await
    }

    pub async fn resend_invitation(
        &self,
        user: &User,
        org_id: &OrgId,
        invite_id: &InviteId,
        client: &ClientInfo,
    ) -> ServiceResult<Invitation> {
        let org = self
            .org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        let current = self.org_invitation(org_id, invite_id).await?;
        if !tollgate_domain::invite::can_resend(current.status) {
            return Err(invite_error(InviteError::NotPending(
                current.status.as_str(),
            )));
        }
        self.spend_invite_allowance(org_id, 1).await?;
        let token = secret::new_token();
        let expires_at = self.now() + self.invite_ttl_ms();
        let message = self.invitation_email(
            &Inviting {
                org_name: &org.org.name,
                inviter: user,
                base_url: &client.base_url,
            },
            &current.email,
            current.role,
            &self
                .invite_project_names(org_id, &current.project_ids)
                .await?,
            &token,
            expires_at,
        )?;
        let resent = self
            .store
            .resend_invitation(
                org_id,
                invite_id,
                Reissue {
                    token_hash: &secret::digest(&token),
                    expires_at,
                    message: &message,
                },
                self.now(),
                audit(
                    user,
                    client,
                    "invitation.resend",
                    "invitation",
                    invite_id,
                    json!({"email": current.email}),
                ),
            )
            .await
            .map_err(invite_error)?;
        self.mailer.wake();
        Ok(resent)
    }

    pub async fn revoke_invitation(
        &self,
        user: &User,
        org_id: &OrgId,
        invite_id: &InviteId,
        client: &ClientInfo,
    ) -> ServiceResult<Invitation> {
        self.org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        let current = self.org_invitation(org_id, invite_id).await?;
        self.store
            .revoke_invitation(
                org_id,
                invite_id,
                self.now(),
                audit(
                    user,
                    client,
                    "invitation.revoke",
                    "invitation",
                    invite_id,
                    json!({"email": current.email}),
                ),
            )
            .await
            .map_err(invite_error)
    }

    async fn org_invitation(
        &self,
        org_id: &OrgId,
        invite_id: &InviteId,
    ) -> ServiceResult<Invitation> {
        self.store
            .invitation(org_id, invite_id)
            .await?
            .ok_or(ServiceError::NotFound("invitation"))
    }

    /// The invitation a link's token names. Malformed, unknown and replaced tokens are all
    /// "not found": the link is no longer valid.
    pub async fn invitation_by_token(&self, token: &str) -> ServiceResult<Invitation> {
        if !secret::is_well_formed_token(token) {
            return Err(ServiceError::NotFound("invitation"));
        }
        self.store
            .invitation_by_token(&secret::digest(token))
            .await?
            .ok_or(ServiceError::NotFound("invitation"))
    }

    pub async fn accept_invitation(
        &self,
        user: &User,
        token: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Invitation> {
        if !secret::is_well_formed_token(token) {
            return Err(ServiceError::NotFound("invitation"));
        }
        let invitation = self
            .store
            .accept_invitation(
                &secret::digest(token),
                user,
                self.now(),
                client.ip.as_deref(),
            )
            .await
            .map_err(invite_error)?;
        // The invitation was emailed to this address and accepted by its owner (the store
        // refuses another address): that proves the address as the verification link would.
        self.store.mark_email_verified(&user.id, self.now()).await?;
        Ok(invitation)
    }

    pub async fn reject_invitation(
        &self,
        user: &User,
        token: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Invitation> {
        if !secret::is_well_formed_token(token) {
            return Err(ServiceError::NotFound("invitation"));
        }
        self.store
            .reject_invitation(
                &secret::digest(token),
                user,
                self.now(),
                client.ip.as_deref(),
            )
            .await
            .map_err(invite_error)
    }
}
