//! Where an organization's limits for a model come from: the subscribed tier's limits, or else
//! the catalog's pay-as-you-go limits; an operator's override replaces the dimensions it sets.
//! A project may carry lower limits of its own, and is held to the organization's whatever it
//! says (the organization's may have been lowered since).

use super::{Dimension, RateLimits};

/// Where one limit comes from, as the Limits page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitSource {
    /// The catalog's pay-as-you-go limits of the model.
    PayAsYouGo,
    /// The limits of the subscribed tier (its id).
    Tier(String),
    /// Set by an operator for this organization and model.
    Custom,
}

impl LimitSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PayAsYouGo => "pay_as_you_go",
            Self::Tier(_) => "tier",
            Self::Custom => "custom",
        }
    }
}

/// An organization's limits for one model and where each comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLimits {
    pub limits: RateLimits,
    base: LimitSource,
    custom: RateLimits,
}

impl ResolvedLimits {
    pub fn source(&self, d: Dimension) -> LimitSource {
        if self.custom.get(d).is_some() {
            LimitSource::Custom
        } else {
            self.base.clone()
        }
    }

    /// A project's limits as enforced: the project's own where it sets one, never above the
    /// organization's; dimensions the project does not set are left to the organization's
    /// buckets (`None` here).
    pub fn for_project(&self, project: &RateLimits) -> RateLimits {
        let mut out = RateLimits::default();
        for (d, v) in project.iter() {
            let capped = match self.limits.get(d) {
                Some(org) => v.min(org),
                None => v,
            };
            out.set(d, Some(capped));
        }
        out
    }
}

/// The organization's limits: `base` (the tier's or the catalog's, named by `source`) with
/// the operator's `custom` override on top.
pub fn resolve(
    source: LimitSource,
    base: RateLimits,
    custom: Option<&RateLimits>,
) -> ResolvedLimits {
    let custom = custom.copied().unwrap_or_default();
    ResolvedLimits {
        limits: base.overlaid(&custom),
        base: source,
        custom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Limits;

    fn payg() -> RateLimits {
        RateLimits::from(Limits {
            rpm: 600,
            tpm: 400_000,
            rpd: 50_000,
            tpd: 20_000_000,
        })
    }

    #[test]
    fn the_catalog_or_the_tier_then_the_override() {
        let r = resolve(LimitSource::PayAsYouGo, payg(), None);
        assert_eq!(r.limits, payg());
        assert_eq!(r.source(Dimension::RPM), LimitSource::PayAsYouGo);

        let tier = RateLimits {
            rpm: Some(1_200),
            ..payg()
        };
        let custom = RateLimits {
            tpm: Some(9),
            rph: Some(100),
            ..RateLimits::default()
        };
        let r = resolve(LimitSource::Tier("pro".into()), tier, Some(&custom));
        assert_eq!(r.limits.rpm, Some(1_200));
        assert_eq!(r.limits.tpm, Some(9));
        assert_eq!(r.limits.rph, Some(100));
        assert_eq!(r.source(Dimension::RPM), LimitSource::Tier("pro".into()));
        assert_eq!(r.source(Dimension::TPM), LimitSource::Custom);
        assert_eq!(r.source(Dimension::TPD).as_str(), "tier");
    }

    #[test]
    fn projects_are_held_below_the_organization() {
        let r = resolve(LimitSource::PayAsYouGo, payg(), None);
        let project = RateLimits {
            rpm: Some(10),
            tpm: Some(900_000),
            rph: Some(7),
            ..RateLimits::default()
        };
        let p = r.for_project(&project);
        assert_eq!(p.rpm, Some(10));
        assert_eq!(p.tpm, Some(400_000), "capped at the organization's");
        assert_eq!(p.rph, Some(7), "the organization does not limit RPH");
        assert_eq!(p.rpd, None, "left to the organization's bucket");
    }
}
