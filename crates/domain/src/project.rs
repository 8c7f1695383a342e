//! Projects: the project-level role a member holds in each project assigned to them (DESIGN §2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A member's role in one project. Org admins hold no project role: they are implicitly admins
/// of every project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    ProjectAdmin,
    ProjectMember,
}

impl ProjectRole {
    pub const ALL: [ProjectRole; 2] = [Self::ProjectAdmin, Self::ProjectMember];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProjectAdmin => "project_admin",
            Self::ProjectMember => "project_member",
        }
    }
}

impl FromStr for ProjectRole {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "role",
                    format!("'{s}' is not one of project_admin, project_member"),
                )
            })
    }
}

impl fmt::Display for ProjectRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name every organization's first project carries.
pub const DEFAULT_PROJECT_NAME: &str = "Default";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in ProjectRole::ALL {
            assert_eq!(r.as_str().parse::<ProjectRole>(), Ok(r));
        }
        assert!("admin".parse::<ProjectRole>().is_err());
        assert!("org_admin".parse::<ProjectRole>().is_err());
    }
}
