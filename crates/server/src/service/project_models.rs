//! Which models a project's keys may call (DESIGN §2: "a project may restrict which models its
//! keys can call (default: all)"). Org admins set it; the gateway checks it from memory (the
//! key cache), and every process drops its cached keys of the project when it changes.

use std::collections::BTreeSet;
use tollgate_domain::{OrgId, ProjectId};

use serde_json::json;
use tollgate_domain::ProjectAction;
use tollgate_store::User;

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::{audit, ServiceError, ServiceResult};

/// Most models one list may name.
const MAX_MODELS: usize = 1_000;

impl App {
    /// The models the project's keys may call; `None`: every model of the catalog.
    pub async fn project_models(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
    ) -> ServiceResult<Option<Vec<String>>> {
        self.project_access(user, org_id, project_id, ProjectAction::View)
            .await?;
        Ok(self.store.project_models(org_id, project_id).await?)
    }

    /// Restricts the project's keys to `models` (each in the catalog), or lifts the
    /// restriction (`None`). Org admins only.
    pub async fn set_project_models(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
        models: Option<Vec<String>>,
        client: &ClientInfo,
    ) -> ServiceResult<Option<Vec<String>>> {
        self.managed_project(user, org_id, project_id).await?;
        let models = match models {
            None => None,
            Some(list) => {
                if list.len() > MAX_MODELS {
                    return Err(ServiceError::BadRequest {
                        code: "too_many_models",
                        message: format!("At most {MAX_MODELS} models."),
                    });
                }
                let catalog = self.catalog.current();
                if let Some(unknown) = list.iter().find(|m| catalog.model(m).is_none()) {
                    return Err(ServiceError::BadRequest {
                        code: "unknown_model",
                        message: format!("There is no model '{unknown}' in the catalog."),
                    });
                }
                let unique: BTreeSet<String> = list.into_iter().collect();
                Some(unique.into_iter().collect::<Vec<_>>())
            }
        };
        self.store
            .set_project_models(
                org_id,
                project_id,
                models.as_deref(),
                self.now(),
                audit(
                    user,
                    client,
                    "project.models.set",
                    "project",
                    project_id,
                    json!({ "models": models }),
                ),
            )
            .await?;
        self.keys.forget_project(project_id);
        Ok(models)
    }
}
