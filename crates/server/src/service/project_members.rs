//! Project members: listed by anyone who sees the project; added, changed and removed by org
//! admins and the project's admins.

use std::str::FromStr;
use tollgate_domain::{ApiKeyId, OrgId, ProjectId, UserId};

use serde_json::json;
use tollgate_domain::{IdPrefix, ProjectAction, ProjectRole};
use tollgate_store::{ProjectMember, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::projects::ProjectAccess;
use crate::service::{
    audit, keys_lost_audit, not_found_as, page_of, Page, ServiceError, ServiceResult,
};

impl App {
    pub async fn list_project_members(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<(ProjectAccess, Page<ProjectMember>)> {
        let access = self
            .project_access(user, org_id, project_id, ProjectAction::View)
            .await?;
        let page = page_of(after, IdPrefix::User, limit, |page| {
            self.store.project_members(project_id, page)
        })
        .await?;
        Ok((access, page))
    }

    /// Gives an organization member a role in the project, or changes it.
    pub async fn set_project_member(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        member_id: &UserId,
        role: &str,
        client: &ClientInfo,
    ) -> ServiceResult<ProjectMember> {
        let access = self
            .project_access(user, org_id, project_id, ProjectAction::ManageMembers)
            .await?;
        let role = ProjectRole::from_str(role)?;
        let target = self.org_member(org_id, member_id).await?;
        if target.is_admin() {
            return Err(ServiceError::BadRequest {
                code: "org_admin",
                message: "Organization admins already administer every project.".to_owned(),
            });
        }
        if access.project.is_archived() {
            return Err(ServiceError::Conflict {
                code: "project_archived",
                message: format!(
                    "Project '{}' is archived; it takes no new members.",
                    access.project.name
                ),
            });
        }
        let previous = self.store.project_member(project_id, member_id).await?;
        self.store
            .set_project_member(
                org_id,
                project_id,
                member_id,
                role,
                self.now(),
                audit(
                    user,
                    client,
                    "project.member.set",
                    "project",
                    project_id,
                    json!({
                        "user_id": member_id,
                        "role": role.as_str(),
                        "previous_role": previous.as_ref().map(|p| p.role.as_str()),
                    }),
                ),
            )
            .await
            .map_err(not_found_as("project"))?;
        self.store
            .project_member(project_id, member_id)
            .await?
            .ok_or(ServiceError::NotFound("member"))
    }

    pub async fn remove_project_member(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        member_id: &UserId,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        self.project_access(user, org_id, project_id, ProjectAction::ManageMembers)
            .await?;
        // A member's own keys in the project go with their access to it (DESIGN §2).
        let revoked = self
            .store
            .remove_project_member(
                org_id,
                project_id,
                member_id,
                self.now(),
                audit(
                    user,
                    client,
                    "project.member.remove",
                    "project",
                    project_id,
                    json!({"user_id": member_id}),
                ),
                keys_lost_audit(user, client, member_id, "removed_from_project"),
            )
            .await
            .map_err(not_found_as("member"))?;
        self.forget_keys(&revoked);
        Ok(())
    }

    /// Drops revoked keys from this process's memory at once (other processes follow the
    /// change log written with the revocation).
    pub(crate) fn forget_keys(&self, key_ids: &[ApiKeyId]) {
        for key_id in key_ids {
            self.keys.forget_key(key_id);
        }
    }

    /// The org role of a member of the organization (whether or not they have access right now:
    /// a member whose projects were all archived can be given one again).
    async fn org_member(
        &self,
        org_id: &OrgId,
        member_id: &UserId,
    ) -> ServiceResult<tollgate_domain::OrgRole> {
        Ok(self
            .store
            .member(org_id, member_id)
            .await?
            .ok_or(ServiceError::NotFound("member"))?
            .role)
    }
}
