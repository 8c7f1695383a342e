//! How email leaves the server. The binary fills this from its configuration.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The `From` of every message, e.g. `Tollgate <no-reply@example.com>`.
    pub from: String,
    pub transport: TransportConfig,
    /// How often the worker looks for due messages when nothing wakes it: messages enqueued
    /// by other processes, and retries coming due.
    pub poll_interval: Duration,
}

pub const DEFAULT_FROM: &str = "Tollgate <no-reply@localhost>";

impl Default for EmailConfig {
    /// Messages kept in memory: nothing leaves the process. The binary's default is `file`.
    fn default() -> Self {
        Self {
            from: DEFAULT_FROM.to_owned(),
            transport: TransportConfig::Memory,
            poll_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone)]
pub enum TransportConfig {
    /// One `.eml` file per message in `dir`, and the message's first link in the log.
    File {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
    /// Kept in the process for tests to read.
    Memory,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub security: SmtpSecurity,
    /// Longest wait for any one step of the SMTP conversation.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// A server at `host` with the usual port for `security`.
    pub fn new(host: impl Into<String>, security: SmtpSecurity) -> Self {
        Self {
            host: host.into(),
            port: security.default_port(),
            username: None,
            password: None,
            security,
            timeout: Duration::from_secs(30),
        }
    }
}

// Written by hand so that the password can never reach a log line.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("security", &self.security)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

impl SmtpSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starttls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Starttls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

impl FromStr for SmtpSecurity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            "none" => Ok(Self::None),
            other => Err(format!(
                "'{other}' is not an SMTP security mode: use starttls, tls or none"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_printed() {
        let mut c = SmtpConfig::new("smtp.example.com", SmtpSecurity::Starttls);
        c.username = Some("mailer".into());
        c.password = Some("hunter2-secret".into());
        let shown = format!("{c:?} {:?}", TransportConfig::Smtp(c.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mailer") && shown.contains("***"), "{shown}");
        assert_eq!(c.port, 587);
    }

    #[test]
    fn security_modes_parse() {
        assert_eq!("tls".parse(), Ok(SmtpSecurity::Tls));
        assert_eq!(
            "none".parse::<SmtpSecurity>().map(|s| s.default_port()),
            Ok(25)
        );
        assert!("ssl".parse::<SmtpSecurity>().is_err());
    }
}
