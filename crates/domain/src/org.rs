//! Organizations and the organization-level role of a member (DESIGN §2).

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgType {
    Personal,
    Team,
    Enterprise,
}

text_enum!(OrgType, "type", Personal => "personal", Team => "team", Enterprise => "enterprise");

/// A member's role in an organization. Org admins are implicitly admins of every project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    OrgAdmin,
    Member,
}

text_enum!(OrgRole, "role", OrgAdmin => "org_admin", Member => "member");

impl OrgRole {
    pub fn is_admin(self) -> bool {
        self == Self::OrgAdmin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in OrgType::ALL {
            assert_eq!(t.as_str().parse::<OrgType>(), Ok(t));
        }
        for r in OrgRole::ALL {
            assert_eq!(r.as_str().parse::<OrgRole>(), Ok(r));
        }
        assert!("admin".parse::<OrgRole>().is_err());
        assert!("Team".parse::<OrgType>().is_err());
    }
}
