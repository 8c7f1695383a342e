//! Which payment provider the server uses, and Stripe's keys. The binary fills this from its
//! configuration (`payment_provider`, `stripe_*`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";

/// The `payment_provider` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    #[default]
    Sandbox,
    Stripe,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Stripe => "stripe",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sandbox" => Ok(Self::Sandbox),
            "stripe" => Ok(Self::Stripe),
            other => Err(format!(
                "'{other}' is not a payment provider: use sandbox or stripe"
            )),
        }
    }
}

/// A secret read from configuration: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone, Default)]
pub enum PaymentsConfig {
    /// No network; Stripe's test card numbers (the default).
    #[default]
    Sandbox,
    Stripe(StripeConfig),
}

impl PaymentsConfig {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Sandbox => ProviderKind::Sandbox,
            Self::Stripe(_) => ProviderKind::Stripe,
        }
    }
}

#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_live_…`, `sk_test_…` or a restricted key `rk_…`.
    pub secret_key: String,
    /// `pk_…`, given to Stripe.js on the card form page.
    pub publishable_key: String,
    /// `whsec_…`, the signing secret of the webhook endpoint. Without it webhooks are refused
    /// and payments left pending are settled by the reconciler alone.
    pub webhook_secret: Option<String>,
    /// `https://api.stripe.com`, or a stand-in's address in tests.
    pub api_base: String,
    /// Longest wait for one call to Stripe, connecting included.
    pub timeout: Duration,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>, publishable_key: impl Into<String>) -> Self {
        Self {
            secret_key: secret_key.into(),
            publishable_key: publishable_key.into(),
            webhook_secret: None,
            api_base: DEFAULT_STRIPE_API_BASE.to_owned(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Refuses keys of the wrong kind (a publishable key where the secret one goes is the usual
    /// mistake) and a base URL that is not http(s).
    pub fn check(&self) -> Result<(), String> {
        if !(self.secret_key.starts_with("sk_") || self.secret_key.starts_with("rk_")) {
            return Err(
                "stripe_secret_key must be a secret key (sk_…) or restricted key (rk_…)".into(),
            );
        }
        if !self.publishable_key.starts_with("pk_") {
            return Err("stripe_publishable_key must be a publishable key (pk_…)".into());
        }
        if let Some(secret) = &self.webhook_secret {
            if secret.trim().is_empty() {
                return Err("stripe_webhook_secret is empty".into());
            }
        }
        if !(self.api_base.starts_with("https://") || self.api_base.starts_with("http://")) {
            return Err("stripe_api_base must start with https:// or http://".into());
        }
        Ok(())
    }
}

// Written by hand so that the secret key and webhook secret never reach a log line.
impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"***")
            .field("publishable_key", &self.publishable_key)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let mut c = StripeConfig::new("sk_test_hunter2", "pk_test_visible");
        c.webhook_secret = Some("whsec_hunter3".into());
        let shown = format!(
            "{:?} {:?}",
            PaymentsConfig::Stripe(c),
            SecretString::new("sk_live_hunter4")
        );
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("pk_test_visible"), "{shown}");
    }

    #[test]
    fn keys_of_the_wrong_kind_are_refused() {
        assert!(StripeConfig::new("sk_test_x", "pk_test_y").check().is_ok());
        assert!(StripeConfig::new("rk_live_x", "pk_live_y").check().is_ok());
        assert!(StripeConfig::new("pk_test_x", "pk_test_y").check().is_err());
        assert!(StripeConfig::new("sk_test_x", "sk_test_y").check().is_err());
        let mut c = StripeConfig::new("sk_test_x", "pk_test_y");
        c.api_base = "ftp://x".into();
        assert!(c.check().is_err());
        assert_eq!("stripe".parse(), Ok(ProviderKind::Stripe));
        assert!("paypal".parse::<ProviderKind>().is_err());
    }
}
