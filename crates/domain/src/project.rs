//! Projects: the project-level role a member holds in each project assigned to them (DESIGN §2).

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

/// A member's role in one project. Org admins hold no project role: they are implicitly admins
/// of every project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    ProjectAdmin,
    ProjectMember,
}

text_enum!(ProjectRole, "role", ProjectAdmin => "project_admin", ProjectMember => "project_member");

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
