//! API keys in a project: listed (masked) by anyone who sees the project, created by everyone
//! assigned to it; revoked by org admins and the project's admins, and by their creator.

use serde_json::json;
use tollgate_domain::api_key::NewApiKey;
use tollgate_domain::{ApiKeyId, OrgId, ProjectId};
use tollgate_domain::{IdPrefix, Name, OrgAction, ProjectAction};
use tollgate_store::{ApiKey, Conflict, NewKey, StoreError, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::projects::ProjectAccess;
use crate::service::{audit, not_found_as, page_of, Page, ServiceError, ServiceResult};

/// A key just created: `secret` is the full key, shown once and never stored.
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

impl App {
    pub async fn list_api_keys(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<(ProjectAccess, Page<ApiKey>)> {
        let access = self
            .project_access(user, org_id, project_id, ProjectAction::View)
            .await?;
        let page = page_of(after, IdPrefix::ApiKey, limit, |page| {
            self.store.api_keys(project_id, page)
        })
        .await?;
        Ok((access, page))
    }

    /// The live keys of every active project ("All projects": org admins only).
    pub async fn list_org_api_keys(
        &self,
        user: &User,
        org_id: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<ApiKey>> {
        self.org_access_for(user, org_id, OrgAction::ViewAllProjects)
            .await?;
        page_of(after, IdPrefix::ApiKey, limit, |page| {
            self.store.org_api_keys(org_id, page)
        })
        .await
    }

    pub async fn create_api_key(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        name: &str,
        client: &ClientInfo,
    ) -> ServiceResult<CreatedKey> {
        let access = self
            .project_access(user, org_id, project_id, ProjectAction::UseOwnKeys)
            .await?;
        self.require_verified_email(user)?;
        let name = Name::parse("name", name)?;
        let archived = || ServiceError::Conflict {
            code: "project_archived",
            message: format!(
                "Project '{}' is archived; it takes no new keys.",
                access.project.name
            ),
        };
        if access.project.is_archived() {
            return Err(archived());
        }
        // 64 random bits of public id: a collision is all but impossible, and retried.
        for _ in 0..3 {
            let new = NewApiKey::generate();
            let stored = self
                .store
                .create_api_key(
                    NewKey {
                        org_id,
                        project_id,
                        name: &name,
                        public_id: &new.public_id,
                        secret_hash: &new.secret_digest,
                        created_by: &user.id,
                    },
                    self.now(),
                    audit(
                        user,
                        client,
                        "api_key.create",
                        "api_key",
                        "",
                        json!({"name": name.as_str(), "project_id": project_id}),
                    ),
                )
                .await;
            match stored {
                Ok(key) => {
                    return Ok(CreatedKey {
                        key,
                        secret: new.full,
                    })
                }
                Err(StoreError::Conflict(Conflict::KeyPublicId)) => continue,
                // Archived between the check and the insert.
                Err(StoreError::NotFound) => return Err(archived()),
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Internal(anyhow::anyhow!(
            "three API key public ids in a row collided"
        )))
    }

    /// Revokes a key: the next request with it is refused, in this process at once and in the
    /// others within a second.
    pub async fn revoke_api_key(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        key_id: &ApiKeyId,
        client: &ClientInfo,
    ) -> ServiceResult<ApiKey> {
        let access = self
            .project_access(user, org_id, project_id, ProjectAction::UseOwnKeys)
            .await?;
        let live = self
            .store
            .api_key(project_id, key_id)
            .await?
            .ok_or(ServiceError::NotFound("API key"))?;
        if !access.may_revoke(&live, user) {
            return Err(ServiceError::ProjectForbidden(ProjectAction::ManageKeys));
        }
        let key = self
            .store
            .revoke_api_key(
                project_id,
                key_id,
                self.now(),
                audit(
                    user,
                    client,
                    "api_key.revoke",
                    "api_key",
                    key_id,
                    json!({"project_id": project_id}),
                ),
            )
            .await
            .map_err(not_found_as("API key"))?;
        self.keys.forget_key(key_id);
        Ok(key)
    }
}
