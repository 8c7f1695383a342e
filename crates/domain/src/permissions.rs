//! Who may do what: DESIGN.md §2's permission table, in one place.
//!
//! Handlers ask `allows(role, action)` for organization-level rows and
//! `allows_in_project(org_role, project_role, action)` for project-level rows; nothing else in
//! the code base compares roles.

use crate::{OrgRole, ProjectRole};

/// An organization-level action from the permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgAction {
    /// See the organization's settings: id, name, type.
    ViewSettings,
    /// Rename the organization.
    RenameOrg,
    /// Require two-factor sign-in of every member (decision 0024).
    RequireTwoFactor,
    /// See the Members page, invite, change roles, remove members.
    ManageMembers,
    /// Read the audit log.
    ViewAuditLog,
    /// Create, rename and archive projects.
    ManageProjects,
    /// See every project of the organization at once ("All projects" in the console). Others
    /// see only the projects assigned to them.
    ViewAllProjects,
    /// Billing: balance, credits, auto-recharge, payment method, address, receipts,
    /// subscriptions.
    ManageBilling,
}

impl OrgAction {
    /// The sentence a 403 answer carries.
    pub fn denied_message(self) -> &'static str {
        match self {
            Self::ViewSettings => "You are not allowed to view this organization.",
            Self::RenameOrg => "Only organization admins can rename the organization.",
            Self::RequireTwoFactor => {
                "Only organization admins can require two-factor sign-in of the members."
            }
            Self::ManageMembers => "Only organization admins can manage members and invitations.",
            Self::ViewAuditLog => "Only organization admins can read the audit log.",
            Self::ManageProjects => {
                "Only organization admins can create, rename or archive projects."
            }
            Self::ViewAllProjects => "Only organization admins can see all projects at once.",
            Self::ManageBilling => "Only organization admins can see and manage billing.",
        }
    }
}

pub fn allows(role: OrgRole, action: OrgAction) -> bool {
    match action {
        OrgAction::ViewSettings => true,
        OrgAction::RenameOrg
        | OrgAction::RequireTwoFactor
        | OrgAction::ManageMembers
        | OrgAction::ViewAuditLog
        | OrgAction::ManageProjects
        | OrgAction::ViewAllProjects
        | OrgAction::ManageBilling => role.is_admin(),
    }
}

/// An action on one project from the permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectAction {
    /// See the project, its members, its keys (masked) and its usage.
    View,
    /// Create keys, and revoke the ones one created oneself ("own keys").
    UseOwnKeys,
    /// Create and revoke any of the project's API keys.
    ManageKeys,
    /// Add, change and remove the project's members.
    ManageMembers,
}

impl ProjectAction {
    /// The sentence a 403 answer carries.
    pub fn denied_message(self) -> &'static str {
        match self {
            Self::View => "You are not allowed to view this project.",
            Self::UseOwnKeys => "You are not allowed to create API keys in this project.",
            Self::ManageKeys => "Only project admins can revoke API keys created by someone else.",
            Self::ManageMembers => "Only project admins can manage this project's members.",
        }
    }
}

/// Whether a member with `org_role` and, in this project, `project_role` (`None`: not assigned)
/// may do `action`. Org admins are implicitly admins of every project.
pub fn allows_in_project(
    org_role: OrgRole,
    project_role: Option<ProjectRole>,
    action: ProjectAction,
) -> bool {
    if org_role.is_admin() {
        return true;
    }
    match (project_role, action) {
        (None, _) => false,
        (Some(_), ProjectAction::View | ProjectAction::UseOwnKeys) => true,
        (Some(role), ProjectAction::ManageKeys | ProjectAction::ManageMembers) => {
            role == ProjectRole::ProjectAdmin
        }
    }
}

/// Whether a member may revoke one key of the project: any key with `ManageKeys`, a key they
/// created themselves (`own`) with `UseOwnKeys`.
pub fn may_revoke_key(org_role: OrgRole, project_role: Option<ProjectRole>, own: bool) -> bool {
    allows_in_project(org_role, project_role, ProjectAction::ManageKeys)
        || (own && allows_in_project(org_role, project_role, ProjectAction::UseOwnKeys))
}

/// Whether a project is visible at all to this member: org admins see every project, others
/// only those assigned to them. An invisible project answers 404, like another organization's.
pub fn sees_project(org_role: OrgRole, project_role: Option<ProjectRole>) -> bool {
    allows_in_project(org_role, project_role, ProjectAction::View)
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
            (RequireTwoFactor, true, false),
            (ManageMembers, true, false),
            (ViewAuditLog, true, false),
            (ManageProjects, true, false),
            (ViewAllProjects, true, false),
            (ManageBilling, true, false),
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

    #[test]
    fn the_table_for_project_actions() {
        use ProjectAction::*;
        let admin = (OrgRole::OrgAdmin, None);
        let p_admin = (OrgRole::Member, Some(ProjectRole::ProjectAdmin));
        let p_member = (OrgRole::Member, Some(ProjectRole::ProjectMember));
        let unassigned = (OrgRole::Member, None);
        // action, org admin, project admin, project member, member not assigned to the project
        for (action, expected) in [
            (View, [true, true, true, false]),
            (UseOwnKeys, [true, true, true, false]),
            (ManageKeys, [true, true, false, false]),
            (ManageMembers, [true, true, false, false]),
        ] {
            for ((org_role, project_role), allowed) in [admin, p_admin, p_member, unassigned]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(
                    allows_in_project(org_role, project_role, action),
                    allowed,
                    "{action:?} for {org_role:?}/{project_role:?}"
                );
            }
        }
        // Revoking a key: admins any, a project member only their own.
        for ((org_role, project_role), own_key, others_key) in [
            (admin, true, true),
            (p_admin, true, true),
            (p_member, true, false),
            (unassigned, false, false),
        ] {
            assert_eq!(may_revoke_key(org_role, project_role, true), own_key);
            assert_eq!(may_revoke_key(org_role, project_role, false), others_key);
        }
        assert!(sees_project(OrgRole::OrgAdmin, None));
        assert!(!sees_project(OrgRole::Member, None));
    }
}
