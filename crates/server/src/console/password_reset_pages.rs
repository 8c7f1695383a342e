//! Forgot password (`/forgot-password`) and the emailed link's page (`/reset-password/{token}`),
//! for signed-out visitors (docs/account-security.md).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use crate::api::password_reset::RESET_SENT;
use crate::app::App;
use crate::auth::ClientInfo;
use crate::console::form_fields::form_fields;
use crate::console::page::public_page;
use crate::console::{check_form, service_error_page};
use crate::console::{AnonCsrf, PageForm};
use crate::service::ServiceError;

form_fields!(
    /// The forgot-password form's value and error.
    pub struct EmailField { email }
);

form_fields!(
    /// The reset form's error.
    pub struct PasswordField { password }
);

/// `forgot_password.html`.
#[derive(Serialize)]
struct ForgotPage {
    values: EmailField,
    errors: EmailField,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// `reset_password.html`: the form while the link is usable (`token` set), else why not.
#[derive(Serialize)]
struct ResetPage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    usable: bool,
    errors: PasswordField,
    error: Option<String>,
}

impl<'a> ResetPage<'a> {
    fn usable(token: &'a str, errors: PasswordField, error: Option<String>) -> Self {
        Self {
            token: Some(token),
            usable: true,
            errors,
            error,
        }
    }

    fn gone() -> Self {
        Self {
            token: None,
            usable: false,
            errors: PasswordField::default(),
            error: None,
        }
    }
}

#[derive(Deserialize)]
pub struct SentQuery {
    notice: Option<String>,
}

pub async fn forgot_form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<SentQuery>,
) -> Response {
    let csrf = AnonCsrf::from_headers(&headers);
    let notice = (q.notice.as_deref() == Some("sent")).then_some(RESET_SENT);
    let page = ForgotPage {
        values: EmailField::default(),
        errors: EmailField::default(),
        notice,
        error: None,
    };
    csrf.attach(public_page(
        &app,
        "forgot_password.html",
        StatusCode::OK,
        &csrf.secret,
        &page,
    ))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn forgot(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<ForgotForm>,
) -> Response {
    let csrf = AnonCsrf::from_headers(&headers);
    if let Err(refused) = check_form(&app, &headers, &csrf.secret, &form.csrf) {
        return csrf.attach(refused);
    }
    let e = match app.request_password_reset(&form.email, &client).await {
        Ok(()) => return Redirect::to("/forgot-password?notice=sent").into_response(),
        Err(e @ ServiceError::Internal(_)) => return service_error_page(&app, e),
        Err(e) => e,
    };
    let (errors, error) = match &e {
        ServiceError::Invalid(v) => (EmailField::of("email", &v.message), None),
        other => (EmailField::default(), Some(other.public_message())),
    };
    let page = ForgotPage {
        values: EmailField::of("email", form.email),
        errors,
        notice: None,
        error,
    };
    csrf.attach(public_page(
        &app,
        "forgot_password.html",
        e.status(),
        &csrf.secret,
        &page,
    ))
}

pub async fn reset_form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let csrf = AnonCsrf::from_headers(&headers);
    let usable = match app.password_reset_usable(&token).await {
        Ok(usable) => usable,
        Err(e) => return service_error_page(&app, e),
    };
    let (status, page) = if usable {
        (
            StatusCode::OK,
            ResetPage::usable(&token, PasswordField::default(), None),
        )
    } else {
        (StatusCode::GONE, ResetPage::gone())
    };
    csrf.attach(public_page(
        &app,
        "reset_password.html",
        status,
        &csrf.secret,
        &page,
    ))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn reset(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    headers: HeaderMap,
    Path(token): Path<String>,
    PageForm(form): PageForm<ResetForm>,
) -> Response {
    let csrf = AnonCsrf::from_headers(&headers);
    if let Err(refused) = check_form(&app, &headers, &csrf.secret, &form.csrf) {
        return csrf.attach(refused);
    }
    let e = match app.reset_password(&token, &form.password, &client).await {
        // Every session of the user was ended; this browser's cookie (if any) is dead too.
        Ok(_) => {
            return (
                [(header::SET_COOKIE, app.clear_session_cookie(&client))],
                Redirect::to("/login?notice=password_reset"),
            )
                .into_response()
        }
        Err(e @ ServiceError::Internal(_)) => return service_error_page(&app, e),
        Err(e) => e,
    };
    let page = match &e {
        ServiceError::Invalid(v) => {
            ResetPage::usable(&token, PasswordField::of("password", &v.message), None)
        }
        ServiceError::Gone { .. } => ResetPage::gone(),
        other => ResetPage::usable(
            &token,
            PasswordField::default(),
            Some(other.public_message()),
        ),
    };
    csrf.attach(public_page(
        &app,
        "reset_password.html",
        e.status(),
        &csrf.secret,
        &page,
    ))
}
