//! What the JSON API shows of stored objects.

use serde::Serialize;
use tollgate_store::{Membership, Org, User};
use utoipa::ToSchema;

use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[schema(example = "usr_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    pub email: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// False until the address is verified (the emailed link, or an accepted invitation);
    /// creating API keys and buying credits need it (`email_not_verified`).
    pub email_verified: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.clone(),
            name: u.name.clone(),
            created_at: rfc3339(u.created_at),
            email_verified: u.email_verified(),
        }
    }
}

/// An organization as seen by one of its members.
#[derive(Serialize, ToSchema)]
pub struct OrgView {
    #[schema(example = "org_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    pub name: String,
    /// `personal`, `team` or `enterprise`; changed only by support.
    #[serde(rename = "type")]
    #[schema(example = "personal")]
    pub org_type: &'static str,
    /// The caller's role: `org_admin` or `member`.
    #[schema(example = "org_admin")]
    pub role: &'static str,
    pub created_at: String,
    /// Whether members must have two-factor sign-in to use the organization with a session.
    pub require_2fa: bool,
}

impl OrgView {
    pub fn new(org: &Org, role: tollgate_domain::OrgRole) -> Self {
        Self {
            id: org.id.to_string(),
            name: org.name.clone(),
            org_type: org.org_type.as_str(),
            role: role.as_str(),
            created_at: rfc3339(org.created_at),
            require_2fa: org.require_2fa,
        }
    }
}

impl From<&Membership> for OrgView {
    fn from(m: &Membership) -> Self {
        Self::new(&m.org, m.role)
    }
}

/// A project as seen by a member of its organization.
#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    #[schema(example = "prj_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    pub name: String,
    /// The organization's Default project, which cannot be archived.
    pub is_default: bool,
    /// `active` or `archived`; an archived project's keys do not work.
    #[schema(example = "active")]
    pub status: &'static str,
    pub archived_at: Option<String>,
    pub created_at: String,
    /// The caller's role in the project: `project_admin` (org admins are admins of every
    /// project) or `project_member`.
    #[schema(example = "project_admin")]
    pub role: &'static str,
}

impl ProjectView {
    /// `role`: the caller's project role, `None` for org admins.
    pub fn new(p: &tollgate_store::Project, role: Option<tollgate_domain::ProjectRole>) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            is_default: p.is_default,
            status: if p.is_archived() {
                "archived"
            } else {
                "active"
            },
            archived_at: p.archived_at.map(rfc3339),
            created_at: rfc3339(p.created_at),
            role: role.map_or("project_admin", |r| r.as_str()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectMemberView {
    #[schema(example = "usr_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub user_id: String,
    pub email: String,
    pub name: String,
    /// `project_admin` or `project_member`.
    pub role: &'static str,
    pub added_at: String,
}

impl From<&tollgate_store::ProjectMember> for ProjectMemberView {
    fn from(m: &tollgate_store::ProjectMember) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            email: m.email.clone(),
            name: m.name.clone(),
            role: m.role.as_str(),
            added_at: rfc3339(m.created_at),
        }
    }
}

/// Who created a key (absent when that account no longer exists).
#[derive(Serialize, ToSchema)]
pub struct KeyCreatorView {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// An API key as lists show it: never the secret.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    #[schema(example = "key_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    pub name: String,
    /// The public id with the secret masked.
    #[schema(example = "tg-3f9a1c2b7d4e8f60-••••••••")]
    pub preview: String,
    pub project_id: String,
    pub created_by: Option<KeyCreatorView>,
    pub created_at: String,
    /// Updated at most once a minute.
    pub last_used_at: Option<String>,
}

impl From<&tollgate_store::ApiKey> for ApiKeyView {
    fn from(k: &tollgate_store::ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            preview: tollgate_domain::api_key::masked_preview(&k.public_id),
            project_id: k.project_id.to_string(),
            created_by: k.created_by.as_ref().map(|c| KeyCreatorView {
                id: c.id.to_string(),
                email: c.email.clone(),
                name: c.name.clone(),
            }),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
        }
    }
}
