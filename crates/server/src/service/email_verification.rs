//! Email verification (docs/account-security.md): a new account proves its address with an
//! emailed link (or by accepting an invitation sent to it) before it may create API keys or
//! buy credits.

use tollgate_domain::secret;
use tollgate_store::{StoreError, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::config::millis;
use crate::email::EmailVerification;
use crate::service::{ServiceError, ServiceResult};

/// How long a verification link works.
pub const VERIFY_LINK_TTL_MS: i64 = 48 * 3_600_000;
/// Verification emails one user may ask for again per hour.
const RESENDS_PER_HOUR: i64 = 5;
const HOUR_MS: i64 = 3_600_000;

impl App {
    /// Emails `user` a link that verifies their address.
    pub async fn send_verification_email(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let token = secret::new_token();
        let now = self.now();
        let expires_at = now + VERIFY_LINK_TTL_MS;
        let verify_url = format!("{}/verify-email/{token}", client.base_url);
        let message = self
            .mailer
            .render(
                &user.email,
                &EmailVerification {
                    name: &user.name,
                    verify_url: &verify_url,
                    expires_at,
                },
            )
            .map_err(|e| ServiceError::Internal(e.into()))?;
        self.store
            .create_email_verification(&secret::digest(&token), &user.id, now, expires_at, &message)
            .await?;
        self.mailer.wake();
        Ok(())
    }

    /// Sends the link again (at most `RESENDS_PER_HOUR` an hour); 409 when already verified.
    pub async fn resend_verification_email(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        if user.email_verified() {
            return Err(ServiceError::Conflict {
                code: "email_already_verified",
                message: "Your email address is already verified.".to_owned(),
            });
        }
        let bucket = format!("verify_resend:user:{}", user.id);
        if self.store.rate_hit(&bucket, HOUR_MS, self.now()).await? > RESENDS_PER_HOUR {
            return Err(self.too_many(HOUR_MS));
        }
        self.send_verification_email(user, client).await
    }

    /// Uses a verification link. An unknown, used or expired link answers 410
    /// `verification_link_invalid`; bad links count against the client address like failed
    /// logins.
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> ServiceResult<User> {
        let window = millis(self.config.login_window);
        let now = self.now();
        let bucket = format!(
            "verify_token:ip:{}",
            client.ip.as_deref().unwrap_or("unknown")
        );
        if !self
            .store
            .rate_take(&bucket, self.config.login_failures_per_ip, window, now)
            .await?
        {
            return Err(self.too_many(window));
        }
        let invalid = || {
            ServiceError::Gone {
            code: "verification_link_invalid",
            message: "This verification link is invalid, expired or already used. Send a new one from the banner in the console.".to_owned(),
        }
        };
        if !secret::is_well_formed_token(token) {
            return Err(invalid());
        }
        let user = self
            .store
            .verify_email(&secret::digest(token), now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => invalid(),
                other => other.into(),
            })?;
        self.store.rate_release(&bucket, window, now).await?;
        tracing::info!(user = %user.id, "email verified");
        Ok(user)
    }

    /// Refuses an action that needs a verified address (creating keys, buying credits).
    pub(crate) fn require_verified_email(&self, user: &User) -> ServiceResult<()> {
        if user.email_verified() {
            return Ok(());
        }
        Err(ServiceError::Denied {
            code: "email_not_verified",
            message: format!(
                "Verify your email address first: follow the link we sent to {}, or send it again.",
                user.email
            ),
        })
    }
}
