//! Invitations (DESIGN §2 "Invitations"): the role an invitation grants, its states, and the
//! rules for who may use it when.

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;
use crate::{Email, OrgRole, ProjectRole, Timestamp, ValidationError};

/// Most addresses one invitation request may carry.
pub const MAX_EMAILS_PER_REQUEST: usize = 50;
/// Rejected invitations stay listed this long.
pub const LIST_REJECTED_FOR_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteRole {
    OrgAdmin,
    ProjectAdmin,
    ProjectMember,
}

text_enum!(InviteRole, "role", OrgAdmin => "org_admin", ProjectAdmin => "project_admin", ProjectMember => "project_member");

impl InviteRole {
    pub fn label(self) -> &'static str {
        match self {
            Self::OrgAdmin => "Organization Admin",
            Self::ProjectAdmin => "Project Admin",
            Self::ProjectMember => "Project Member",
        }
    }

    /// The organization-level role an accepted invitation gives.
    pub fn org_role(self) -> OrgRole {
        match self {
            Self::OrgAdmin => OrgRole::OrgAdmin,
            Self::ProjectAdmin | Self::ProjectMember => OrgRole::Member,
        }
    }

    /// The role held in each invited project (`None` for org admins, who have them all).
    pub fn project_role(self) -> Option<ProjectRole> {
        match self {
            Self::OrgAdmin => None,
            Self::ProjectAdmin => Some(ProjectRole::ProjectAdmin),
            Self::ProjectMember => Some(ProjectRole::ProjectMember),
        }
    }

    /// Project roles must name at least one project; the admin role names none (admins see all).
    pub fn check_projects(self, project_ids: &[String]) -> Result<(), ValidationError> {
        match (self, project_ids.is_empty()) {
            (Self::OrgAdmin, false) => Err(ValidationError::new(
                "project_ids",
                "Organization admins have every project; leave the projects empty.",
            )),
            (Self::ProjectAdmin | Self::ProjectMember, true) => Err(ValidationError::new(
                "project_ids",
                "A project role needs at least one project.",
            )),
            _ => Ok(()),
        }
    }
}

/// The stored state. `expired` is not stored: it is a pending invitation past `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteStatus {
    Pending,
    Accepted,
    Rejected,
    Revoked,
}

text_enum!(InviteStatus, "status", Pending => "pending", Accepted => "accepted", Rejected => "rejected", Revoked => "revoked");

impl InviteStatus {
    /// The state shown to people: `expired` for a pending invitation past its expiry.
    pub fn shown(self, expires_at: Timestamp, now: Timestamp) -> &'static str {
        if self == Self::Pending && now >= expires_at {
            "expired"
        } else {
            self.as_str()
        }
    }
}

/// Why an invitation cannot be used (accepted or rejected) now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteUnusable {
    #[error("This invitation has expired. Ask an admin of the organization to resend it.")]
    Expired,
    #[error("This invitation was revoked by an admin of the organization.")]
    Revoked,
    #[error("This invitation has already been accepted.")]
    AlreadyAccepted,
    #[error("This invitation has already been declined.")]
    AlreadyRejected,
    #[error(
        "This invitation was sent to another email address than the one you are signed in with."
    )]
    OtherEmail,
}

/// Whether `user_email` may accept or reject an invitation in this state now.
pub fn check_usable(
    status: InviteStatus,
    expires_at: Timestamp,
    invited: &str,
    user_email: &str,
    now: Timestamp,
) -> Result<(), InviteUnusable> {
    match status {
        InviteStatus::Accepted => Err(InviteUnusable::AlreadyAccepted),
        InviteStatus::Rejected => Err(InviteUnusable::AlreadyRejected),
        InviteStatus::Revoked => Err(InviteUnusable::Revoked),
        InviteStatus::Pending if now >= expires_at => Err(InviteUnusable::Expired),
        InviteStatus::Pending if invited != user_email => Err(InviteUnusable::OtherEmail),
        InviteStatus::Pending => Ok(()),
    }
}

/// Resend works on pending invitations, expired or not.
pub fn can_resend(status: InviteStatus) -> bool {
    status == InviteStatus::Pending
}

/// Revoke works on pending invitations (an expired one included: it can still be resent).
pub fn can_revoke(status: InviteStatus) -> bool {
    status == InviteStatus::Pending
}

/// Splits the "emails" field of New Invite: commas, spaces, semicolons or newlines separate
/// addresses. Returns the distinct entries in order (raw, for per-address error reporting),
/// or an error when there are none or more than 50.
pub fn split_emails(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<String> = raw
        .iter()
        .flat_map(|chunk| chunk.split([',', ' ', '\n', '\r', '\t', ';']))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter(|e| {
            seen.insert(Email::parse(e).map_or_else(|_| (*e).to_owned(), |p| p.as_str().to_owned()))
        })
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return Err(ValidationError::new(
            "emails",
            "Enter at least one email address.",
        ));
    }
    if entries.len() > MAX_EMAILS_PER_REQUEST {
        return Err(ValidationError::new(
            "emails",
            format!("Invite at most {MAX_EMAILS_PER_REQUEST} addresses at a time."),
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_lists_are_split_and_deduplicated() {
        let got = split_emails(&["a@x.io, b@x.io\nc@x.io  A@X.io;d@x.io".to_owned()]).unwrap();
        assert_eq!(got, ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]);
        assert!(split_emails(&[" , \n".to_owned()]).is_err());
        let many: Vec<String> = (0..51).map(|i| format!("u{i}@x.io")).collect();
        assert!(split_emails(&many).is_err());
        assert_eq!(split_emails(&many[..50]).unwrap().len(), 50);
    }

    #[test]
    fn usability_follows_the_state_machine() {
        let now = 1_000;
        let ok = |s, exp| check_usable(s, exp, "a@x.io", "a@x.io", now);
        assert_eq!(ok(InviteStatus::Pending, 2_000), Ok(()));
        assert_eq!(
            ok(InviteStatus::Pending, 1_000),
            Err(InviteUnusable::Expired)
        );
        assert_eq!(
            ok(InviteStatus::Accepted, 2_000),
            Err(InviteUnusable::AlreadyAccepted)
        );
        assert_eq!(
            ok(InviteStatus::Rejected, 2_000),
            Err(InviteUnusable::AlreadyRejected)
        );
        assert_eq!(
            ok(InviteStatus::Revoked, 2_000),
            Err(InviteUnusable::Revoked)
        );
        assert_eq!(
            check_usable(InviteStatus::Pending, 2_000, "a@x.io", "b@x.io", now),
            Err(InviteUnusable::OtherEmail)
        );
        assert_eq!(InviteStatus::Pending.shown(1_000, now), "expired");
        assert_eq!(InviteStatus::Pending.shown(1_001, now), "pending");
        assert!(can_resend(InviteStatus::Pending) && !can_resend(InviteStatus::Accepted));
        assert!(can_revoke(InviteStatus::Pending) && !can_revoke(InviteStatus::Revoked));
    }

    #[test]
    fn project_roles_need_projects() {
        assert!(InviteRole::ProjectMember.check_projects(&[]).is_err());
        assert!(InviteRole::ProjectAdmin
            .check_projects(&["prj_1".into()])
            .is_ok());
        assert!(InviteRole::OrgAdmin.check_projects(&[]).is_ok());
        assert!(InviteRole::OrgAdmin
            .check_projects(&["prj_1".into()])
            .is_err());
        assert_eq!(InviteRole::ProjectAdmin.org_role(), OrgRole::Member);
    }
}
