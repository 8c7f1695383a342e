//! `GET /api/v1/orgs/{org}/audit-log` — org admins only.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tollgate_store::AuditRecord;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::app::App;
use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct AuditActor {
    pub id: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub target_type: String,
    pub id: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Pass as `after` to read older entries.
    pub id: String,
    pub actor: AuditActor,
    /// e.g. `invitation.create`, `member.role_change`, `organization.rename`.
    pub action: String,
    pub target: AuditTarget,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub ip: Option<String>,
    pub created_at: String,
}

impl From<AuditRecord> for AuditEntryView {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id.to_string(),
            actor: AuditActor {
                id: r.actor_id,
                email: r.actor_email,
            },
            action: r.action,
            target: AuditTarget {
                target_type: r.target_type,
                id: r.target_id,
            },
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            ip: r.ip,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Every change made by a person in the organization, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit-log", tag = "audit",
    params(("org" = String, Path), ListParams),
    responses(
        (status = 200, body = List<AuditEntryView>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<AuditEntryView>>> {
    let page = app
        .audit_log(
            &session.user,
            &org_id,
            params.after.as_deref(),
            params.limit()?,
        )
        .await?;
    Ok(Json(List::from_page(page, AuditEntryView::from)))
}
