//! Sessions: a 256-bit random id in an `HttpOnly` cookie, stored only as its SHA-256 digest.

use axum::http::{header, HeaderMap, HeaderValue};
use tollgate_domain::{secret, UserId};
use tollgate_store::User;

use crate::app::App;
use crate::auth::ClientInfo;
use crate::config::{millis, CookieSecure};

pub const SESSION_COOKIE: &str = "tg_session";

/// A signed-in request: the user and the session's raw token (from which the CSRF token of
/// console forms is derived).
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub user: User,
    pub token: String,
    /// The session's public id (`ses_…`), as the session list shows it.
    pub session_id: tollgate_domain::SessionId,
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl App {
    /// The live session a request's cookie names, if any.
    pub async fn current_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<CurrentSession>, tollgate_store::StoreError> {
        let Some(token) =
            cookie(headers, SESSION_COOKIE).filter(|t| secret::is_well_formed_token(t))
        else {
            return Ok(None);
        };
        let found = self
            .store
            .session_user(
                &secret::digest(token),
                self.now(),
                millis(self.config.session_idle),
            )
            .await?;
        Ok(found.map(|s| CurrentSession {
            user: s.user,
            token: token.to_owned(),
            session_id: s.session_id,
        }))
    }

    /// Starts a session for `user_id`; returns the raw token for the cookie.
    pub async fn start_session(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<String, tollgate_store::StoreError> {
        let token = secret::new_token();
        let now = self.now();
        self.store
            .create_session(
                &secret::digest(&token),
                user_id,
                now,
                now + millis(self.config.session_absolute),
                client.ip.as_deref(),
                client.user_agent.as_deref(),
            )
            .await?;
        Ok(token)
    }

    pub(crate) fn cookie_is_secure(&self, client: &ClientInfo) -> bool {
        match self.config.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => {
                client.https
                    || self
                        .config
                        .public_url
                        .as_deref()
                        .is_some_and(|u| u.starts_with("https://"))
            }
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn session_cookie(&self, token: &str, client: &ClientInfo) -> HeaderValue {
        let secure = if self.cookie_is_secure(client) {
            "; Secure"
        } else {
            ""
        };
        let max_age = self.config.session_absolute.as_secs();
        header_value(format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ))
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_session_cookie(&self, client: &ClientInfo) -> HeaderValue {
        let secure = if self.cookie_is_secure(client) {
            "; Secure"
        } else {
            ""
        };
        header_value(format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
        ))
    }
}

fn header_value(s: String) -> HeaderValue {
    // Every byte comes from hex tokens and fixed ASCII text.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tg_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "tg_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
