//! Monthly spend limits (DESIGN §2 "Usage and rate limits", docs/limits.md): what an
//! organization, a project or an API key may spend in a calendar month (UTC), and the alert
//! thresholds at which the organization's admins are emailed.

use std::fmt;

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;
use crate::validate::ValidationError;
use crate::{Money, Timestamp};

/// What a spend limit caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpendScope {
    Organization,
    Project,
    ApiKey,
}

text_enum!(SpendScope, "spend limit scope", Organization => "organization", Project => "project", ApiKey => "api_key");

/// The largest monthly spend limit: $1,000,000 (as the auto-recharge cap).
pub const MAX_SPEND_LIMIT: Money = Money::from_micros(1_000_000 * 1_000_000);

/// At most this many alert thresholds per limit.
pub const MAX_THRESHOLDS: usize = 10;

/// The thresholds a new limit gets: 50 %, 80 % and 100 %.
pub const DEFAULT_THRESHOLDS: [u8; 3] = [50, 80, 100];

/// The calendar month (UTC) `now` is in, as `YYYY-MM`: the period a spend limit counts over.
pub fn period_of(now: Timestamp) -> String {
    let t = crate::clock::to_datetime(now);
    format!("{:04}-{:02}", t.year(), t.month())
}

/// A monthly limit as typed: a positive amount of at most [`MAX_SPEND_LIMIT`].
pub fn check_limit(amount: Money) -> Result<Money, ValidationError> {
    if !amount.is_positive() || amount > MAX_SPEND_LIMIT {
        return Err(ValidationError::new(
            "monthly_limit",
            "must be more than $0 and at most $1,000,000",
        ));
    }
    Ok(amount)
}

/// Alert thresholds in percent of the limit: distinct, each from 1 to 100, at most
/// [`MAX_THRESHOLDS`]; kept sorted. Empty: no alerts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Thresholds(Vec<u8>);

impl Thresholds {
    pub fn default_set() -> Self {
        Self(DEFAULT_THRESHOLDS.to_vec())
    }

    pub fn new(percents: &[i64]) -> Result<Self, ValidationError> {
        if percents.len() > MAX_THRESHOLDS {
            return Err(ValidationError::new(
                "alert_thresholds",
                "at most 10 thresholds",
            ));
        }
        let mut out = Vec::with_capacity(percents.len());
        for p in percents {
            let p = u8::try_from(*p)
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| {
                    ValidationError::new("alert_thresholds", "each must be from 1 to 100 (percent)")
                })?;
            if out.contains(&p) {
                return Err(ValidationError::new(
                    "alert_thresholds",
                    "each threshold may be given once",
                ));
            }
            out.push(p);
        }
        out.sort_unstable();
        Ok(Self(out))
    }

    /// Parses the comma-separated form they are stored and typed in (`50,80,100`; spaces and a
    /// trailing `%` allowed; empty: none).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut percents = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if percents.len() >= MAX_THRESHOLDS {
                return Err(ValidationError::new(
                    "alert_thresholds",
                    "at most 10 thresholds",
                ));
            }
            let n = part.trim_end_matches('%').trim();
            let n: i64 = n.parse().map_err(|_| {
                ValidationError::new(
                    "alert_thresholds",
                    "percentages separated by commas, e.g. 50, 80, 100",
                )
            })?;
            percents.push(n);
        }
        Self::new(&percents)
    }

    pub fn percents(&self) -> &[u8] {
        &self.0
    }

    /// The thresholds `spent` of `limit` has reached (spent · 100 ≥ limit · percent).
    pub fn reached(&self, spent: Money, limit: Money) -> Vec<u8> {
        let spent = i128::from(spent.micros()) * 100;
        self.0
            .iter()
            .copied()
            .filter(|p| spent >= i128::from(limit.micros()) * i128::from(*p))
            .collect()
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u8::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_months_utc() {
        // 2026-01-31T23:59:59.999Z and one millisecond later.
        assert_eq!(period_of(1_769_903_999_999), "2026-01");
        assert_eq!(period_of(1_769_904_000_000), "2026-02");
    }

    #[test]
    fn thresholds_are_bounded_distinct_and_sorted() {
        assert_eq!(
            Thresholds::parse(" 100, 50%,80 ").unwrap().percents(),
            [50, 80, 100]
        );
        assert_eq!(Thresholds::parse("").unwrap().percents(), [] as [u8; 0]);
        for bad in ["0", "101", "50,50", "x", "-5", "1,2,3,4,5,6,7,8,9,10,11"] {
            assert!(Thresholds::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Thresholds::default_set().to_string(), "50,80,100");
    }

    #[test]
    fn reached_thresholds_count_exactly() {
        let t = Thresholds::default_set();
        let m = Money::from_micros;
        assert_eq!(t.reached(m(499_999), m(1_000_000)), [] as [u8; 0]);
        assert_eq!(t.reached(m(500_000), m(1_000_000)), [50]);
        assert_eq!(t.reached(m(999_999), m(1_000_000)), [50, 80]);
        assert_eq!(t.reached(m(1_000_000), m(1_000_000)), [50, 80, 100]);
        assert_eq!(t.reached(m(i64::MAX), MAX_SPEND_LIMIT), [50, 80, 100]);
    }

    #[test]
    fn limits_are_bounded() {
        assert!(check_limit(Money::ZERO).is_err());
        assert!(check_limit(Money::from_micros(MAX_SPEND_LIMIT.micros() + 1)).is_err());
        assert!(check_limit(Money::from_micros(1)).is_ok());
    }
}
