//! The console: server-rendered HTML pages. Every flow works without JavaScript; forms carry
//! a CSRF token.

mod account_pages;
mod assets;
mod auth_pages;
mod billing_forms;
mod billing_pages;
mod charge_pages;
mod charts;
mod contexts;
mod dashboard;
mod flash;
mod form_fields;
mod form_guard;
mod invite_pages;
mod key_pages;
mod limits_pages;
mod member_pages;
mod numbers;
mod org_pages;
pub mod page;
mod password_reset_pages;
mod playground_pages;
mod project_gateway_pages;
mod project_pages;
mod spend_pages;
mod subscription_pages;
pub mod templates;
pub mod two_factor_pages;
pub mod usage_pages;
mod usage_panels;

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tollgate_domain::secret;

use crate::app::App;
use crate::auth::csrf::{self, CSRF_COOKIE};
use crate::auth::session::cookie;
use crate::auth::CurrentSession;
use crate::console::page::error_page;
use crate::path_ids::malformed_path_id;
use crate::service::ServiceError;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(org_pages::home))
        .route("/assets/{file}", get(assets::asset))
        .route(
            "/login",
            get(auth_pages::login_form).post(auth_pages::login),
        )
        .route(
            "/signup",
            get(auth_pages::signup_form).post(auth_pages::signup),
        )
        .route("/logout", post(auth_pages::logout))
        .route(
            "/forgot-password",
            get(password_reset_pages::forgot_form).post(password_reset_pages::forgot),
        )
        .route(
            "/reset-password/{token}",
            get(password_reset_pages::reset_form).post(password_reset_pages::reset),
        )
        .route("/account", get(account_pages::page))
        .route(
            "/account/verify-email/resend",
            post(account_pages::resend_verification),
        )
        .route("/verify-email/{token}", get(account_pages::verify_email))
        .route("/account/profile", post(account_pages::save_profile))
        .route("/account/password", post(account_pages::change_password))
        .route("/account/totp", post(two_factor_pages::start))
        .route("/account/totp/confirm", post(two_factor_pages::confirm))
        .route("/account/totp/disable", post(two_factor_pages::disable))
        .route(
            "/account/sessions/sign-out-others",
            post(account_pages::sign_out_others),
        )
        .route(
            "/account/sessions/{session}/sign-out",
            post(account_pages::sign_out_session),
        )
        .route("/orgs/new", get(org_pages::new_org_form))
        .route("/orgs", post(org_pages::create_org))
        .route("/o/{org}", get(org_pages::overview))
        .route(
            "/o/{org}/settings",
            get(org_pages::settings).post(org_pages::rename),
        )
        .route(
            "/o/{org}/settings/two-factor",
            post(org_pages::require_two_factor),
        )
        .route("/o/{org}/members", get(member_pages::members))
        .route(
            "/o/{org}/members/{user}/role",
            post(member_pages::change_role),
        )
        .route("/o/{org}/members/{user}/remove", post(member_pages::remove))
        .route("/o/{org}/audit-log", get(member_pages::audit_log))
        .route("/o/{org}/usage", get(usage_pages::usage))
        .route("/o/{org}/usage/requests", get(usage_pages::requests))
        .route("/o/{org}/invites", post(invite_pages::create))
        .route("/o/{org}/invites/{id}/resend", post(invite_pages::resend))
        .route("/o/{org}/invites/{id}/revoke", post(invite_pages::revoke))
        .route("/invites/{token}", get(invite_pages::show))
        .route("/invites/{token}/accept", post(invite_pages::accept))
        .route("/invites/{token}/reject", post(invite_pages::reject))
        .route(
            "/o/{org}/projects",
            get(project_pages::list).post(project_pages::create),
        )
        .route("/o/{org}/projects/{project}", get(project_pages::show))
        .route(
            "/o/{org}/projects/{project}/rename",
            post(project_pages::rename),
        )
        .route(
            "/o/{org}/projects/{project}/spend-limit",
            post(spend_pages::set_project),
        )
        .route(
            "/o/{org}/projects/{project}/spend-limit/remove",
            post(spend_pages::remove_project),
        )
        .route(
            "/o/{org}/api-keys/{key}/spend-limit",
            post(spend_pages::set_key),
        )
        .route(
            "/o/{org}/api-keys/{key}/spend-limit/remove",
            post(spend_pages::remove_key),
        )
        .route(
            "/o/{org}/projects/{project}/archive",
            post(project_pages::archive),
        )
        .route(
            "/o/{org}/projects/{project}/members",
            post(project_pages::set_member),
        )
        .route(
            "/o/{org}/projects/{project}/members/{user}/remove",
            post(project_pages::remove_member),
        )
        .route(
            "/o/{org}/projects/{project}/models",
            post(project_gateway_pages::set_models),
        )
        .route(
            "/o/{org}/projects/{project}/limits",
            post(project_gateway_pages::set_limits),
        )
        .route("/o/{org}/limits", get(limits_pages::page))
        .route("/o/{org}/playground", get(playground_pages::page))
        .route("/o/{org}/playground/chat", post(playground_pages::chat))
        .route(
            "/o/{org}/playground/requests/{request}",
            get(playground_pages::usage),
        )
        .route(
            "/o/{org}/api-keys",
            get(key_pages::list).post(key_pages::create),
        )
        .route("/o/{org}/api-keys/{key}/revoke", post(key_pages::revoke))
        .route("/o/{org}/billing", get(billing_pages::overview))
        .route("/o/{org}/billing/payg", get(billing_pages::payg))
        .route("/o/{org}/billing/credits", post(billing_forms::buy))
        .route(
            "/o/{org}/billing/auto-recharge",
            post(billing_forms::auto_recharge),
        )
        .route(
            "/o/{org}/billing/payment",
            get(billing_pages::payment).post(billing_forms::save_card),
        )
        .route(
            "/o/{org}/billing/address",
            get(billing_pages::address).post(billing_forms::save_address),
        )
        .route("/o/{org}/billing/receipts", get(billing_pages::receipts))
        .route(
            "/o/{org}/billing/receipts/{payment}",
            get(billing_pages::receipt),
        )
        .route(
            "/o/{org}/subscriptions",
            get(subscription_pages::page).post(subscription_pages::subscribe),
        )
        .route(
            "/o/{org}/subscriptions/{sub}/change",
            post(subscription_pages::change),
        )
        .route(
            "/o/{org}/subscriptions/{sub}/cancel",
            post(subscription_pages::cancel),
        )
        .route(
            "/o/{org}/subscriptions/{sub}/resume",
            post(subscription_pages::resume),
        )
}

/// Console pages show an organization's data to whoever is signed in: no browser or proxy may
/// keep a copy, so that Back after logging out asks the server again (and lands on log-in).
/// Assets say how long they may be kept and are left alone.
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The signed-in user of a page; anyone else is sent to the login page.
pub struct PageSession(pub CurrentSession);

impl FromRequestParts<Arc<App>> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        match app.current_session(&parts.headers).await {
            Ok(Some(session)) => Ok(Self(session)),
            Ok(None) => {
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(Redirect::to(&format!("/login?next={}", urlencode(next))).into_response())
            }
            Err(e) => Err(error_page(
                app,
                StatusCode::INTERNAL_SERVER_ERROR,
                &e.to_string(),
            )),
        }
    }
}

/// The ids of a page's path, typed (`PagePath((org_id, project_id)): PagePath<(OrgId,
/// ProjectId)>`). A malformed id answers what the page answered when the service checked
/// the shape itself: the login redirect without a session, the organization's 404 page (or
/// the two-factor redirect), then the 404 page (`crate::path_ids`).
pub struct PagePath<T>(pub T);

impl<T: crate::path_ids::PathIds + Send> FromRequestParts<Arc<App>> for PagePath<T> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        use crate::path_ids::PathIdsError;
        let segments =
            match <axum::extract::Path<Vec<String>> as FromRequestParts<Arc<App>>>::from_request_parts(
                parts, app,
            )
            .await
            {
                Ok(axum::extract::Path(segments)) => segments,
                Err(_) => return Err(service_error_page(app, ServiceError::NotFound("page"))),
            };
        match T::from_segments(segments) {
            Ok(ids) => Ok(Self(ids)),
            Err(PathIdsError::WrongCount) => {
                Err(service_error_page(app, ServiceError::NotFound("page")))
            }
            Err(PathIdsError::Malformed(malformed)) => {
                let PageSession(session) =
                    <PageSession as FromRequestParts<Arc<App>>>::from_request_parts(parts, app)
                        .await?;
                Err(service_error_page(
                    app,
                    malformed_path_id(app, &session, malformed).await,
                ))
            }
        }
    }
}

impl OptionalFromRequestParts<Arc<App>> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Option<Self>, Self::Rejection> {
        match app.current_session(&parts.headers).await {
            Ok(found) => Ok(found.map(Self)),
            Err(e) => Err(error_page(
                app,
                StatusCode::INTERNAL_SERVER_ERROR,
                &e.to_string(),
            )),
        }
    }
}

/// A submitted form; a malformed or oversized body gets an error page, not plain text.
pub struct PageForm<T>(pub T);

impl<T> axum::extract::FromRequest<Arc<App>> for PageForm<T>
where
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, app).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => {
                let status = rejection.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    String::new()
                } else {
                    "The form could not be read. Go back, reload the page and try again.".to_owned()
                };
                Err(error_page(app, status, &message))
            }
        }
    }
}

/// The double-submit secret of signed-out forms: the `tg_csrf` cookie, created when missing.
pub struct AnonCsrf {
    pub secret: String,
    /// `Set-Cookie` to send when the cookie was just created.
    pub set_cookie: Option<HeaderValue>,
}

impl AnonCsrf {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        match cookie(headers, CSRF_COOKIE).filter(|v| secret::is_well_formed_token(v)) {
            Some(existing) => Self {
                secret: existing.to_owned(),
                set_cookie: None,
            },
            None => {
                let fresh = secret::new_token();
                let set_cookie = HeaderValue::from_str(&format!(
                    "{CSRF_COOKIE}={fresh}; Path=/; HttpOnly; SameSite=Lax"
                ))
                .ok();
                Self {
                    secret: fresh,
                    set_cookie,
                }
            }
        }
    }

    pub fn attach(&self, mut response: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            response.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        response
    }
}

/// Checks a submitted form: its token must match `secret`, and a cross-site `Origin`
/// is refused outright.
pub fn check_form(
    app: &App,
    headers: &HeaderMap,
    secret: &str,
    submitted: &str,
) -> Result<(), Response> {
    let foreign_origin = headers.contains_key("origin") && !csrf::same_origin(headers, &app.config);
    if foreign_origin || !csrf::matches(submitted, &csrf::token_for(secret)) {
        return Err(error_page(app,
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        ));
    }
    Ok(())
}

/// The page for a service error that a form cannot show inline. A member of an
/// organization that requires two-factor sign-in, without it, is sent to the Two-factor
/// card of their account page, whose banner says why (decision 0024).
pub fn service_error_page(app: &App, e: ServiceError) -> Response {
    match e {
        ServiceError::Unauthenticated => Redirect::to("/login").into_response(),
        ServiceError::TwoFactorRequired { .. } => {
            Redirect::to("/account#two-factor").into_response()
        }
        ServiceError::Internal(inner) => error_page(
            app,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{inner:?}"),
        ),
        other => error_page(app, other.status(), &other.public_message()),
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only local paths are followed after log-in, never another site.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_next_paths_are_followed() {
        assert_eq!(safe_next(Some("/o/x/settings")), "/o/x/settings");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
