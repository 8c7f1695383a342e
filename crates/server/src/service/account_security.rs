//! What a signed-in user changes about their own account: their name, their password, and
//! their sessions (docs/account-security.md).

use tollgate_domain::device::device_label;
use tollgate_domain::{Name, Password, Timestamp, ValidationError};
use tollgate_domain::{SessionId, UserId};
use tollgate_store::{User, SESSION_LIST_MAX};

use crate::app::App;
use crate::auth::CurrentSession;
use crate::config::millis;
use crate::service::{Page, ServiceError, ServiceResult};

/// A live session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: SessionId,
    /// "Firefox on Linux", from the User-Agent the session was started with.
    pub device: String,
    pub ip: Option<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The session this request is made with.
    pub current: bool,
}

impl App {
    /// Renames the signed-in user.
    pub async fn update_profile(&self, user: &User, name: &str) -> ServiceResult<User> {
        let name = Name::parse("name", name)?;
        Ok(self.store.rename_user(&user.id, &name).await?)
    }

    /// Changes the password after checking the current one, and ends every other session of
    /// the user. Wrong current passwords count against the user like failed logins (the same
    /// limit and window), so a stolen session cannot be used to guess the password.
    pub async fn change_password(
        &self,
        session: &CurrentSession,
        current: &str,
        new: &str,
    ) -> ServiceResult<u64> {
        let new =
            Password::parse(new).map_err(|e| ValidationError::new("new_password", e.message))?;
        self.verify_own_password(&session.user.id, current).await?;
        let hash = self
            .password_turn()
            .await?
            .hash(new.expose().to_owned())
            .await?;
        let ended = self
            .store
            .change_password(&session.user.id, &hash, Some(&session.session_id))
            .await?;
        tracing::info!(user = %session.user.id, ended, "password changed");
        Ok(ended)
    }

    /// Checks a signed-in user's own password (to change it, or to turn two-factor sign-in
    /// off). Wrong ones count against the user like failed logins (the same limit and window),
    /// so a stolen session cannot be used to guess the password.
    pub(crate) async fn verify_own_password(
        &self,
        user_id: &UserId,
        current: &str,
    ) -> ServiceResult<()> {
        let window = millis(self.config.login_window);
        let now = self.now();
        let bucket = format!("password_change:user:{user_id}");
        if !self
            .store
            .rate_take(&bucket, self.config.login_failures_per_email, window, now)
            .await?
        {
            return Err(self.too_many(window));
        }
        let stored = self.store.password_hash(user_id).await?;
        let turn = match self.password_turn().await {
            Ok(turn) => turn,
            Err(busy) => {
                self.store.rate_release(&bucket, window, now).await?;
                return Err(busy);
            }
        };
        let ok = turn
            .verify(current.chars().take(Password::MAX_CHARS).collect(), stored)
            .await?;
        if !ok {
            return Err(ServiceError::Denied {
                code: "wrong_password",
                message: "The current password is not correct.".to_owned(),
            });
        }
        self.store.rate_reset(&bucket).await?;
        Ok(())
    }

    /// The user's live sessions, the current one marked.
    pub async fn list_sessions(
        &self,
        session: &CurrentSession,
    ) -> ServiceResult<Page<SessionSummary>> {
        let rows = self
            .store
            .user_sessions(
                &session.user.id,
                self.now(),
                millis(self.config.session_idle),
            )
            .await?;
        Ok(
            Page::from_rows(rows, SESSION_LIST_MAX).map(|s| SessionSummary {
                current: s.id == session.session_id,
                device: device_label(s.user_agent.as_deref()),
                id: s.id,
                ip: s.ip,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            }),
        )
    }

    /// Ends one of the user's sessions (the current one too, if asked). Another user's session
    /// and an unknown id both answer 404.
    pub async fn sign_out_session(
        &self,
        session: &CurrentSession,
        session_id: &SessionId,
    ) -> ServiceResult<()> {
        if !self
            .store
            .delete_user_session(&session.user.id, session_id)
            .await?
        {
            return Err(ServiceError::NotFound("session"));
        }
        Ok(())
    }

    /// Ends every session of the user but this one; returns how many were ended.
    pub async fn sign_out_other_sessions(&self, session: &CurrentSession) -> ServiceResult<u64> {
        Ok(self
            .store
            .delete_user_sessions_except(&session.user.id, Some(&session.session_id))
            .await?)
    }
}
