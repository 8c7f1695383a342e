//! Rate limits as members see them and org admins set them for projects (docs/limits.md), for
//! the console (Limits page, project page) and the API (`api/limits.rs`) alike: the
//! organization's limits per model with where each comes from and how much of its bucket is in
//! use, and a project's own lower limits. The gateway enforces them in `limits/`; operators
//! override the organization's (`tollgate admin limits`).

use serde_json::json;
use tollgate_domain::limits::{Dimension, LimitError, LimitSource, RateLimits, ResolvedLimits};
use tollgate_domain::ValidationError;
use tollgate_domain::{OrgId, ProjectId};
use tollgate_store::{Membership, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::limits::Scope;
use crate::service::{audit, ServiceError, ServiceResult};

/// One limit of the organization for a model, as the Limits page shows it.
#[derive(Debug, Clone)]
pub struct LimitInUse {
    pub dimension: Dimension,
    pub limit: u64,
    pub source: LimitSource,
    /// What the shared bucket holds now (slices leased by running servers count as used).
    pub remaining: u64,
}

/// The organization's limits for one model.
#[derive(Debug, Clone)]
pub struct ModelLimits {
    pub model: String,
    pub name: String,
    /// The subscribed tier's id, or `None` under pay-as-you-go.
    pub tier: Option<String>,
    pub limits: Vec<LimitInUse>,
}

/// A project's limits for one model next to the organization's.
#[derive(Debug, Clone)]
pub struct ProjectModelLimits {
    pub model: String,
    pub name: String,
    pub org: RateLimits,
    /// What the project sets (empty: the organization's limits alone apply).
    pub project: RateLimits,
}

impl App {
    /// The organization's limits for `model`, resolved as the gateway does.
    async fn org_limits_for(&self, org_id: &OrgId, model: &str) -> ServiceResult<ResolvedLimits> {
        let entitlement = self.entitlement(org_id, model).await?;
        Ok(self.limits.resolve(org_id, model, &entitlement).await?)
    }

    /// Every model's limits for the organization and how much of each is in use. Any member.
    pub async fn org_limits(
        &self,
        user: &User,
        org_id: &OrgId,
    ) -> ServiceResult<(Membership, Vec<ModelLimits>)> {
        let membership = self.org_access(user, org_id).await?;
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
                    remaining,
                });
            }
            let tier = match entitlement {
                crate::service::entitlement::Entitlement::Subscription { tier, .. } => Some(tier),
                crate::service::entitlement::Entitlement::PayAsYouGo { .. } => None,
            };
            out.push(ModelLimits {
                model: model.id.clone(),
                name: model.name.clone(),
                tier,
                limits,
            });
        }
        Ok((membership, out))
    }

    /// A project's limits per model, with the organization's. Anyone who sees the project.
    pub async fn project_rate_limits(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
    ) -> ServiceResult<Vec<ProjectModelLimits>> {
        self.project_access(
            user,
            org_id,
            project_id,
            tollgate_domain::ProjectAction::View,
        )
        .await?;
        let set = self.store.project_model_limits(org_id).await?;
        let catalog = self.catalog.current();
        let mut out = Vec::new();
        for model in catalog.models() {
            let org = self.org_limits_for(org_id, &model.id).await?.limits;
            let project = set
                .iter()
                .find(|p| p.project_id == *project_id && p.model == model.id)
                .map(|p| p.limits)
                .unwrap_or_default();
            out.push(ProjectModelLimits {
                model: model.id.clone(),
                name: model.name.clone(),
                org,
                project,
            });
        }
        Ok(out)
    }

    /// Sets a project's own limits for `model` (empty: removes them). Org admins only; every
    /// value from 1 to the organization's limit in that dimension, else an `Invalid` naming
    /// the dimension (`rpm`, …) and nothing changes.
    pub async fn set_project_rate_limits(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: &ProjectId,
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
        let org = self.org_limits_for(org_id, model).await?.limits;
        limits
            .validate()
            .and_then(|()| limits.check_within(&org))
            .map_err(|e| {
                let field = match &e {
                    LimitError::OutOfRange(d) => d.abbreviation(),
                    LimitError::AboveOrganization { dimension, .. } => dimension.abbreviation(),
                    LimitError::UnknownDimension(_) | LimitError::Malformed(_) => "limits",
                };
                ServiceError::Invalid(ValidationError::new(field, capitalized(&e.to_string())))
            })?;
        let details = json!({"model": model, "limits": Dimension::ALL.iter()
            .map(|d| (d.abbreviation(), limits.get(*d))).collect::<std::collections::BTreeMap<_, _>>()});
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
                    details,
                ),
            )
            .await?;
        self.limits.settings.forget_org(org_id);
        Ok(limits)
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
