//! Configuration: flags, then `TOLLGATE_*` environment variables (both through clap), then an
//! optional TOML file, then defaults (DESIGN.md §1).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use tollgate_domain::payment::{MICROS_PER_CENT, MIN_CHARGE};
use tollgate_domain::usage::MIN_RETENTION_DAYS;
use tollgate_domain::Money;
use tollgate_server::email::{SmtpConfig, SmtpSecurity, TransportConfig};
use tollgate_server::metering::MeteringConfig;
use tollgate_server::payments::{PaymentsConfig, ProviderKind, SecretString, StripeConfig};
use tollgate_server::{BillingConfig, ConnectionLimits, CookieSecure, EmailConfig, ServerConfig};
use tollgate_store::{Store, StoreOptions};

use crate::cli::GlobalArgs;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_max_connections: Option<u32>,
    /// The URL users reach Tollgate at, e.g. `https://console.example.com`.
    pub public_url: Option<String>,
    pub cookie_secure: Option<CookieSecure>,
    pub trust_proxy_headers: Option<bool>,
    pub session_idle_hours: Option<u64>,
    pub session_absolute_days: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub gateway_max_body_bytes: Option<usize>,
    pub login_failures_per_email: Option<i64>,
    pub login_failures_per_ip: Option<i64>,
    pub login_window_minutes: Option<u64>,
    pub signups_per_ip_per_hour: Option<i64>,
    /// Client connections: seconds to send a request's headers, its body, and to sit idle
    /// between requests; connections served at once.
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    /// Password hashes computed at once (19 MiB each); the number of cores by default.
    pub password_hash_concurrency: Option<usize>,
    /// The model catalog (TOML); the built-in example when unset.
    pub catalog: Option<PathBuf>,
    /// `file` (default: `<data-dir>/outbox/*.eml`), `smtp` (default when `smtp_host` is set)
    /// or `memory`.
    pub email_transport: Option<EmailTransport>,
    /// The sender of every email, e.g. `Tollgate <no-reply@example.com>`.
    pub email_from: Option<String>,
    pub smtp_host: Option<String>,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    pub smtp_username: Option<String>,
    /// Better given as `TOLLGATE_SMTP_PASSWORD` than written in the file.
    pub smtp_password: Option<String>,
    pub smtp_security: Option<SmtpSecurity>,
    pub smtp_timeout_secs: Option<u64>,
    /// Days an invitation link stays valid: 1–30.
    pub invite_ttl_days: Option<u32>,
    pub invite_emails_per_hour: Option<i64>,
    /// Days raw usage records are kept (the request log); rollups are kept. 8–3650, 30.
    pub usage_retention_days: Option<u32>,
    /// Smallest and largest "Add Credits" purchase in USD, e.g. `"10.00"` and `"10000.00"`.
    pub min_purchase: Option<String>,
    pub max_purchase: Option<String>,
    /// Days purchased credit lasts (0: never expires); 365 by default.
    pub credit_expiry_days: Option<u64>,
    /// `sandbox` (default: no network, Stripe's test card numbers) or `stripe`.
    pub payment_provider: Option<ProviderKind>,
    /// `sk_…`; better given as `TOLLGATE_STRIPE_SECRET_KEY` than written in the file.
    pub stripe_secret_key: Option<SecretString>,
    /// `pk_…`, for Stripe's card form.
    pub stripe_publishable_key: Option<String>,
    /// `whsec_…`, the signing secret of the webhook endpoint `/api/v1/webhooks/stripe`.
    pub stripe_webhook_secret: Option<SecretString>,
    /// Default `https://api.stripe.com`.
    pub stripe_api_base: Option<String>,
    pub stripe_timeout_secs: Option<u64>,
    /// How often the gateway's usage writer stores what was recorded (10–60,000 ms; 200):
    /// after `kill -9`, at most this long of usage records is lost.
    pub usage_flush_ms: Option<u64>,
    /// How long a credit lease outlives a process that died without returning it (1–3,600 s;
    /// 60).
    pub credit_lease_ttl_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTransport {
    File,
    Smtp,
    Memory,
}

impl std::str::FromStr for EmailTransport {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "file" => Ok(Self::File),
            "smtp" => Ok(Self::Smtp),
            "memory" => Ok(Self::Memory),
            other => anyhow::bail!("'{other}' is not an email transport: use file, smtp or memory"),
        }
    }
}

#[derive(Debug)]
pub struct Config {
    pub file: FileConfig,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub catalog: Option<PathBuf>,
}

impl Config {
    pub fn load(args: &GlobalArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = args
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("tollgate.db").display()));
        tollgate_store::Engine::from_url(&database_url)?;
        let catalog = args.catalog.clone().or_else(|| file.catalog.clone());
        Ok(Self {
            file,
            data_dir,
            database_url,
            catalog,
        })
    }

    pub fn listen(&self, flag: Option<&str>) -> String {
        flag.map(str::to_owned)
            .or_else(|| self.file.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned())
    }

    pub fn database_url_redacted(&self) -> String {
        tollgate_store::redact(&self.database_url)
    }

    /// Opens the database, creating the data directory for SQLite.
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        if self.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        }
        let mut options = StoreOptions::default();
        if let Some(n) = self.file.database_max_connections {
            options.max_connections = n;
        }
        Store::connect(&self.database_url, options)
            .await
            .with_context(|| format!("opening database {}", self.database_url_redacted()))
    }

    pub fn server(&self) -> anyhow::Result<ServerConfig> {
        let d = ServerConfig::default();
        let f = &self.file;
        if let Some(url) = &f.public_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "public_url must start with http:// or https://"
            );
        }
        let invite_ttl_days = f.invite_ttl_days.unwrap_or(d.invite_ttl_days);
        anyhow::ensure!(
            (1..=30).contains(&invite_ttl_days),
            "invite_ttl_days must be between 1 and 30 (it is {invite_ttl_days})"
        );
        let usage_retention_days = f.usage_retention_days.unwrap_or(d.usage_retention_days);
        anyhow::ensure!(
            (MIN_RETENTION_DAYS..=3650).contains(&usage_retention_days),
            "usage_retention_days must be between {MIN_RETENTION_DAYS} and 3650 (it is \
             {usage_retention_days}): usage may be reported up to 7 days late, and a record \
             must still be stored, with a day to spare, for its replay to be turned away"
        );
        Ok(ServerConfig {
            public_url: f
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            cookie_secure: f.cookie_secure.unwrap_or(d.cookie_secure),
            trust_proxy_headers: f.trust_proxy_headers.unwrap_or(d.trust_proxy_headers),
            session_idle: f
                .session_idle_hours
                .map_or(d.session_idle, |h| Duration::from_secs(h * 3600)),
            session_absolute: f.session_absolute_days.map_or(d.session_absolute, |days| {
                Duration::from_secs(days * 86_400)
            }),
            max_body_bytes: f.max_body_bytes.unwrap_or(d.max_body_bytes),
            gateway_max_body_bytes: f.gateway_max_body_bytes.unwrap_or(d.gateway_max_body_bytes),
            login_failures_per_email: f
                .login_failures_per_email
                .unwrap_or(d.login_failures_per_email),
            login_failures_per_ip: f.login_failures_per_ip.unwrap_or(d.login_failures_per_ip),
            login_window: f
                .login_window_minutes
                .map_or(d.login_window, |m| Duration::from_secs(m * 60)),
            signups_per_ip_per_hour: f
                .signups_per_ip_per_hour
                .unwrap_or(d.signups_per_ip_per_hour),
            password_resets_per_email_per_hour: d.password_resets_per_email_per_hour,
            password_resets_per_ip_per_hour: d.password_resets_per_ip_per_hour,
            email: self.email(|name| std::env::var(name).ok())?,
            invite_ttl_days,
            invite_emails_per_hour: f.invite_emails_per_hour.unwrap_or(d.invite_emails_per_hour),
            usage_retention_days,
            payments: self.payments(|name| std::env::var(name).ok())?,
            catalog_path: self.catalog.clone(),
            billing: self.billing(&d.billing)?,
            connections: self.connections(&d.connections)?,
            password_hash_concurrency: positive(
                "password_hash_concurrency",
                f.password_hash_concurrency,
                d.password_hash_concurrency,
            )?,
            password_hash_wait: d.password_hash_wait,
            metering: self.metering(&d.metering)?,
        })
    }

    fn connections(&self, d: &ConnectionLimits) -> anyhow::Result<ConnectionLimits> {
        let f = &self.file;
        let secs = |key: &str, v: Option<u64>, d: Duration| -> anyhow::Result<Duration> {
            match v {
                None => Ok(d),
                Some(s) if (1..=3600).contains(&s) => Ok(Duration::from_secs(s)),
                Some(s) => anyhow::bail!("{key} must be between 1 and 3600 (it is {s})"),
            }
        };
        let max_connections = positive("max_connections", f.max_connections, d.max_connections)?;
        anyhow::ensure!(
            max_connections <= 1_000_000,
            "max_connections must be at most 1000000 (it is {max_connections})"
        );
        Ok(ConnectionLimits {
            header_read_timeout: secs(
                "header_read_timeout_secs",
                f.header_read_timeout_secs,
                d.header_read_timeout,
            )?,
            body_read_timeout: secs(
                "body_read_timeout_secs",
                f.body_read_timeout_secs,
                d.body_read_timeout,
            )?,
            idle_timeout: secs("idle_timeout_secs", f.idle_timeout_secs, d.idle_timeout)?,
            max_connections,
        })
    }

    /// The usage writer's interval and the credit leases' lifetime from the file.
    fn metering(&self, d: &MeteringConfig) -> anyhow::Result<MeteringConfig> {
        let f = &self.file;
        if let Some(ms) = f.usage_flush_ms {
            anyhow::ensure!(
                (10..=60_000).contains(&ms),
                "usage_flush_ms must be between 10 and 60000 (it is {ms})"
            );
        }
        if let Some(secs) = f.credit_lease_ttl_secs {
            anyhow::ensure!(
                (1..=3_600).contains(&secs),
                "credit_lease_ttl_secs must be between 1 and 3600 (it is {secs})"
            );
        }
        Ok(MeteringConfig {
            flush_interval: f
                .usage_flush_ms
                .map_or(d.flush_interval, Duration::from_millis),
            hold_ttl: f
                .credit_lease_ttl_secs
                .map_or(d.hold_ttl, Duration::from_secs),
            ..d.clone()
        })
    }

    /// Purchase limits and credit expiry from the file.
    fn billing(&self, d: &BillingConfig) -> anyhow::Result<BillingConfig> {
        let f = &self.file;
        let usd = |key: &'static str,
                   v: &Option<String>,
                   default: Money|
         -> anyhow::Result<Money> {
            match v {
                None => Ok(default),
                Some(raw) => Money::parse_usd(key, raw).map_err(|e| anyhow::anyhow!("{key}: {e}")),
            }
        };
        let min_purchase = usd("min_purchase", &f.min_purchase, d.min_purchase)?;
        let max_purchase = usd("max_purchase", &f.max_purchase, d.max_purchase)?;
        anyhow::ensure!(
            min_purchase >= MIN_CHARGE && min_purchase <= max_purchase,
            "min_purchase must be at least 0.50 and at most max_purchase"
        );
        anyhow::ensure!(
            min_purchase.micros() % MICROS_PER_CENT == 0
                && max_purchase.micros() % MICROS_PER_CENT == 0,
            "min_purchase and max_purchase must be whole cents"
        );
        Ok(BillingConfig {
            min_purchase,
            max_purchase,
            credit_ttl: match f.credit_expiry_days {
                None => d.credit_ttl,
                Some(0) => None,
                Some(days) => Some(Duration::from_secs(days * 86_400)),
            },
            ..d.clone()
        })
    }

    /// The payment provider: each `TOLLGATE_PAYMENT_PROVIDER` / `TOLLGATE_STRIPE_*` environment
    /// variable beats its key in the file. `env` looks a variable up (a map in tests).
    pub fn payments(&self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<PaymentsConfig> {
        let f = &self.file;
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let kind = match var("TOLLGATE_PAYMENT_PROVIDER") {
            Some(v) => v
                .parse::<ProviderKind>()
                .map_err(anyhow::Error::msg)
                .context("TOLLGATE_PAYMENT_PROVIDER")?,
            None => f.payment_provider.unwrap_or_default(),
        };
        if kind == ProviderKind::Sandbox {
            return Ok(PaymentsConfig::Sandbox);
        }
        let secret_key = var("TOLLGATE_STRIPE_SECRET_KEY")
            .or_else(|| f.stripe_secret_key.as_ref().map(|s| s.expose().to_owned()))
            .context(
                "payment_provider is stripe but no stripe_secret_key (or TOLLGATE_STRIPE_SECRET_KEY) is set",
            )?;
        let publishable_key = var("TOLLGATE_STRIPE_PUBLISHABLE_KEY")
            .or_else(|| f.stripe_publishable_key.clone())
            .context(
                "payment_provider is stripe but no stripe_publishable_key (or TOLLGATE_STRIPE_PUBLISHABLE_KEY) is set",
            )?;
        let mut stripe = StripeConfig::new(secret_key, publishable_key);
        stripe.webhook_secret = var("TOLLGATE_STRIPE_WEBHOOK_SECRET").or_else(|| {
            f.stripe_webhook_secret
                .as_ref()
                .map(|s| s.expose().to_owned())
        });
        if let Some(base) = var("TOLLGATE_STRIPE_API_BASE").or_else(|| f.stripe_api_base.clone()) {
            stripe.api_base = base.trim_end_matches('/').to_owned();
        }
        if let Some(secs) = f.stripe_timeout_secs {
            stripe.timeout = Duration::from_secs(secs.max(1));
        }
        stripe.check().map_err(anyhow::Error::msg)?;
        Ok(PaymentsConfig::Stripe(stripe))
    }

    /// The email settings: each `TOLLGATE_EMAIL_*` / `TOLLGATE_SMTP_*` environment variable
    /// beats its key in the file. `env` looks a variable up (a map in tests).
    pub fn email(&self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<EmailConfig> {
        let f = &self.file;
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let transport = match var("TOLLGATE_EMAIL_TRANSPORT") {
            Some(v) => Some(v.trim().parse().context("TOLLGATE_EMAIL_TRANSPORT")?),
            None => f.email_transport,
        };
        let host = var("TOLLGATE_SMTP_HOST").or_else(|| f.smtp_host.clone());
        let transport = transport.unwrap_or(if host.is_some() {
            EmailTransport::Smtp
        } else {
            EmailTransport::File
        });
        let transport = match transport {
            EmailTransport::File => TransportConfig::File {
                dir: self.data_dir.join("outbox"),
            },
            EmailTransport::Memory => TransportConfig::Memory,
            EmailTransport::Smtp => {
                let host = host.context(
                    "email_transport is smtp but no smtp_host (or TOLLGATE_SMTP_HOST) is set",
                )?;
                let security = match var("TOLLGATE_SMTP_SECURITY") {
                    Some(v) => v
                        .trim()
                        .parse::<SmtpSecurity>()
                        .map_err(anyhow::Error::msg)
                        .context("TOLLGATE_SMTP_SECURITY")?,
                    None => f.smtp_security.unwrap_or(SmtpSecurity::Starttls),
                };
                let mut smtp = SmtpConfig::new(host, security);
                if let Some(port) = match var("TOLLGATE_SMTP_PORT") {
                    Some(v) => Some(v.trim().parse().context("TOLLGATE_SMTP_PORT")?),
                    None => f.smtp_port,
                } {
                    smtp.port = port;
                }
                smtp.username = var("TOLLGATE_SMTP_USERNAME").or_else(|| f.smtp_username.clone());
                smtp.password = env("TOLLGATE_SMTP_PASSWORD")
                    .filter(|p| !p.is_empty())
                    .or_else(|| f.smtp_password.clone());
                if let Some(secs) = f.smtp_timeout_secs {
                    smtp.timeout = Duration::from_secs(secs.max(1));
                }
                TransportConfig::Smtp(smtp)
            }
        };
        let defaults = EmailConfig::default();
        Ok(EmailConfig {
            from: var("TOLLGATE_EMAIL_FROM")
                .or_else(|| f.email_from.clone())
                .unwrap_or(defaults.from),
            transport,
            ..defaults
        })
    }
}

fn positive(key: &str, v: Option<usize>, default: usize) -> anyhow::Result<usize> {
    match v {
        None => Ok(default),
        Some(0) => anyhow::bail!("{key} must be at least 1"),
        Some(n) => Ok(n),
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

#[cfg(test)]
mod tests;
