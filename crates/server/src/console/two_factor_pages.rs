//! The Account page's two-factor card (docs/account-security.md, decision 0023): start
//! (`POST /account/totp`), the QR code drawn here as inline SVG, confirm with a first code
//! (`POST /account/totp/confirm`), whose recovery codes travel once to the page in a
//! short-lived cookie (like a new key's secret, decision 0016), never in a URL.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tollgate_store::User;

use crate::app::App;
use crate::auth::session::cookie;
use crate::auth::ClientInfo;
use crate::console::account_pages::{AccountErrors, AccountForms};
use crate::console::flash::flash_cookie;
use crate::console::form_guard::{csrf_field, CheckedForm, CsrfForm};
use crate::console::service_error_page;
use crate::service::ServiceError;

const RECOVERY_COOKIE: &str = "tg_recovery_codes";
const RECOVERY_MAX_AGE_SECS: u64 = 120;

/// The otpauth URI as an SVG QR code.
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// A recovery code as `new_recovery_code` makes it; anything else in the cookie is dropped.
fn is_recovery_code(code: &str) -> bool {
    code.len() == 9
        && code.char_indices().all(|(i, c)| {
            if i == 4 {
                c == '-'
            } else {
                c.is_ascii_lowercase() || ('2'..='7').contains(&c)
            }
        })
}

/// The Account page's two-factor card (`two_factor` in `account.html`).
#[derive(Serialize)]
pub(crate) struct TwoFactorCard<'a> {
    enabled: bool,
    /// An enrolment waiting for its first code.
    pending: Option<PendingEnrolment>,
    /// Just made, shown once.
    recovery_codes: Vec<&'a str>,
}

#[derive(Serialize)]
struct PendingEnrolment {
    secret: String,
    /// The otpauth URI as an inline SVG QR code.
    qr: String,
}

/// The card's context: on or off, an enrolment waiting for its code, and recovery codes
/// just made (from the cookie).
pub(crate) async fn two_factor_card<'h>(
    app: &App,
    user: &User,
    headers: &'h HeaderMap,
) -> Result<TwoFactorCard<'h>, ServiceError> {
    let enabled = app.totp_enabled(&user.id).await?;
    let pending = app.pending_totp(user).await?.map(|p| PendingEnrolment {
        qr: qr_svg(&p.otpauth_uri),
        secret: p.secret,
    });
    let recovery_codes: Vec<&str> = match cookie(headers, RECOVERY_COOKIE) {
        Some(v) if enabled => v.split('.').filter(|c| is_recovery_code(c)).collect(),
        _ => Vec::new(),
    };
    Ok(TwoFactorCard {
        enabled,
        pending,
        recovery_codes,
    })
}

/// Removes the recovery-codes cookie once the page showed them.
pub(crate) fn clear_recovery_cookie(app: &App, client: &ClientInfo) -> HeaderValue {
    flash_cookie(app, RECOVERY_COOKIE, "", "/account", 0, client)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

csrf_field!(CodeForm, DisableForm);

pub async fn start(
    State(app): State<Arc<App>>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app.start_totp(&session.user).await {
        Ok(_) => Redirect::to("/account#two-factor").into_response(),
        Err(ServiceError::Conflict { .. }) => {
            Redirect::to("/account?notice=totp_enabled#two-factor").into_response()
        }
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn confirm(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    headers: HeaderMap,
    CheckedForm { session, form }: CheckedForm<CodeForm>,
) -> Response {
    match app.confirm_totp(&session.user, &form.code).await {
        Ok(codes) => (
            [(
                header::SET_COOKIE,
                flash_cookie(
                    &app,
                    RECOVERY_COOKIE,
                    &codes.join("."),
                    "/account",
                    RECOVERY_MAX_AGE_SECS,
                    &client,
                ),
            )],
            Redirect::to("/account?notice=totp_enabled#two-factor"),
        )
            .into_response(),
        Err(e @ ServiceError::Internal(_)) => service_error_page(&app, e),
        Err(e) => {
            let extra = AccountForms::refused(AccountErrors::of("totp_code", e.public_message()));
            crate::console::account_pages::render(&app, &session, &headers, e.status(), extra).await
        }
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

pub async fn disable(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    CheckedForm { session, form }: CheckedForm<DisableForm>,
) -> Response {
    let refused = match app.disable_totp(&session, &form.password, &form.code).await {
        Ok(()) => return Redirect::to("/account?notice=totp_disabled#two-factor").into_response(),
        Err(e @ ServiceError::Internal(_)) => return service_error_page(&app, e),
        Err(e) => e,
    };
    let extra = match &refused {
        ServiceError::Denied { message, .. } => AccountErrors::of("totp_password", message),
        other => AccountErrors::of("totp_off_code", other.public_message()),
    };
    let extra = AccountForms::refused(extra);
    crate::console::account_pages::render(&app, &session, &headers, refused.status(), extra).await
}
