//! Spend limit forms of the console (docs/limits.md "Spend limits"): the project page's card
//! (the project's monthly limit and alert thresholds) and the API key row's limit. Each form
//! posts, then redirects back (POST/redirect/GET); an invalid value re-renders the page with
//! the error next to the field (and the key's form open). Setting a limit moves no money, so
//! there is no preview.

use crate::console::PagePath;
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_domain::{ApiKeyId, OrgId, ProjectId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_domain::limits::spend::{SpendScope, Thresholds};
use tollgate_domain::{Money, ValidationError};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::console::contexts::keys::KeySpendError;
use crate::console::contexts::project::{ProjectForms, SpendCard, SpendErrors, SpendValues};
use crate::console::form_guard::{csrf_field, CheckedForm};
use crate::console::service_error_page;
use crate::console::{key_pages, project_pages, urlencode};
use crate::service::spend_limits::SpendTarget;
use crate::service::ServiceError;

csrf_field!(SpendForm, RemoveForm);

#[derive(Deserialize)]
pub struct SpendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    monthly_limit: String,
    /// Absent from the key row's form: the defaults apply.
    alert_thresholds: Option<String>,
    /// The key's project and the key list to come back to (key forms only).
    #[serde(default)]
    project: String,
    view: Option<String>,
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    view: Option<String>,
}

/// The amount as typed (`250`, `$250.00`) and the thresholds (`50, 80, 100`).
fn parse(form: &SpendForm) -> Result<(Money, Option<Thresholds>), ValidationError> {
    let raw = form.monthly_limit.trim().trim_start_matches('$').trim();
    let amount = Money::parse_usd("monthly_limit", &raw.replace(',', ""))?;
    let thresholds = form
        .alert_thresholds
        .as_deref()
        .map(Thresholds::parse)
        .transpose()?;
    Ok((amount, thresholds))
}

/// The project page's spend card: the limit, this month's spend, and whether the viewer may
/// change it (org admins).
pub(crate) async fn project_card(
    app: &App,
    user: &tollgate_store::User,
    org_id: &OrgId,
    project_id: &ProjectId,
    can_manage: bool,
) -> Result<SpendCard, ServiceError> {
    let view = app
        .spend_limit(user, org_id, SpendTarget::Project(project_id))
        .await?;
    Ok(match view {
        Some(v) => SpendCard {
            limit: Some(v.limit.monthly_limit.to_usd_string()),
            thresholds: v
                .limit
                .thresholds
                .percents()
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            spent: Some(v.used.spent.to_usd_string()),
            period: Some(v.period),
            can_manage,
        },
        None => SpendCard {
            limit: None,
            thresholds: "50, 80, 100".to_owned(),
            spent: None,
            period: None,
            can_manage,
        },
    })
}

/// Each key's monthly limit (USD) in the organization, for the key rows.
pub(crate) async fn key_limits(
    app: &App,
    org_id: &OrgId,
) -> Result<HashMap<String, String>, ServiceError> {
    Ok(app
        .store
        .spend_limits(org_id)
        .await?
        .into_iter()
        .filter(|l| l.scope == SpendScope::ApiKey)
        .map(|l| (l.target_id, l.monthly_limit.to_usd_string()))
        .collect())
}

fn to_project(org_id: &OrgId, project_id: &ProjectId, notice: &str) -> Response {
    Redirect::to(&format!(
        "/o/{}/projects/{}?notice={notice}",
        urlencode(org_id),
        urlencode(project_id)
    ))
    .into_response()
}

fn to_keys(org_id: &OrgId, view: &str, notice: &str) -> Response {
    Redirect::to(&format!(
        "/o/{}/api-keys?project={}&notice={notice}",
        urlencode(org_id),
        urlencode(view)
    ))
    .into_response()
}

pub async fn set_project(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, form }: CheckedForm<SpendForm>,
) -> Response {
    let outcome = match parse(&form) {
        Ok((amount, thresholds)) => {
            app.set_spend_limit(
                &session.user,
                &org_id,
                SpendTarget::Project(&project_id),
                amount,
                thresholds,
                &client,
            )
            .await
        }
        Err(v) => Err(v.into()),
    };
    match outcome {
        Ok(_) => to_project(&org_id, &project_id, "spend_saved"),
        Err(ServiceError::Invalid(v)) => {
            let forms = ProjectForms {
                spend_values: Some(SpendValues {
                    monthly_limit: form.monthly_limit,
                    alert_thresholds: form.alert_thresholds,
                }),
                spend_errors: Some(SpendErrors::of(v.field, v.message)),
                ..ProjectForms::default()
            };
            project_pages::render_project(
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

pub async fn remove_project(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, .. }: CheckedForm<RemoveForm>,
) -> Response {
    let target = SpendTarget::Project(&project_id);
    match app
        .delete_spend_limit(&session.user, &org_id, target, &client)
        .await
    {
        Ok(()) | Err(ServiceError::NotFound("spend limit")) => {
            to_project(&org_id, &project_id, "spend_removed")
        }
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn set_key(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, key_id)): PagePath<(OrgId, ApiKeyId)>,
    CheckedForm { session, form }: CheckedForm<SpendForm>,
) -> Response {
    let outcome = match parse(&form) {
        Ok((amount, thresholds)) => {
            match app
                .project_id_in(&session.user, &org_id, &form.project)
                .await
            {
                Ok(project_id) => {
                    let target = SpendTarget::ApiKey {
                        project_id: &project_id,
                        key_id: &key_id,
                    };
                    app.set_spend_limit(&session.user, &org_id, target, amount, thresholds, &client)
                        .await
                }
                Err(e) => Err(e),
            }
        }
        Err(v) => Err(v.into()),
    };
    let view = form.view.clone().unwrap_or_else(|| form.project.clone());
    match outcome {
        Ok(_) => to_keys(&org_id, &view, "spend_saved"),
        Err(ServiceError::Invalid(v)) => {
            key_pages::render_with_spend_error(
                &app,
                &session,
                &org_id,
                &view,
                KeySpendError {
                    key: key_id.to_string(),
                    monthly_limit: form.monthly_limit,
                    message: v.message,
                },
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn remove_key(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, key_id)): PagePath<(OrgId, ApiKeyId)>,
    CheckedForm { session, form }: CheckedForm<RemoveForm>,
) -> Response {
    let view = form.view.clone().unwrap_or_else(|| form.project.clone());
    let removed = async {
        let project_id = app
            .project_id_in(&session.user, &org_id, &form.project)
            .await?;
        let target = SpendTarget::ApiKey {
            project_id: &project_id,
            key_id: &key_id,
        };
        app.delete_spend_limit(&session.user, &org_id, target, &client)
            .await
    };
    match removed.await {
        Ok(()) | Err(ServiceError::NotFound("spend limit")) => {
            to_keys(&org_id, &view, "spend_removed")
        }
        Err(e) => service_error_page(&app, e),
    }
}
