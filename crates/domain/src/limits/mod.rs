//! Rate limits (DESIGN §2 "Usage and rate limits"): requests and tokens per minute, hour and
//! day, each enforced by a token bucket that refills continuously (`bucket`), and where the
//! numbers come from (`resolve`): the catalog's pay-as-you-go limits, a subscribed tier, an
//! operator's override, and project limits that may only be lower than the organization's.

pub mod bucket;
pub mod resolve;
pub mod spend;

use std::fmt;

pub use bucket::{Bucket, BucketState};
pub use resolve::{resolve, LimitSource, ResolvedLimits};

use crate::catalog;

/// The largest limit accepted for any dimension. Bucket levels are kept in unit·milliseconds
/// (`bucket`), so a day's bucket of this many tokens still fits an `i64` (10¹¹ × 8.64·10⁷ ms
/// < 9.2·10¹⁸).
pub const MAX_LIMIT: u64 = 100_000_000_000;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Requests,
    Tokens,
}

/// Over how long a limit counts. A bucket refills its whole limit over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    pub const fn ms(self) -> i64 {
        match self {
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// One of the six limited quantities: RPM, RPH, RPD, TPM, TPH, TPD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dimension {
    pub unit: Unit,
    pub window: Window,
}

impl Dimension {
    pub const RPM: Self = Self::new(Unit::Requests, Window::Minute);
    pub const RPH: Self = Self::new(Unit::Requests, Window::Hour);
    pub const RPD: Self = Self::new(Unit::Requests, Window::Day);
    pub const TPM: Self = Self::new(Unit::Tokens, Window::Minute);
    pub const TPH: Self = Self::new(Unit::Tokens, Window::Hour);
    pub const TPD: Self = Self::new(Unit::Tokens, Window::Day);
    /// Every dimension, in the order pages and commands show them.
    pub const ALL: [Self; 6] = [
        Self::RPM,
        Self::RPH,
        Self::RPD,
        Self::TPM,
        Self::TPH,
        Self::TPD,
    ];

    const fn new(unit: Unit, window: Window) -> Self {
        Self { unit, window }
    }

    /// `rpm`, `tph`, …: the name in commands, JSON and the database.
    pub const fn abbreviation(self) -> &'static str {
        match (self.unit, self.window) {
            (Unit::Requests, Window::Minute) => "rpm",
            (Unit::Requests, Window::Hour) => "rph",
            (Unit::Requests, Window::Day) => "rpd",
            (Unit::Tokens, Window::Minute) => "tpm",
            (Unit::Tokens, Window::Hour) => "tph",
            (Unit::Tokens, Window::Day) => "tpd",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.abbreviation().eq_ignore_ascii_case(s))
    }

    /// "requests per minute", "tokens per day", …
    pub fn describe(self) -> String {
        let unit = match self.unit {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
        };
        format!("{unit} per {}", self.window.as_str())
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.abbreviation().to_ascii_uppercase())
    }
}

/// A value for each dimension; `None`: not limited in that dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub rpm: Option<u64>,
    pub rph: Option<u64>,
    pub rpd: Option<u64>,
    pub tpm: Option<u64>,
    pub tph: Option<u64>,
    pub tpd: Option<u64>,
}

/// Why a set of limits was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("unknown limit '{0}': use rpm, rph, rpd, tpm, tph or tpd")]
    UnknownDimension(String),
    #[error("{0} must be a whole number from 1 to {MAX_LIMIT}")]
    OutOfRange(Dimension),
    #[error("'{0}' is not of the form rpm=600")]
    Malformed(String),
    #[error("{dimension} {value} is above the organization's {org} for this model")]
    AboveOrganization {
        dimension: Dimension,
        value: u64,
        org: u64,
    },
}

impl RateLimits {
    pub fn get(&self, d: Dimension) -> Option<u64> {
        *self.slot(d)
    }

    pub fn set(&mut self, d: Dimension, value: Option<u64>) {
        let slot = match (d.unit, d.window) {
            (Unit::Requests, Window::Minute) => &mut self.rpm,
            (Unit::Requests, Window::Hour) => &mut self.rph,
            (Unit::Requests, Window::Day) => &mut self.rpd,
            (Unit::Tokens, Window::Minute) => &mut self.tpm,
            (Unit::Tokens, Window::Hour) => &mut self.tph,
            (Unit::Tokens, Window::Day) => &mut self.tpd,
        };
        *slot = value;
    }

    fn slot(&self, d: Dimension) -> &Option<u64> {
        match (d.unit, d.window) {
            (Unit::Requests, Window::Minute) => &self.rpm,
            (Unit::Requests, Window::Hour) => &self.rph,
            (Unit::Requests, Window::Day) => &self.rpd,
            (Unit::Tokens, Window::Minute) => &self.tpm,
            (Unit::Tokens, Window::Hour) => &self.tph,
            (Unit::Tokens, Window::Day) => &self.tpd,
        }
    }

    /// The dimensions that are limited, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (Dimension, u64)> + '_ {
        Dimension::ALL
            .into_iter()
            .filter_map(|d| self.get(d).map(|v| (d, v)))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Checks every value is within 1..=`MAX_LIMIT` (a limit of 0 would refuse everything:
    /// suspending an organization is the way to do that).
    pub fn validate(&self) -> Result<(), LimitError> {
        match self.iter().find(|(_, v)| *v == 0 || *v > MAX_LIMIT) {
            Some((d, _)) => Err(LimitError::OutOfRange(d)),
            None => Ok(()),
        }
    }

    /// `self` with each dimension that `over` sets replaced by `over`'s value.
    pub fn overlaid(&self, over: &RateLimits) -> RateLimits {
        let mut out = *self;
        for (d, v) in over.iter() {
            out.set(d, Some(v));
        }
        out
    }

    /// Refuses a project's limits that are above the organization's in any dimension the
    /// organization limits.
    pub fn check_within(&self, org: &RateLimits) -> Result<(), LimitError> {
        for (dimension, value) in self.iter() {
            if let Some(org) = org.get(dimension) {
                if value > org {
                    return Err(LimitError::AboveOrganization {
                        dimension,
                        value,
                        org,
                    });
                }
            }
        }
        Ok(())
    }

    /// Parses `rpm=600 tpm=100000 …` (one assignment per argument), as the operator types
    /// them. A dimension given twice keeps the last value.
    pub fn parse_assignments<S: AsRef<str>>(args: &[S]) -> Result<RateLimits, LimitError> {
        let mut out = RateLimits::default();
        for arg in args {
            let arg = arg.as_ref().trim();
            let (name, value) = arg
                .split_once('=')
                .ok_or_else(|| LimitError::Malformed(arg.to_owned()))?;
            let d = Dimension::parse(name.trim())
                .ok_or_else(|| LimitError::UnknownDimension(name.trim().to_owned()))?;
            let digits = value.trim().replace('_', "");
            let v: u64 = digits.parse().map_err(|_| LimitError::OutOfRange(d))?;
            out.set(d, Some(v));
        }
        out.validate()?;
        Ok(out)
    }
}

impl From<catalog::Limits> for RateLimits {
    fn from(l: catalog::Limits) -> Self {
        Self {
            rpm: Some(l.rpm),
            rph: None,
            rpd: Some(l.rpd),
            tpm: Some(l.tpm),
            tph: None,
            tpd: Some(l.tpd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_and_are_bounded() {
        let l = RateLimits::parse_assignments(&["rpm=60", "TPM=100_000", "tpd = 5"]).unwrap();
        assert_eq!(
            l,
            RateLimits {
                rpm: Some(60),
                tpm: Some(100_000),
                tpd: Some(5),
                ..RateLimits::default()
            }
        );
        assert_eq!(
            RateLimits::parse_assignments(&["rpx=1"]),
            Err(LimitError::UnknownDimension("rpx".into()))
        );
        assert_eq!(
            RateLimits::parse_assignments(&["rpm"]),
            Err(LimitError::Malformed("rpm".into()))
        );
        for bad in ["rpm=0", "rpm=-1", "rpm=1.5", "rpm=100000000001", "rpm="] {
            assert_eq!(
                RateLimits::parse_assignments(&[bad]),
                Err(LimitError::OutOfRange(Dimension::RPM)),
                "{bad}"
            );
        }
    }

    #[test]
    fn projects_stay_within_the_organization() {
        let org = RateLimits {
            rpm: Some(60),
            tpm: Some(1000),
            ..RateLimits::default()
        };
        let ok = RateLimits {
            rpm: Some(60),
            tpm: Some(10),
            rpd: Some(5),
            ..RateLimits::default()
        };
        assert_eq!(ok.check_within(&org), Ok(()));
        let above = RateLimits {
            tpm: Some(1001),
            ..RateLimits::default()
        };
        assert_eq!(
            above.check_within(&org),
            Err(LimitError::AboveOrganization {
                dimension: Dimension::TPM,
                value: 1001,
                org: 1000
            })
        );
    }

    #[test]
    fn overlays_replace_only_what_they_set() {
        let base = RateLimits::from(catalog::Limits {
            rpm: 600,
            tpm: 400_000,
            rpd: 50_000,
            tpd: 20_000_000,
        });
        let over = RateLimits {
            rpm: Some(5),
            rph: Some(100),
            ..RateLimits::default()
        };
        let l = base.overlaid(&over);
        assert_eq!(
            (l.rpm, l.rph, l.tpm, l.tph),
            (Some(5), Some(100), Some(400_000), None)
        );
        assert_eq!(Dimension::TPH.describe(), "tokens per hour");
        assert_eq!(Dimension::RPD.to_string(), "RPD");
    }
}
