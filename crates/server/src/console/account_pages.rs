//! `/account`: the signed-in user's profile, password and sessions (docs/account-security.md).
//! Every form posts, then redirects back with a notice (reload-safe); a refused form is drawn
//! again with its error next to the field.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::SessionId;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::form_fields::form_fields;
use crate::console::form_guard::{csrf_field, CheckedForm, CsrfForm};
use crate::console::page::Section;
use crate::console::page::{error_page, org_page};
use crate::console::service_error_page;
use crate::console::two_factor_pages::TwoFactorCard;
use crate::console::two_factor_pages::{clear_recovery_cookie, two_factor_card};
use crate::console::PageSession;
use crate::service::ServiceError;
use crate::time::minute;

form_fields!(
    /// The profile form's value.
    pub struct ProfileValues { name }
);

form_fields!(
    /// The account page's forms' errors, by field.
    pub struct AccountErrors { name, current_password, new_password, totp_code, totp_password, totp_off_code }
);

/// The account page's notice, or a refused form's values and errors.
#[derive(Default, Serialize)]
pub(crate) struct AccountForms {
    notice: Option<&'static str>,
    values: ProfileValues,
    errors: AccountErrors,
    error: Option<String>,
}

impl AccountForms {
    /// A form refused with `errors` next to its fields.
    pub(crate) fn refused(errors: AccountErrors) -> Self {
        Self {
            errors,
            ..Self::default()
        }
    }
}

/// `account.html`.
#[derive(Serialize)]
struct AccountPage<'a> {
    sessions: Vec<SessionRow<'a>>,
    more_sessions: bool,
    others: bool,
    two_factor: TwoFactorCard<'a>,
    two_factor_required_by: Option<String>,
    #[serde(flatten)]
    forms: AccountForms,
}

/// A row of the sessions table.
#[derive(Serialize)]
struct SessionRow<'a> {
    id: &'a str,
    device: &'a str,
    ip: Option<&'a str>,
    last_seen: String,
    started: String,
    current: bool,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "profile_saved" => Some("Your name was saved."),
        "password_changed" => Some("Password changed. Your other sessions were signed out."),
        "session_ended" => Some("That session was signed out."),
        "others_ended" => Some("All your other sessions were signed out."),
        "verification_sent" => {
            Some("A new verification link is on its way. It works for 48 hours.")
        }
        "totp_enabled" => Some("Two-factor authentication is on."),
        "totp_disabled" => Some("Two-factor authentication is off."),
        "email_verified" => {
            Some("Your email address is verified. You can create API keys and buy credits.")
        }
        _ => None,
    }
}

pub async fn page(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    client: ClientInfo,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let page = render(
        &app,
        &session,
        &headers,
        StatusCode::OK,
        AccountForms {
            notice: notice_text(q.notice.as_deref()),
            ..AccountForms::default()
        },
    )
    .await;
    // Recovery codes are shown once: the cookie that brought them goes.
    (
        [(header::SET_COOKIE, clear_recovery_cookie(&app, &client))],
        page,
    )
        .into_response()
}

/// The account page; `forms` holds its notice, or a refused form's values and errors.
pub(crate) async fn render(
    app: &App,
    session: &CurrentSession,
    headers: &HeaderMap,
    status: StatusCode,
    forms: AccountForms,
) -> Response {
    let two_factor = match two_factor_card(app, &session.user, headers).await {
        Ok(card) => card,
        Err(e) => return service_error_page(app, e),
    };
    let sessions = match app.list_sessions(session).await {
        Ok(page) => page,
        Err(e) => return service_error_page(app, e),
    };
    let memberships = match app.store.memberships(&session.user.id).await {
        Ok(all) => all,
        Err(e) => return service_error_page(app, e.into()),
    };
    // The organizations that refuse this user until two-factor sign-in is on (decision 0024):
    // the console sends them here, and the banner says why.
    let totp_enabled = match app.store.totp_enabled(&session.user.id).await {
        Ok(on) => on,
        Err(e) => return service_error_page(app, e.into()),
    };
    let requiring: Vec<&str> = memberships
        .iter()
        .filter(|m| m.org.require_2fa && !totp_enabled)
        .map(|m| m.org.name.as_str())
        .collect();
    let required_by = match requiring.as_slice() {
        [] => None,
        [one] => Some(format!(
            "{one} requires two-factor sign-in; turn it on to continue."
        )),
        many => Some(format!(
            "{} require two-factor sign-in; turn it on to continue.",
            many.join(", ")
        )),
    };
    // The page sits in the frame of the user's first organization (for the switcher).
    let first = memberships.first().cloned();
    let Some(org) = first else {
        return error_page(app, StatusCode::NOT_FOUND, "You belong to no organization.");
    };
    let page = AccountPage {
        sessions: sessions
            .data
            .iter()
            .map(|s| SessionRow {
                id: &s.id,
                device: &s.device,
                ip: s.ip.as_deref(),
                last_seen: minute(s.last_seen_at),
                started: minute(s.created_at),
                current: s.current,
            })
            .collect(),
        more_sessions: sessions.has_more,
        others: sessions.data.iter().any(|s| !s.current),
        two_factor,
        two_factor_required_by: required_by,
        forms,
    };
    org_page(
        app,
        session,
        &org,
        Section::Account,
        "account.html",
        status,
        &page,
    )
    .await
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn save_profile(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    CheckedForm { session, form }: CheckedForm<ProfileForm>,
) -> Response {
    match app.update_profile(&session.user, &form.name).await {
        Ok(_) => Redirect::to("/account?notice=profile_saved").into_response(),
        Err(ServiceError::Invalid(v)) => {
            let extra = AccountForms {
                values: ProfileValues::of("name", form.name),
                errors: AccountErrors::of("name", v.message),
                ..AccountForms::default()
            };
            render(
                &app,
                &session,
                &headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                extra,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change_password(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    CheckedForm { session, form }: CheckedForm<PasswordForm>,
) -> Response {
    let refused = match app
        .change_password(&session, &form.current_password, &form.new_password)
        .await
    {
        Ok(_) => return Redirect::to("/account?notice=password_changed").into_response(),
        Err(e @ ServiceError::Internal(_)) => return service_error_page(&app, e),
        Err(e) => e,
    };
    let extra = match &refused {
        ServiceError::Invalid(v) => {
            AccountForms::refused(AccountErrors::of("new_password", &v.message))
        }
        ServiceError::Denied { message, .. } => {
            AccountForms::refused(AccountErrors::of("current_password", message))
        }
        other => AccountForms {
            error: Some(other.public_message()),
            ..AccountForms::default()
        },
    };
    render(&app, &session, &headers, refused.status(), extra).await
}

csrf_field!(ProfileForm, PasswordForm);

pub async fn sign_out_session(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(session_id): PagePath<SessionId>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    if let Err(e) = app.sign_out_session(&session, &session_id).await {
        return service_error_page(&app, e);
    }
    if session_id == session.session_id {
        return (
            [(header::SET_COOKIE, app.clear_session_cookie(&client))],
            Redirect::to("/login?notice=logged_out"),
        )
            .into_response();
    }
    Redirect::to("/account?notice=session_ended").into_response()
}

pub async fn sign_out_others(
    State(app): State<Arc<App>>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app.sign_out_other_sessions(&session).await {
        Ok(_) => Redirect::to("/account?notice=others_ended").into_response(),
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn resend_verification(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app.resend_verification_email(&session.user, &client).await {
        Ok(()) => Redirect::to("/account?notice=verification_sent").into_response(),
        Err(ServiceError::Conflict { .. }) => {
            Redirect::to("/account?notice=email_verified").into_response()
        }
        Err(e) => service_error_page(&app, e),
    }
}

/// The emailed link. Following it verifies at once (the token is single use and proves only
/// that its reader got the email), then shows the account page, through log-in if needed.
pub async fn verify_email(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    Path(token): Path<String>,
) -> Response {
    match app.verify_email(&token, &client).await {
        Ok(_) => Redirect::to("/account?notice=email_verified").into_response(),
        Err(e) => service_error_page(&app, e),
    }
}
