//! Rate limits (docs/limits.md): `GET /api/v1/orgs/{org}/limits` — the organization's limits
//! per model, where each comes from and how much of its bucket is in use now — and a project's
//! own, lower limits: `GET …/projects/{project}/limits`, `PUT …/projects/{project}/limits/{model}`.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId};

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::limits::{LimitSource, RateLimits};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::rate_limits::ModelLimits;

/// One limited dimension of a model.
#[derive(Serialize, ToSchema)]
pub struct LimitBody {
    /// `rpm`, `rph`, `rpd`, `tpm`, `tph` or `tpd`.
    #[schema(example = "tpm")]
    pub dimension: &'static str,
    pub limit: u64,
    /// `pay_as_you_go`, `tier` or `custom` (set by an operator).
    #[schema(example = "pay_as_you_go")]
    pub source: &'static str,
    /// The subscribed tier's id when `source` is `tier`.
    pub tier: Option<String>,
    /// Requests or tokens taken from the bucket now (it refills continuously).
    pub in_use: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ModelLimitsBody {
    pub model: String,
    pub limits: Vec<LimitBody>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgLimits {
    pub models: Vec<ModelLimitsBody>,
}

impl From<ModelLimits> for ModelLimitsBody {
    fn from(m: ModelLimits) -> Self {
        Self {
            model: m.model,
            limits: m
                .limits
                .into_iter()
                .map(|l| LimitBody {
                    dimension: l.dimension.abbreviation(),
                    limit: l.limit,
                    source: l.source.as_str(),
                    tier: match l.source {
                        LimitSource::Tier(t) => Some(t),
                        _ => None,
                    },
                    in_use: l.limit.saturating_sub(l.remaining),
                })
                .collect(),
        }
    }
}

/// A project's limits for one model; absent or `null`: not limited by the project (the
/// organization's limit applies). Each from 1 to the organization's limit.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectModelLimits {
    pub rpm: Option<u64>,
    pub rph: Option<u64>,
    pub rpd: Option<u64>,
    pub tpm: Option<u64>,
    pub tph: Option<u64>,
    pub tpd: Option<u64>,
}

impl From<ProjectModelLimits> for RateLimits {
    fn from(p: ProjectModelLimits) -> Self {
        RateLimits {
            rpm: p.rpm,
            rph: p.rph,
            rpd: p.rpd,
            tpm: p.tpm,
            tph: p.tph,
            tpd: p.tpd,
        }
    }
}

impl From<RateLimits> for ProjectModelLimits {
    fn from(l: RateLimits) -> Self {
        Self {
            rpm: l.rpm,
            rph: l.rph,
            rpd: l.rpd,
            tpm: l.tpm,
            tph: l.tph,
            tpd: l.tpd,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectLimitsEntry {
    pub model: String,
    #[serde(flatten)]
    pub limits: ProjectModelLimits,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectLimits {
    pub models: Vec<ProjectLimitsEntry>,
}

/// The organization's rate limits per model, their source and their use now (everyone in it).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/limits", tag = "limits",
    params(("org" = String, Path, description = "Organization ID")),
    responses(
        (status = 200, body = OrgLimits),
        (status = 404, body = ErrorBody),
    ))]
pub async fn org(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
) -> ApiResult<Json<OrgLimits>> {
    let (_, models) = app.org_limits(&session.user, &org_id).await?;
    Ok(Json(OrgLimits {
        models: models.into_iter().map(Into::into).collect(),
    }))
}

/// A project's own rate limits, by model.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/limits", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    responses(
        (status = 200, body = ProjectLimits),
        (status = 404, body = ErrorBody),
    ))]
pub async fn project(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
) -> ApiResult<Json<ProjectLimits>> {
    let limits = app
        .project_rate_limits(&session.user, &org_id, &project_id)
        .await?;
    Ok(Json(ProjectLimits {
        models: limits
            .into_iter()
            .filter(|l| !l.project.is_empty())
            .map(|l| ProjectLimitsEntry {
                model: l.model,
                limits: l.project.into(),
            })
            .collect(),
    }))
}

/// Set a project's rate limits for one model (org admins); none given removes them. A value of
/// 0, above 100,000,000,000 or above the organization's is 422 `validation_failed` naming the
/// dimension; an unknown model is 400 `unknown_model`.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/projects/{project}/limits/{model}", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("model" = String, Path, description = "Catalog model ID")),
    request_body = ProjectModelLimits,
    responses(
        (status = 200, body = ProjectModelLimits),
        (status = 400, description = "Unknown model (`unknown_model`)", body = ErrorBody),
        (status = 422, description = "A value out of bounds or above the organization's (`validation_failed`, `param` names the dimension)", body = ErrorBody),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn set_project(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id, model)): ApiPath<(OrgId, ProjectId, String)>,
    ApiJson(body): ApiJson<ProjectModelLimits>,
) -> ApiResult<Json<ProjectModelLimits>> {
    let limits = app
        .set_project_rate_limits(
            &session.user,
            &org_id,
            &project_id,
            &model,
            body.into(),
            &client,
        )
        .await?;
    Ok(Json(limits.into()))
}
