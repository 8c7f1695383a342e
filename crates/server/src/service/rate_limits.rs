//! Rate limits as members see them and org admins set them for projects (docs/limits.md):
//! the organization's effective limits per model with their source and current use, and a
//! project's own, lower limits. The gateway enforces them (`limits`); operators override the
//! organization's (`tollgate admin limits`).

use serde_json::json;
use tollgate_domain::limits::{Dimension, LimitSource, RateLimits};
use tollgate_domain::{OrgAction, ProjectAction};
use tollgate_store::User;

use crate::app::App;
use crate::auth::ClientInfo;
use crate::limits::Scope;
use crate::service::{audit, ServiceError, ServiceResult};

/// One limited dimension of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitInUse {
    pub dimension: Dimension,
    pub limit: u64,
    pub source: LimitSource,
    /// Taken from the shared bucket now (it refills continuously).
    pub in_use: u64,
}

/// The organization's limits for one model of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLimits {
    pub model: String,
    pub limits: Vec<LimitInUse>,
}

impl App {
    /// Every catalog model's effective limits for the organization (its tier's when it
    /// subscribes, else pay-as-you-go; an operator's override on top), with their use now.
    pub async fn org_rate_limits(
        &self,
        user: &User,
        org_id: &str,
    ) -> ServiceResult<Vec<ModelLimits>> {
        self.org_access_for(user, org_id, OrgAction::ViewSettings)
            .await?;
        let catalog = self.catalog.current();
        let mut out = Vec::new();
        for model in catalog.models() {
            let entitlement = self.entitlement(org_id, &model.id).await?;
            let resolved = self.limits.resolve(org_id, &model.id, &entitlement).await?;
            let mut limits = Vec::new();
            for (dimension, limit) in resolved.limits.iter() {
                let remaining = self
                    .limits
                    .shared_remaining(Scope::Organization, org_id, &model.id, dimension, limit)
                    .await?;
                limits.push(LimitInUse {
                    dimension,
                    limit,
                    source: resolved.source(dimension),
                    in_use: limit.saturating_sub(remaining),
                });
            }
            out.push(ModelLimits {
                model: model.id.clone(),
                limits,
            });
        }
        Ok(out)
    }

    /// A project's own limits, by model (only the models it sets limits for).
    pub async fn project_rate_limits(
        &self,
        user: &User,
        org_id: &str,
        project_id: &str,
    ) -> ServiceResult<Vec<(String, RateLimits)>> {
        self.project_access(user, org_id, project_id, ProjectAction::View)
            .await?;
        Ok(self
            .store
            .project_model_limits(org_id)
            .await?
            .into_iter()
            .filter(|p| p.project_id == project_id)
            .map(|p| (p.model, p.limits))
            .collect())
    }

    /// Sets a project's limits for `model` (empty: removes them). Org admins only; each
    /// value from 1 to the organization's limit of that dimension (400 above it).
    pub async fn set_project_rate_limits(
        &self,
        user: &User,
        org_id: &str,
        project_id: &str,
        model: &str,
        limits: RateLimits,
        client: &ClientInfo,
    ) -> ServiceResult<RateLimits> {
        self.managed_project(user, org_id, project_id).await?;
        if self.catalog.current().model(model).is_none() {
            return Err(ServiceError::BadRequest {
                code: "unknown_model",
                message: format!("There is no model '{model}' in the catalog."),
            });
        }
        let invalid = |e: tollgate_domain::limits::LimitError| ServiceError::BadRequest {
            code: "invalid_limits",
            message: e.to_string(),
        };
        limits.validate().map_err(invalid)?;
        let entitlement = self.entitlement(org_id, model).await?;
        let org = self.limits.resolve(org_id, model, &entitlement).await?;
        limits
            .check_within(&org.limits)
            .map_err(|e| ServiceError::BadRequest {
                code: "limit_above_organization",
                message: e.to_string(),
            })?;
        let details: serde_json::Map<String, serde_json::Value> = limits
            .iter()
            .map(|(d, v)| (d.abbreviation().to_owned(), json!(v)))
            .collect();
        self.store
            .set_project_model_limits(
                org_id,
                project_id,
                model,
                &limits,
                self.now(),
                audit(
                    user,
                    client,
                    "project.limits.set",
                    "project",
                    project_id,
                    json!({ "model": model, "limits": details }),
                ),
            )
            .await?;
        self.limits.settings.forget_org(org_id);
        Ok(limits)
    }
}
