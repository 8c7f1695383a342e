//! Forgot password: an emailed link, good once and for an hour, that sets a new password and
//! ends every session (docs/account-security.md).

use tollgate_domain::{secret, Email, Password};
use tollgate_store::{StoreError, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::config::millis;
use crate::email::PasswordReset;
use crate::service::{ServiceError, ServiceResult};

/// How long a reset link works.
pub const RESET_LINK_TTL_MS: i64 = 3_600_000;
const HOUR_MS: i64 = 3_600_000;

impl App {
    /// Emails a reset link to `email` if it has an account. The answer is the same whether or
    /// not it has one: `Ok(())`, or 429 once this email or this client address asked too often
    /// (both counted for unknown emails too, so the limit reveals nothing either).
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let email = Email::parse(email)?;
        let now = self.now();
        let ip = client.ip.as_deref().unwrap_or("unknown");
        let by_ip = self
            .store
            .rate_hit(&format!("reset:ip:{ip}"), HOUR_MS, now)
            .await?;
        let by_email = self
            .store
            .rate_hit(&format!("reset:email:{}", email.as_str()), HOUR_MS, now)
            .await?;
        if by_ip > self.config.password_resets_per_ip_per_hour
            || by_email > self.config.password_resets_per_email_per_hour
        {
            return Err(self.too_many(HOUR_MS));
        }
        let Some(user) = self.store.user_by_email(&email).await? else {
            tracing::info!("password reset asked for an unknown email");
            return Ok(());
        };
        let token = secret::new_token();
        let expires_at = now + RESET_LINK_TTL_MS;
        let reset_url = format!("{}/reset-password/{token}", client.base_url);
        let message = self
            .mailer
            .render(
                &user.email,
                &PasswordReset {
                    name: &user.name,
                    reset_url: &reset_url,
                    expires_at,
                },
            )
            .map_err(|e| ServiceError::Internal(e.into()))?;
        self.store
            .create_password_reset(&secret::digest(&token), &user.id, now, expires_at, &message)
            .await?;
        self.mailer.wake();
        tracing::info!(user = %user.id, "password reset link sent");
        Ok(())
    }

    /// True when `token` is a reset link that can still be used (for the page that asks for
    /// the new password; using it checks again).
    pub async fn password_reset_usable(&self, token: &str) -> ServiceResult<bool> {
        Ok(secret::is_well_formed_token(token)
            && self
                .store
                .password_reset_usable(&secret::digest(token), self.now())
                .await?)
    }

    /// Sets a new password through a reset link and ends all of the user's sessions. An
    /// unknown, used or expired link answers 410 `reset_link_invalid`; attempts with bad links
    /// count against the client address like failed logins.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> ServiceResult<User> {
        let pw = Password::parse(new_password)?;
        let window = millis(self.config.login_window);
        let now = self.now();
        let bucket = format!(
            "reset_token:ip:{}",
            client.ip.as_deref().unwrap_or("unknown")
        );
        if !self
            .store
            .rate_take(&bucket, self.config.login_failures_per_ip, window, now)
            .await?
        {
            return Err(self.too_many(window));
        }
        if !self.password_reset_usable(token).await? {
            return Err(invalid_link());
        }
        let hash = match self.password_turn().await {
            Ok(turn) => turn.hash(pw.expose().to_owned()).await?,
            Err(busy) => {
                self.store.rate_release(&bucket, window, now).await?;
                return Err(busy);
            }
        };
        let user = self
            .store
            .reset_password(&secret::digest(token), &hash, self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => invalid_link(),
                other => other.into(),
            })?;
        self.store.rate_release(&bucket, window, now).await?;
        tracing::info!(user = %user.id, "password reset; every session ended");
        Ok(user)
    }
}

fn invalid_link() -> ServiceError {
    ServiceError::Gone {
        code: "reset_link_invalid",
        message: "This password reset link is invalid, expired or already used. Ask for a new one."
            .to_owned(),
    }
}
