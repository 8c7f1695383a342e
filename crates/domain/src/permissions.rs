//! Who may do what: DESIGN.md §2's permission table, in one place.
//!
//! Handlers ask `allows(role, action)`; nothing else in the code base compares roles.

use crate::OrgRole;

/// An organization-level action from the permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgAction {
    /// See the organization's settings: id, name, type.
    ViewSettings,
    /// Rename the organization.
    RenameOrg,
    /// See the Members page, invite, change roles, remove members.
    ManageMembers,
    /// Read the audit log.
    ViewAuditLog,
}

impl OrgAction {
    /// The sentence a 403 answer carries.
    pub fn denied_message(self) -> &'static str {
        match self {
            Self::ViewSettings => "You are not allowed to view this organization.",
            Self::RenameOrg => "Only organization admins can rename the organization.",
            Self::ManageMembers => "Only organization admins can manage members and invitations.",
            Self::ViewAuditLog => "Only organization admins can read the audit log.",
        }
    }
}

pub fn allows(role: OrgRole, action: OrgAction) -> bool {
    match action {
        OrgAction::ViewSettings => true,
        OrgAction::RenameOrg | OrgAction::ManageMembers | OrgAction::ViewAuditLog => {
            role.is_admin()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_for_organization_actions() {
        use OrgAction::*;
        for (action, admin, member) in [
            (ViewSettings, true, true),
            (RenameOrg, true, false),
            (ManageMembers, true, false),
            (ViewAuditLog, true, false),
        ] {
            assert_eq!(
                allows(OrgRole::OrgAdmin, action),
                admin,
                "{action:?} for org admin"
            );
            assert_eq!(
                allows(OrgRole::Member, action),
                member,
                "{action:?} for member"
            );
        }
    }
}
