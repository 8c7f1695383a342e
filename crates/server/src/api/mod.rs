//! The JSON API under `/api/v1`. Handlers live one file per resource; this module gathers
//! the routes and generates the OpenAPI document from them.

pub mod account;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod email_verification;
pub mod error;
pub mod extract;
pub mod invites;
pub mod limits;
pub mod me;
pub mod members;
pub mod models;
mod openapi;
pub mod orgs;
pub mod pagination;
pub mod password_reset;
pub mod project_members;
pub mod project_models;
pub mod projects;
pub mod spend_limits;
pub mod subscriptions;
pub mod two_factor;
pub mod usage;
pub mod usage_csv;
pub mod views;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::auth::csrf;
use crate::auth::session::cookie;
use crate::auth::SESSION_COOKIE;
use error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tollgate API", description = "Organizations, members, projects, API keys, credits and billing of a Tollgate console."),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "organizations", description = "Organizations and their settings"),
        (name = "members", description = "Members of an organization (org admins only)"),
        (name = "invitations", description = "Invitations: sent by org admins, answered by the invitee"),
        (name = "projects", description = "Projects and their members"),
        (name = "api keys", description = "API keys of a project"),
        (name = "models", description = "The model catalog"),
        (name = "subscriptions", description = "Monthly plans per model (org admins only)"),
        (name = "audit", description = "The audit log (org admins only)"),
        (name = "billing", description = "Credits, payments, auto-recharge, card and address (org admins only)"),
        (name = "limits", description = "Monthly spend limits of the organization, its projects and its keys, and rate limits"),
        (name = "usage", description = "Usage by time, model, project and key, the request log, and usage reported by inference servers (operator token)"),
    )
)]
struct ApiDoc;

/// The API's routes and its OpenAPI document.
pub fn router(app: &Arc<App>) -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(password_reset::forgot_password))
        .routes(routes!(password_reset::reset_password))
        .routes(routes!(me::me, account::update_profile))
        .routes(routes!(account::change_password))
        .routes(routes!(account::list_sessions))
        .routes(routes!(account::sign_out_session))
        .routes(routes!(account::sign_out_other_sessions))
        .routes(routes!(two_factor::start, two_factor::disable))
        .routes(routes!(two_factor::confirm))
        .routes(routes!(email_verification::verify_email))
        .routes(routes!(email_verification::resend))
        .routes(routes!(orgs::create))
        .routes(routes!(orgs::get, orgs::update))
        .routes(routes!(members::list))
        .routes(routes!(members::update, members::remove))
        .routes(routes!(audit::list))
        .routes(routes!(invites::create, invites::list))
        .routes(routes!(invites::resend))
        .routes(routes!(invites::revoke))
        .routes(routes!(invites::show))
        .routes(routes!(invites::accept))
        .routes(routes!(invites::reject))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get, projects::rename))
        .routes(routes!(projects::archive))
        .routes(routes!(project_models::get, project_models::set))
        .routes(routes!(project_members::list))
        .routes(routes!(project_members::set, project_members::remove))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(limits::org))
        .routes(routes!(limits::project))
        .routes(routes!(limits::set_project))
        .routes(routes!(
            spend_limits::get_org,
            spend_limits::put_org,
            spend_limits::delete_org
        ))
        .routes(routes!(
            spend_limits::get_project,
            spend_limits::put_project,
            spend_limits::delete_project
        ))
        .routes(routes!(
            spend_limits::get_key,
            spend_limits::put_key,
            spend_limits::delete_key
        ))
        .routes(routes!(models::list))
        .routes(routes!(billing::get))
        .routes(routes!(billing::credit_grants))
        .routes(routes!(billing::buy_credits))
        .routes(routes!(billing::set_auto_recharge))
        .routes(routes!(billing::set_payment_method))
        .routes(routes!(billing::setup_intent))
        .routes(routes!(billing::set_address))
        .routes(routes!(billing::payments))
        .routes(routes!(billing::payment))
        .routes(routes!(usage::report))
        .routes(routes!(analytics::usage))
        .routes(routes!(analytics::requests))
        .routes(routes!(subscriptions::list, subscriptions::create))
        .routes(routes!(subscriptions::update, subscriptions::cancel))
        .split_for_parts();
    openapi::complete(&mut doc);
    let doc_json = Arc::new(doc.clone());
    let router = router
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc_json.as_ref().clone()) }),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            same_origin_writes,
        ));
    (router, doc)
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is no such API endpoint.",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not take that method.",
    )
}

/// Cookie-authenticated writes must come from this site's own pages (see `auth::csrf`).
async fn same_origin_writes(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let has_session = cookie(request.headers(), SESSION_COOKIE).is_some();
    if !safe && has_session && !csrf::same_origin(request.headers(), &app.config) {
        return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin_request",
                "Requests authenticated by the session cookie must come from this site (missing or foreign Origin).",
            )
            .into_response();
    }
    next.run(request).await
}
