//! The project page's gateway settings (template `project_gateway.html`): which models the
//! project's keys may call, and the project's own rate limits per model (never above the
//! organization's). Org admins change them; everyone who sees the project sees them.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tollgate_domain::limits::{Dimension, RateLimits, MAX_LIMIT};
use tollgate_domain::{allows, OrgAction, ValidationError};

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::contexts::project::{
    GatewaySettings, LimitField, LimitFields, LimitsForm, ModelAccess, ModelChoice, ModelLimitsRow,
    ProjectFields, ProjectForms,
};
use crate::console::form_guard::CheckedForm;
use crate::console::page::error_page;
use crate::console::project_pages::{back_to, render_project};
use crate::console::service_error_page;
use crate::service::projects::ProjectAccess;
use crate::service::ServiceError;

/// The gateway settings of the project page, and the first model the project may call (for
/// the examples).
pub(super) struct Gateway {
    pub settings: GatewaySettings,
    pub first_allowed: Option<String>,
}

/// The project page's gateway settings.
pub(super) async fn settings(
    app: &App,
    session: &CurrentSession,
    access: &ProjectAccess,
) -> Result<Gateway, ServiceError> {
    let (org_id, project_id) = (&access.project.org_id, &access.project.id);
    let allowed = app
        .project_models(&session.user, org_id, project_id)
        .await?;
    let is_allowed = |id: &String| allowed.as_ref().is_none_or(|list| list.contains(id));
    let catalog = app.catalog.current();
    let models = catalog
        .models()
        .iter()
        .map(|m| ModelChoice {
            id: m.id.clone(),
            name: m.name.clone(),
            allowed: is_allowed(&m.id),
        })
        .collect();
    let first_allowed = catalog
        .models()
        .iter()
        .find(|m| is_allowed(&m.id))
        .map(|m| m.id.clone());
    let limits = app
        .project_rate_limits(&session.user, org_id, project_id)
        .await?;
    let project_limits = limits
        .iter()
        .map(|l| ModelLimitsRow {
            id: l.model.clone(),
            name: l.name.clone(),
            fields: Dimension::ALL
                .iter()
                .map(|d| LimitField {
                    name: d.abbreviation(),
                    abbr: d.to_string(),
                    meaning: d.describe(),
                    org: l.org.get(*d),
                    value: l.project.get(*d),
                })
                .collect(),
            set: !l.project.is_empty(),
        })
        .collect();
    Ok(Gateway {
        settings: GatewaySettings {
            model_access: ModelAccess {
                all: allowed.is_none(),
                models,
            },
            project_limits,
            can_manage_gateway: allows(access.membership.role, OrgAction::ManageProjects),
        },
        first_allowed,
    })
}

/// The form's value of `name` (the last one given).
fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The model allow-list form: `scope=all`, or `scope=selected` with one `model=` per model.
pub async fn set_models(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, form }: CheckedForm<Vec<(String, String)>>,
) -> Response {
    let models = match field(&form, "scope") {
        "all" => None,
        "selected" => {
            let picked: Vec<String> = form
                .iter()
                .filter(|(k, _)| k == "model")
                .map(|(_, v)| v.clone())
                .collect();
            if picked.is_empty() {
                let forms = ProjectForms {
                    errors: ProjectFields::of(
                        "models",
                        "Pick at least one model, or allow every model.",
                    ),
                    ..ProjectForms::default()
                };
                return render_project(
                    &app,
                    &session,
                    &org_id,
                    &project_id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    forms,
                )
                .await;
            }
            Some(picked)
        }
        _ => {
            return error_page(
                &app,
                StatusCode::BAD_REQUEST,
                "Choose every model or the selected models.",
            )
        }
    };
    match app
        .set_project_models(&session.user, &org_id, &project_id, models, &client)
        .await
    {
        Ok(_) => back_to(&org_id, &project_id, "models"),
        Err(e) => service_error_page(&app, e),
    }
}

/// One limit field: empty is "not set"; anything else a whole number from 1 to `MAX_LIMIT`.
fn parse_limit(d: Dimension, raw: &str) -> Result<Option<u64>, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u64>()
        .ok()
        .filter(|v| (1..=MAX_LIMIT).contains(v))
        .map(Some)
        .ok_or_else(|| {
            ValidationError::new(
                d.abbreviation(),
                format!("{d} must be a whole number from 1 to {MAX_LIMIT}, or empty."),
            )
        })
}

/// A project's limits for one model: `model` and `rpm`, `rph`, `rpd`, `tpm`, `tph`, `tpd`.
pub async fn set_limits(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, form }: CheckedForm<Vec<(String, String)>>,
) -> Response {
    let model = field(&form, "model").to_owned();
    let mut limits = RateLimits::default();
    let mut invalid = None;
    for d in Dimension::ALL {
        match parse_limit(d, field(&form, d.abbreviation())) {
            Ok(v) => limits.set(d, v),
            Err(e) => {
                invalid = Some(e);
                break;
            }
        }
    }
    let result = match invalid {
        Some(e) => Err(ServiceError::Invalid(e)),
        None => {
            app.set_project_rate_limits(
                &session.user,
                &org_id,
                &project_id,
                &model,
                limits,
                &client,
            )
            .await
        }
    };
    match result {
        Ok(_) => back_to(&org_id, &project_id, "limits"),
        Err(ServiceError::Invalid(v)) => {
            let mut values = LimitFields::default();
            for d in Dimension::ALL {
                values.set(d.abbreviation(), field(&form, d.abbreviation()));
            }
            let forms = ProjectForms {
                limits_form: Some(LimitsForm {
                    model,
                    values,
                    errors: LimitFields::of(v.field, v.message),
                }),
                ..ProjectForms::default()
            };
            render_project(
                &app,
                &session,
                &org_id,
                &project_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                forms,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}
