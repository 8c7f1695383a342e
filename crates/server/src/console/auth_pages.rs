//! Log in, sign up, log out.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::console::form_fields::form_fields;
use crate::console::page::public_page;
use crate::console::{check_form, service_error_page};
use crate::console::{safe_next, urlencode, AnonCsrf, PageForm, PageSession};
use crate::service::accounts::SignupInput;
use crate::service::ServiceError;

form_fields!(
    /// The log-in and sign-up forms' values and errors.
    pub struct AccountFields { email, password, name }
);

/// `login.html`: the log-in form (`notice` on the first drawing, `error` after a refusal).
#[derive(Serialize)]
struct LoginPage<'a> {
    values: AccountFields,
    next: &'a str,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// `login_two_factor.html`: the second step, carrying the first step's values.
#[derive(Serialize)]
struct TwoFactorStep<'a> {
    values: AccountFields,
    next: &'a str,
    error: Option<String>,
}

/// `signup.html`.
#[derive(Serialize)]
struct SignupPage<'a> {
    values: AccountFields,
    errors: AccountFields,
    next: Option<&'a str>,
    error: Option<String>,
    invite_email: Option<&'a str>,
    invite_token: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "logged_out" => Some("You have been logged out."),
        "password_reset" => Some(
            "Your password was changed and every session signed out. Log in with the new password.",
        ),
        _ => None,
    }
}

pub async fn login_form(
    State(app): State<Arc<App>>,
    session: Option<PageSession>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    if session.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    let csrf = AnonCsrf::from_headers(&headers);
    let next = safe_next(q.next.as_deref());
    let page = LoginPage {
        values: AccountFields::default(),
        next: &next,
        notice: notice_text(q.notice.as_deref()),
        error: None,
    };
    csrf.attach(public_page(
        &app,
        "login.html",
        StatusCode::OK,
        &csrf.secret,
        &page,
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// The second step's code (decision 0023); absent on the first step.
    totp_code: Option<String>,
    next: Option<String>,
}

pub async fn login(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let csrf = AnonCsrf::from_headers(&headers);
    if let Err(refused) = check_form(&app, &headers, &csrf.secret, &form.csrf) {
        return csrf.attach(refused);
    }
    let next = safe_next(form.next.as_deref());
    match app
        .log_in(
            &form.email,
            &form.password,
            form.totp_code.as_deref(),
            &client,
        )
        .await
    {
        Ok(signed_in) => (
            [(
                header::SET_COOKIE,
                app.session_cookie(&signed_in.session_token, &client),
            )],
            Redirect::to(&next),
        )
            .into_response(),
        Err(ServiceError::Internal(e)) => service_error_page(&app, ServiceError::Internal(e)),
        // The password was right: the second page asks for the code.
        Err(e @ ServiceError::SecondFactor { code, .. }) => {
            let error = (code == "totp_invalid").then(|| e.public_message());
            let status = if error.is_some() {
                e.status()
            } else {
                StatusCode::OK
            };
            let page = TwoFactorStep {
                values: AccountFields {
                    email: Some(form.email),
                    password: Some(form.password),
                    name: None,
                },
                next: &next,
                error,
            };
            csrf.attach(public_page(
                &app,
                "login_two_factor.html",
                status,
                &csrf.secret,
                &page,
            ))
        }
        Err(e) => {
            let page = LoginPage {
                values: AccountFields {
                    email: Some(form.email),
                    ..AccountFields::default()
                },
                next: &next,
                notice: None,
                error: Some(e.public_message()),
            };
            csrf.attach(public_page(
                &app,
                "login.html",
                e.status(),
                &csrf.secret,
                &page,
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct SignupQuery {
    next: Option<String>,
    invite: Option<String>,
}

/// The invited address for a sign-up through an invitation link that can still be used.
async fn invited_email(app: &App, token: Option<&str>) -> Option<String> {
    let invitation = app.invitation_by_token(token?).await.ok()?;
    (invitation.status.shown(invitation.expires_at, app.now()) == "pending")
        .then_some(invitation.email)
}

pub async fn signup_form(
    State(app): State<Arc<App>>,
    session: Option<PageSession>,
    headers: HeaderMap,
    Query(q): Query<SignupQuery>,
) -> Response {
    if session.is_some() {
        return Redirect::to("/").into_response();
    }
    let csrf = AnonCsrf::from_headers(&headers);
    let invite_email = invited_email(&app, q.invite.as_deref()).await;
    let next = safe_next(q.next.as_deref());
    let page = SignupPage {
        values: AccountFields::default(),
        errors: AccountFields::default(),
        next: Some(&next),
        error: None,
        invite_email: invite_email.as_deref(),
        invite_token: invite_email.as_ref().and(q.invite.as_deref()),
    };
    csrf.attach(public_page(
        &app,
        "signup.html",
        StatusCode::OK,
        &csrf.secret,
        &page,
    ))
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
    invite: Option<String>,
    /// Where to go once signed up (a local path; `safe_next`), kept through a refusal.
    next: Option<String>,
}

pub async fn signup(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<SignupForm>,
) -> Response {
    let csrf = AnonCsrf::from_headers(&headers);
    if let Err(refused) = check_form(&app, &headers, &csrf.secret, &form.csrf) {
        return csrf.attach(refused);
    }
    // Through an invitation the address is the invited one, whatever the form says.
    let invite_token = form.invite.as_deref().filter(|t| !t.is_empty());
    let invite_email = invited_email(&app, invite_token).await;
    if let (Some(token), None) = (invite_token, &invite_email) {
        return Redirect::to(&format!("/invites/{}", urlencode(token))).into_response();
    }
    let email = invite_email.clone().unwrap_or_else(|| form.email.clone());
    let next = safe_next(form.next.as_deref());
    let input = SignupInput {
        email: &email,
        password: &form.password,
        name: &form.name,
        send_verification: invite_email.is_none(),
    };
    match app.sign_up(input, &client).await {
        Ok((signed_in, org)) => {
            let landing = match invite_token {
                Some(token) => match app.accept_invitation(&signed_in.user, token, &client).await {
                    Ok(invitation) => format!("/o/{}?notice=joined", urlencode(&invitation.org_id)),
                    Err(_) => format!("/invites/{}", urlencode(token)),
                },
                None if next != "/" => next,
                None => format!("/o/{}", urlencode(&org.id)),
            };
            (
                [(
                    header::SET_COOKIE,
                    app.session_cookie(&signed_in.session_token, &client),
                )],
                Redirect::to(&landing),
            )
                .into_response()
        }
        Err(e) => {
            let (errors, error) = match &e {
                ServiceError::Invalid(v) => (AccountFields::of(v.field, &v.message), None),
                ServiceError::EmailTaken => (
                    AccountFields::of(
                        "email",
                        "An account with this email already exists. Log in instead.",
                    ),
                    None,
                ),
                ServiceError::Internal(_) => return service_error_page(&app, e),
                other => (AccountFields::default(), Some(other.public_message())),
            };
            let page = SignupPage {
                values: AccountFields {
                    email: Some(form.email),
                    name: Some(form.name),
                    password: None,
                },
                errors,
                next: Some(&next),
                error,
                invite_email: invite_email.as_deref(),
                invite_token: invite_email.as_ref().and(invite_token),
            };
            csrf.attach(public_page(
                &app,
                "signup.html",
                e.status(),
                &csrf.secret,
                &page,
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(app): State<Arc<App>>,
    session: Option<PageSession>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<LogoutForm>,
) -> Response {
    let Some(PageSession(session)) = session else {
        return Redirect::to("/login").into_response();
    };
    if let Err(refused) = check_form(&app, &headers, &session.token, &form.csrf) {
        return refused;
    }
    if let Err(e) = app.log_out(&session.token).await {
        return service_error_page(&app, e);
    }
    (
        [(header::SET_COOKIE, app.clear_session_cookie(&client))],
        Redirect::to("/login?notice=logged_out"),
    )
        .into_response()
}
