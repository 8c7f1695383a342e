//! The knobs of the HTTP server. The binary fills them from flags, environment and TOML.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tollgate_domain::Money;

use crate::email::EmailConfig;
use crate::metering::MeteringConfig;
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
    /// Largest chat or completion request the gateway accepts (prompts are large); 413 above.
    pub gateway_max_body_bytes: usize,
    /// Failed logins allowed per email, and per client address, in one `login_window`.
    pub login_failures_per_email: i64,
    pub login_failures_per_ip: i64,
    pub login_window: Duration,
    /// Accounts one address may create per hour.
    pub signups_per_ip_per_hour: i64,
    /// Forgot-password emails one address may ask for per hour, and one client address may
    /// ask for (for any emails) per hour.
    pub password_resets_per_email_per_hour: i64,
    pub password_resets_per_ip_per_hour: i64,
    pub email: EmailConfig,
    /// Days an invitation link stays valid (1–30).
    pub invite_ttl_days: u32,
    /// Invitation emails (new and resent) one organization may send per hour.
    pub invite_emails_per_hour: i64,
    /// Days raw usage records (the request log) are kept before the housekeeping job prunes
    /// them; hourly and daily rollups are kept regardless. 8–3650 (`MIN_RETENTION_DAYS`), 30 by
    /// default.
    pub usage_retention_days: u32,
    /// The payment provider: sandbox (default) or stripe with its keys.
    pub payments: PaymentsConfig,
    /// The model catalog's TOML file; `None`: the built-in example catalog.
    pub catalog_path: Option<PathBuf>,
    /// Credits, payments and auto-recharge.
    pub billing: BillingConfig,
    /// Timeouts and the cap of client connections.
    pub connections: ConnectionLimits,
    /// Password hashes computed at once (each takes 19 MiB), and how long a login or sign-up
    /// waits for a turn before it is answered 503.
    pub password_hash_concurrency: usize,
    pub password_hash_wait: Duration,
    /// Credit leases and the usage writer of the gateway.
    pub metering: MeteringConfig,
}

/// How long a client may take, and how many may be connected at once; without them a client
/// that connects and sends nothing (or one header line every few seconds) holds a socket for
/// ever, and a few hundred exhaust the file descriptors (docs/decisions/0008).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// From the connection's start, or the end of the previous response, until the request's
    /// headers are complete.
    pub header_read_timeout: Duration,
    /// From the end of the headers until the whole body has arrived.
    pub body_read_timeout: Duration,
    /// A kept-alive connection that neither sends nor receives a byte for this long, with no
    /// request in progress, is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            max_connections: 1024,
        }
    }
}

/// Limits and timings of credits and payments (DESIGN §2).
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// Smallest and largest "Add Credits" purchase ($10 and $10,000 by default).
    pub min_purchase: Money,
    pub max_purchase: Money,
    /// How long purchased credit lasts (one year by default); `None`: it never expires.
    pub credit_ttl: Option<Duration>,
    /// Declined auto-recharges in a row before auto-recharge turns itself off.
    pub recharge_max_failures: i64,
    /// Wait after a declined auto-recharge before the next try; doubled after each decline.
    pub recharge_backoff: Duration,
    /// A payment still pending this long after it was last looked at is the reconciler's.
    pub reconcile_after: Duration,
    /// How often the billing job (reconciler, auto-recharge sweep) runs.
    pub job_interval: Duration,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            min_purchase: Money::from_micros(10_000_000),
            max_purchase: Money::from_micros(10_000_000_000),
            credit_ttl: Some(Duration::from_secs(365 * 24 * 3600)),
            recharge_max_failures: 3,
            recharge_backoff: Duration::from_secs(3600),
            reconcile_after: Duration::from_secs(120),
            job_interval: Duration::from_secs(30),
        }
    }
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
            gateway_max_body_bytes: 8 << 20,
            login_failures_per_email: 10,
            login_failures_per_ip: 50,
            login_window: Duration::from_secs(15 * 60),
            signups_per_ip_per_hour: 20,
            password_resets_per_email_per_hour: 3,
            password_resets_per_ip_per_hour: 20,
            email: EmailConfig::default(),
            invite_ttl_days: 7,
            invite_emails_per_hour: 100,
            usage_retention_days: 30,
            payments: PaymentsConfig::Sandbox,
            catalog_path: None,
            billing: BillingConfig::default(),
            connections: ConnectionLimits::default(),
            password_hash_concurrency: std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get),
            password_hash_wait: Duration::from_secs(2),
            metering: MeteringConfig::default(),
        }
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
