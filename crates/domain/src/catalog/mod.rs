//! The model catalog (DESIGN §2 "Subscriptions"): the models an operator sells, their prices per
//! million tokens, pay-as-you-go limits, upstream, and subscription tiers. Written in TOML by the
//! operator (`parse`), validated as a whole, and replaced as a whole on reload.

mod parse;
mod upstream;

use crate::Money;

pub use parse::CatalogError;
pub use upstream::{HttpUpstream, Timeouts, Upstream};

/// The example catalog, built in and used when none is configured.
pub const EXAMPLE_TOML: &str = include_str!("../../catalog/example.toml");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    models: Vec<Model>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub context_length: u64,
    /// Unix seconds, as OpenAI's model list shows it (0 when the catalog does not say).
    pub created: i64,
    pub owned_by: String,
    pub pricing: Pricing,
    /// Pay-as-you-go limits.
    pub limits: Limits,
    pub upstream: Upstream,
    pub tiers: Vec<Tier>,
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    pub input: Money,
    pub cached_input: Money,
    pub output: Money,
}

/// Requests and tokens per minute and per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub rpm: u64,
    pub tpm: u64,
    pub rpd: u64,
    pub tpd: u64,
}

/// A monthly subscription to one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub monthly_price: Money,
    pub limits: Limits,
    /// The most active subscriptions; `None`: no limit.
    pub capacity: Option<u64>,
    /// Marked sold out by the operator. (Reaching capacity also sells a tier out; that is
    /// decided where subscriptions are counted.)
    pub sold_out: bool,
}

impl Catalog {
    /// Parses and validates a catalog; errors name the line and the reason.
    pub fn parse(toml_text: &str) -> Result<Self, CatalogError> {
        parse::parse(toml_text)
    }

    /// The built-in example catalog.
    pub fn example() -> Self {
        // The example is checked by a test; should it ever be broken, start-up says so
        // rather than panicking, through `parse`.
        parse::parse(EXAMPLE_TOML).unwrap_or(Self { models: Vec::new() })
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn tier_count(&self) -> usize {
        self.models.iter().map(|m| m.tiers.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_catalog_is_valid_and_uses_the_mock() {
        let c = Catalog::parse(EXAMPLE_TOML).unwrap();
        assert_eq!(c, Catalog::example());
        assert!(c.models().len() >= 3);
        assert!(c.models().iter().all(|m| m.upstream == Upstream::Mock));
        assert!(c.tier_count() >= 3);
        let m = c.model("llama-3.1-8b-instruct").unwrap();
        assert_eq!(m.pricing.input, Money::from_micros(50_000));
        assert_eq!(m.pricing.cached_input, Money::from_micros(25_000));
        let q = c.model("qwen2.5-coder-32b-instruct").unwrap();
        assert_eq!(q.pricing.cached_input, q.pricing.input, "defaults to input");
        assert!(c.models().iter().flat_map(|m| &m.tiers).any(|t| t.sold_out));
    }

    #[test]
    fn api_keys_of_upstreams_are_not_printed() {
        let u = Upstream::Http(HttpUpstream {
            base_urls: vec!["https://x".into()],
            api_key: Some("sk-secret".into()),
            model: None,
            timeouts: Timeouts::default(),
            eject_after: 3,
            eject_for_ms: 1,
        });
        assert!(!format!("{u:?}").contains("sk-secret"));
    }
}
