//! Two-factor sign-in with TOTP (RFC 6238): enrolment, recovery codes, turning it off, and the
//! second step of a login (docs/account-security.md, decision 0023).

use rand::RngCore;
use tollgate_domain::{secret, totp, UserId};
use tollgate_store::User;

use crate::app::App;
use crate::auth::CurrentSession;
use crate::config::millis;
use crate::service::{ServiceError, ServiceResult};

/// How many recovery codes an enrolment gets.
pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show next to the account.
const ISSUER: &str = "Tollgate";

/// A started enrolment: what the authenticator app needs. Shown only until it is confirmed.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// Base32, for typing into the app.
    pub secret: String,
    pub otpauth_uri: String,
}

/// A recovery code as shown: 8 base32 characters in two groups, `abcd-efgh` (40 bits).
fn new_recovery_code() -> String {
    let mut bytes = [0u8; 5];
    rand::thread_rng().fill_bytes(&mut bytes);
    let text = totp::base32_encode(&bytes).to_ascii_lowercase();
    format!("{}-{}", &text[..4], &text[4..])
}

/// The digest a recovery code is stored as; dashes, spaces and case do not matter.
fn recovery_digest(code: &str) -> String {
    let plain: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    secret::digest(&plain)
}

fn invalid_code() -> ServiceError {
    ServiceError::SecondFactor {
        code: "totp_invalid",
        message: "That code is not correct or was already used.".to_owned(),
    }
}

impl App {
    /// Starts enrolment with a new secret (restarting replaces an unconfirmed one). 409
    /// `totp_enabled` when two-factor sign-in is already on.
    pub async fn start_totp(&self, user: &User) -> ServiceResult<TotpEnrolment> {
        let mut key = [0u8; totp::SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut key);
        let secret = totp::base32_encode(&key);
        if !self.store.start_totp(&user.id, &secret, self.now()).await? {
            return Err(already_enabled());
        }
        Ok(TotpEnrolment {
            otpauth_uri: totp::otpauth_uri(ISSUER, &user.email, &key),
            secret,
        })
    }

    /// The enrolment waiting for its first code, if any (to show its QR code again).
    pub async fn pending_totp(&self, user: &User) -> ServiceResult<Option<TotpEnrolment>> {
        let Some(state) = self.store.totp_state(&user.id).await? else {
            return Ok(None);
        };
        if state.enabled {
            return Ok(None);
        }
        let key = totp::base32_decode(&state.secret)
            .ok_or_else(|| anyhow::anyhow!("stored TOTP secret is not base32"))?;
        Ok(Some(TotpEnrolment {
            otpauth_uri: totp::otpauth_uri(ISSUER, &user.email, &key),
            secret: state.secret,
        }))
    }

    /// Enables two-factor sign-in with a first code from the app; returns the recovery codes,
    /// the only time they are shown. Wrong codes count against the user like failed logins.
    pub async fn confirm_totp(&self, user: &User, code: &str) -> ServiceResult<Vec<String>> {
        let state = match self.store.totp_state(&user.id).await? {
            Some(s) if s.enabled => return Err(already_enabled()),
            Some(s) => s,
            None => {
                return Err(ServiceError::Conflict {
                    code: "totp_not_started",
                    message: "Start setting up two-factor authentication first.".to_owned(),
                })
            }
        };
        let key = totp::base32_decode(&state.secret)
            .ok_or_else(|| anyhow::anyhow!("stored TOTP secret is not base32"))?;
        let step = self
            .counted_code_check(&user.id, |now| totp::verify(&key, code, now, None))
            .await?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_digest(c)).collect();
        if !self
            .store
            .enable_totp(&user.id, step, &hashes, self.now())
            .await?
        {
            return Err(already_enabled());
        }
        tracing::info!(user = %user.id, "two-factor sign-in enabled");
        Ok(codes)
    }

    /// Turns two-factor sign-in off, given the password and a current code (or a recovery
    /// code). 409 `totp_not_enabled` when it is off.
    pub async fn disable_totp(
        &self,
        session: &CurrentSession,
        password: &str,
        code: &str,
    ) -> ServiceResult<()> {
        let user_id = &session.user.id;
        if !self.store.totp_enabled(user_id).await? {
            return Err(ServiceError::Conflict {
                code: "totp_not_enabled",
                message: "Two-factor authentication is not on.".to_owned(),
            });
        }
        self.verify_own_password(user_id, password).await?;
        let window = millis(self.config.login_window);
        let now = self.now();
        let bucket = format!("two_factor:user:{user_id}");
        if !self
            .store
            .rate_take(&bucket, self.config.login_failures_per_email, window, now)
            .await?
        {
            return Err(self.too_many(window));
        }
        self.use_second_factor(user_id, code).await?;
        self.store.rate_reset(&bucket).await?;
        self.store.disable_totp(user_id).await?;
        tracing::info!(user = %user_id, "two-factor sign-in disabled");
        Ok(())
    }

    /// True when `user_id` signs in with a second factor.
    pub async fn totp_enabled(&self, user_id: &UserId) -> ServiceResult<bool> {
        Ok(self.store.totp_enabled(user_id).await?)
    }

    /// Checks and uses up a second factor of `user_id`: a TOTP code (each time step once) or
    /// a recovery code (each once). Rate limits are the caller's.
    pub(crate) async fn use_second_factor(
        &self,
        user_id: &UserId,
        code: &str,
    ) -> ServiceResult<()> {
        let Some(state) = self.store.totp_state(user_id).await? else {
            return Err(invalid_code());
        };
        let digits = code.chars().filter(|c| !c.is_whitespace()).count() == totp::DIGITS as usize
            && code
                .chars()
                .filter(|c| !c.is_whitespace())
                .all(|c| c.is_ascii_digit());
        let accepted = if digits {
            let key = totp::base32_decode(&state.secret)
                .ok_or_else(|| anyhow::anyhow!("stored TOTP secret is not base32"))?;
            match totp::verify(&key, code, self.now(), state.last_used_step) {
                Some(step) => self.store.use_totp_step(user_id, step).await?,
                None => false,
            }
        } else if code.chars().count() <= 32 {
            self.store
                .use_recovery_code(user_id, &recovery_digest(code), self.now())
                .await?
        } else {
            false
        };
        if accepted {
            Ok(())
        } else {
            Err(invalid_code())
        }
    }

    /// Runs `check` (a code's time step, if right) under the user's two-factor attempt limit.
    async fn counted_code_check(
        &self,
        user_id: &UserId,
        check: impl FnOnce(i64) -> Option<i64>,
    ) -> ServiceResult<i64> {
        let window = millis(self.config.login_window);
        let now = self.now();
        let bucket = format!("two_factor:user:{user_id}");
        if !self
            .store
            .rate_take(&bucket, self.config.login_failures_per_email, window, now)
            .await?
        {
            return Err(self.too_many(window));
        }
        let step = check(now).ok_or_else(invalid_code)?;
        self.store.rate_reset(&bucket).await?;
        Ok(step)
    }
}

fn already_enabled() -> ServiceError {
    ServiceError::Conflict {
        code: "totp_enabled",
        message: "Two-factor authentication is already on.".to_owned(),
    }
}
