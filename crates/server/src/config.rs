//! The knobs of the HTTP server. The binary fills them from flags, environment and TOML.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::email::EmailConfig;
use crate::payments::PaymentsConfig;

/// When the session cookie carries the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CookieSecure {
    /// Secure when the request arrived over https: `public_url` is https, or a proxy says so
    /// with `X-Forwarded-Proto: https`.
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL users reach Tollgate at (`https://console.example.com`); used in links and for
    /// the same-origin check. When unset, the request's `Host` is the origin.
    pub public_url: Option<String>,
    pub cookie_secure: CookieSecure,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` (only behind a proxy that sets them).
    pub trust_proxy_headers: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Largest request body accepted; larger ones answer 413.
    pub max_body_bytes: usize,
    /// Failed logins allowed per email, and per client address, in one `login_window`.
    pub login_failures_per_email: i64,
    pub login_failures_per_ip: i64,
    pub login_window: Duration,
    /// Accounts one address may create per hour.
    pub signups_per_ip_per_hour: i64,
    pub email: EmailConfig,
    /// Days an invitation link stays valid (1–30).
    pub invite_ttl_days: u32,
    /// Invitation emails (new and resent) one organization may send per hour.
    pub invite_emails_per_hour: i64,
    /// The payment provider: sandbox (default) or stripe with its keys.
    pub payments: PaymentsConfig,
    /// The model catalog's TOML file; `None`: the built-in example catalog.
    pub catalog_path: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            cookie_secure: CookieSecure::Auto,
            trust_proxy_headers: false,
            session_idle: Duration::from_secs(7 * 24 * 3600),
            session_absolute: Duration::from_secs(30 * 24 * 3600),
            max_body_bytes: 64 * 1024,
            login_failures_per_email: 10,
            login_failures_per_ip: 50,
            login_window: Duration::from_secs(15 * 60),
            signups_per_ip_per_hour: 20,
            email: EmailConfig::default(),
            invite_ttl_days: 7,
            invite_emails_per_hour: 100,
            payments: PaymentsConfig::Sandbox,
            catalog_path: None,
        }
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
