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
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            created_at: rfc3339(u.created_at),
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
}

impl OrgView {
    pub fn new(org: &Org, role: tollgate_domain::OrgRole) -> Self {
        Self {
            id: org.id.clone(),
            name: org.name.clone(),
            org_type: org.org_type.as_str(),
            role: role.as_str(),
            created_at: rfc3339(org.created_at),
        }
    }
}

impl From<&Membership> for OrgView {
    fn from(m: &Membership) -> Self {
        Self::new(&m.org, m.role)
    }
}
