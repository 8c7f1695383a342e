//! Projects: who may see and change which, listing, creating, renaming and archiving.

use serde_json::json;
use tollgate_domain::permissions::{may_revoke_key, sees_project};
use tollgate_domain::{
    allows, allows_in_project, IdPrefix, Name, OrgAction, ProjectAction, ProjectRole,
};
use tollgate_domain::{OrgId, ProjectId};
use tollgate_store::{
    ApiKey, ArchiveRefusal, Membership, Project, ProjectWithRole, StoreError, User,
};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::{audit, not_found_as, page_of, Page, ServiceError, ServiceResult};

/// A caller's access to one project: their membership of its organization and their role in it
/// (`None` for org admins, who administer every project without one).
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub membership: Membership,
    pub project: Project,
    pub role: Option<ProjectRole>,
}

impl ProjectAccess {
    /// What the caller may do here, for pages that show or hide controls.
    pub fn allows(&self, action: ProjectAction) -> bool {
        allows_in_project(self.membership.role, self.role, action)
    }

    /// Whether `user` (the caller) may revoke `key`: any key as an admin, their own otherwise.
    pub fn may_revoke(&self, key: &ApiKey, user: &User) -> bool {
        let own = key.created_by.as_ref().is_some_and(|c| c.id == user.id);
        may_revoke_key(self.membership.role, self.role, own)
    }
}

/// Org admins administer every project: a project role they may also hold (say, from before a
/// promotion) says nothing.
fn effective_role(membership: &Membership, role: Option<ProjectRole>) -> Option<ProjectRole> {
    if membership.role.is_admin() {
        None
    } else {
        role
    }
}

fn archived(project: &Project) -> ServiceError {
    ServiceError::Conflict {
        code: "project_archived",
        message: format!(
            "Project '{}' is archived; it cannot be changed.",
            project.name
        ),
    }
}

impl App {
    /// The one check for anything inside a project: the organization must be the caller's
    /// (404), the project must be the organization's and visible to the caller — org admins
    /// see every project, members only their assigned ones (404) — and `action` must be allowed
    /// for the caller's roles (403).
    pub async fn project_access(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        action: ProjectAction,
    ) -> ServiceResult<ProjectAccess> {
        let membership = self.org_access(user, org_id).await?;
        let found = self
            .store
            .project_with_role(org_id, project_id, Some(&user.id))
            .await?
            .filter(|p| sees_project(membership.role, p.role))
            .ok_or(ServiceError::NotFound("project"))?;
        if !allows_in_project(membership.role, found.role, action) {
            return Err(ServiceError::ProjectForbidden(action));
        }
        Ok(ProjectAccess {
            role: effective_role(&membership, found.role),
            membership,
            project: found.project,
        })
    }

    /// A project id read from a form or a query string, in `org_id`: a malformed one answers
    /// what `project_access` answers for it (the organization's checks, then 404).
    pub async fn project_id_in(
        &self,
        user: &User,
        org_id: &OrgId,
        raw: &str,
    ) -> ServiceResult<ProjectId> {
        match ProjectId::parse(raw) {
            Some(project_id) => Ok(project_id),
            None => {
                self.org_access(user, org_id).await?;
                Err(ServiceError::NotFound("project"))
            }
        }
    }

    /// The projects of an organization the caller can see, oldest first.
    pub async fn list_projects(
        &self,
        user: &User,
        org_id: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<(Membership, Page<ProjectWithRole>)> {
        let membership = self.org_access(user, org_id).await?;
        let all = allows(membership.role, OrgAction::ViewAllProjects);
        let page = page_of(after, IdPrefix::Project, limit, |page| {
            self.store.visible_projects(org_id, &user.id, all, page)
        })
        .await?
        .map(|p| ProjectWithRole {
            role: effective_role(&membership, p.role),
            project: p.project,
        });
        Ok((membership, page))
    }

    pub async fn create_project(
        &self,
        user: &User,
        org_id: &OrgId,
        name: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Project> {
        self.org_access_for(user, org_id, OrgAction::ManageProjects)
            .await?;
        let name = Name::parse("name", name)?;
        Ok(self
            .store
            .create_project(
                org_id,
                &name,
                self.now(),
                audit(
                    user,
                    client,
                    "project.create",
                    "project",
                    "",
                    json!({"name": name.as_str()}),
                ),
            )
            .await?)
    }

    /// An org-level action on one project: members are refused whatever the project (403),
    /// org admins get 404 for projects of other organizations.
    pub(crate) async fn managed_project(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
    ) -> ServiceResult<Project> {
        self.org_access_for(user, org_id, OrgAction::ManageProjects)
            .await?;
        let access = self
            .project_access(user, org_id, project_id, ProjectAction::View)
            .await?;
        Ok(access.project)
    }

    pub async fn rename_project(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        name: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Project> {
        let project = self.managed_project(user, org_id, project_id).await?;
        let name = Name::parse("name", name)?;
        if project.is_archived() {
            return Err(archived(&project));
        }
        self.store
            .rename_project(
                org_id,
                project_id,
                &name,
                self.now(),
                audit(
                    user,
                    client,
                    "project.rename",
                    "project",
                    project_id,
                    json!({"from": project.name, "to": name.as_str()}),
                ),
            )
            .await
            .map_err(|e| match e {
                // Archived between the check and the update.
                StoreError::NotFound => archived(&project),
                other => other.into(),
            })
    }

    /// Archives a project; its keys stop working on the next request, in every process.
    pub async fn archive_project(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        client: &ClientInfo,
    ) -> ServiceResult<Project> {
        let project = self.managed_project(user, org_id, project_id).await?;
        let outcome = self
            .store
            .archive_project(
                org_id,
                project_id,
                self.now(),
                audit(
                    user,
                    client,
                    "project.archive",
                    "project",
                    project_id,
                    json!({"name": project.name}),
                ),
            )
            .await
            .map_err(not_found_as("project"))?;
        match outcome {
            Ok(archived) => {
                self.keys.forget_project(project_id);
                Ok(archived)
            }
            Err(ArchiveRefusal::IsDefault) => Err(ServiceError::Conflict {
                code: "default_project",
                message: "The Default project cannot be archived.".to_owned(),
            }),
            Err(ArchiveRefusal::AlreadyArchived) => Err(ServiceError::Conflict {
                code: "project_archived",
                message: format!("Project '{}' is already archived.", project.name),
            }),
        }
    }
}
