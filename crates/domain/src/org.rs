//! Organizations and the organization-level role of a member (DESIGN §2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgType {
    Personal,
    Team,
    Enterprise,
}

impl OrgType {
    pub const ALL: [OrgType; 3] = [Self::Personal, Self::Team, Self::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Team => "team",
            Self::Enterprise => "enterprise",
        }
    }
}

impl FromStr for OrgType {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "type",
                    format!("'{s}' is not one of personal, team, enterprise"),
                )
            })
    }
}

impl fmt::Display for OrgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's role in an organization. Org admins are implicitly admins of every project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    OrgAdmin,
    Member,
}

impl OrgRole {
    pub const ALL: [OrgRole; 2] = [Self::OrgAdmin, Self::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgAdmin => "org_admin",
            Self::Member => "member",
        }
    }

    pub fn is_admin(self) -> bool {
        self == Self::OrgAdmin
    }
}

impl FromStr for OrgRole {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new("role", format!("'{s}' is not one of org_admin, member"))
            })
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
