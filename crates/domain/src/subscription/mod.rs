//! Subscriptions' rules (DESIGN §2 "Subscriptions"), without I/O: statuses, the calendar-month
//! billing period, what a change of tier is, and the renewal retry schedule.

mod change;
mod pricing;

use chrono::{DateTime, Datelike, Months, Utc};

pub use change::{plan_change, sold_out, ChangePlan, ChangeRefusal, ChangeRequest, ChangeState};
pub use pricing::{tier_change_charge, upgrade_charge};

use crate::clock::to_datetime;
use crate::text_enum::text_enum;
use crate::{Money, Timestamp};

/// Failed renewals are retried once a day for this many days; the last failure cancels.
pub const RENEWAL_RETRIES: i64 = 3;
pub const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    /// Created, its first charge not settled yet: holds its seat, entitles to nothing.
    Incomplete,
    Active,
    /// A renewal failed; retried daily, still entitled meanwhile.
    PastDue,
    Canceled,
}

text_enum!(SubscriptionStatus, "status", Incomplete => "incomplete", Active => "active", PastDue => "past_due", Canceled => "canceled");

impl SubscriptionStatus {
    /// Whether requests for the model are covered by the subscription.
    pub fn entitles(self) -> bool {
        matches!(self, Self::Active | Self::PastDue)
    }
}

/// `anchor` plus `months` calendar months, the day clamped to the month's length (Jan 31 + 1
/// month = Feb 28 or 29), the time of day kept. Counting from the anchor rather than from the
/// previous period keeps a subscription started on the 31st renewing on the 31st (Mar 31, not
/// Mar 28).
pub fn add_months(anchor: Timestamp, months: u32) -> Timestamp {
    let start: DateTime<Utc> = to_datetime(anchor);
    start
        .checked_add_months(Months::new(months))
        .map_or(anchor, |d| d.timestamp_millis())
}

/// The `index`-th period (0 = the first) of a subscription started at `anchor`: one calendar
/// month each, from `add_months(anchor, index)` to `add_months(anchor, index + 1)`.
pub fn period(anchor: Timestamp, index: u32) -> (Timestamp, Timestamp) {
    (add_months(anchor, index), add_months(anchor, index + 1))
}

/// The calendar day of a timestamp, for messages ("changes on May 8, 2026").
pub fn day_label(at: Timestamp) -> String {
    let d = to_datetime(at);
    format!("{} {}, {}", d.format("%B"), d.day(), d.year())
}

/// A request to move a subscription to another tier of its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierChange {
    /// Dearer: takes effect at once, the prorated difference is charged now.
    Upgrade,
    /// Cheaper or the same price: takes effect at the end of the period, nothing charged now.
    Downgrade,
}

pub fn classify_change(current_price: Money, new_price: Money) -> TierChange {
    if new_price > current_price {
        TierChange::Upgrade
    } else {
        TierChange::Downgrade
    }
}

/// What a failed renewal leads to, given the retries already made in this period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Past due; try again at this time.
    RetryAt(Timestamp),
    /// Retries exhausted: canceled.
    Cancel,
}

/// The retry schedule: the first failure (at the period's end, `retries_done` = 0) and each of
/// the daily retries after it, until `RENEWAL_RETRIES` retries have failed.
pub fn after_failed_renewal(period_end: Timestamp, retries_done: i64) -> AfterFailure {
    if retries_done >= RENEWAL_RETRIES {
        AfterFailure::Cancel
    } else {
        AfterFailure::RetryAt(period_end + (retries_done + 1) * DAY_MS)
    }
}

/// When a past-due subscription is canceled if no retry succeeds.
pub fn retry_deadline(period_end: Timestamp) -> Timestamp {
    period_end + RENEWAL_RETRIES * DAY_MS
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, m, d, h, 30, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn periods_are_calendar_months_clamped_to_the_month_end() {
        let jan31 = at(2025, 1, 31, 9);
        assert_eq!(add_months(jan31, 1), at(2025, 2, 28, 9));
        assert_eq!(add_months(jan31, 2), at(2025, 3, 31, 9), "back to the 31st");
        assert_eq!(
            add_months(at(2024, 1, 31, 9), 1),
            at(2024, 2, 29, 9),
            "leap"
        );
        assert_eq!(add_months(at(2025, 12, 15, 0), 1), at(2026, 1, 15, 0));
        assert_eq!(period(jan31, 1), (at(2025, 2, 28, 9), at(2025, 3, 31, 9)));
        assert_eq!(
            period(at(2025, 5, 8, 14), 0),
            (at(2025, 5, 8, 14), at(2025, 6, 8, 14))
        );
        assert_eq!(day_label(at(2026, 5, 8, 14)), "May 8, 2026");
    }

    #[test]
    fn dearer_tiers_are_upgrades_and_others_wait_for_the_period_end() {
        assert_eq!(
            classify_change(
                Money::from_micros(29_000_000),
                Money::from_micros(199_000_000)
            ),
            TierChange::Upgrade
        );
        assert_eq!(
            classify_change(
                Money::from_micros(199_000_000),
                Money::from_micros(29_000_000)
            ),
            TierChange::Downgrade
        );
        assert_eq!(
            classify_change(Money::from_micros(10), Money::from_micros(10)),
            TierChange::Downgrade
        );
    }

    #[test]
    fn failed_renewals_are_retried_daily_three_times_then_canceled() {
        let end = 1_000;
        assert_eq!(
            after_failed_renewal(end, 0),
            AfterFailure::RetryAt(end + DAY_MS)
        );
        assert_eq!(
            after_failed_renewal(end, 1),
            AfterFailure::RetryAt(end + 2 * DAY_MS)
        );
        assert_eq!(
            after_failed_renewal(end, 2),
            AfterFailure::RetryAt(end + 3 * DAY_MS)
        );
        assert_eq!(after_failed_renewal(end, 3), AfterFailure::Cancel);
        assert_eq!(retry_deadline(end), end + 3 * DAY_MS);
    }

    #[test]
    fn statuses_round_trip_and_only_live_ones_entitle() {
        for s in SubscriptionStatus::ALL {
            assert_eq!(s.as_str().parse::<SubscriptionStatus>(), Ok(s));
        }
        assert!(SubscriptionStatus::Active.entitles());
        assert!(SubscriptionStatus::PastDue.entitles());
        assert!(!SubscriptionStatus::Incomplete.entitles());
        assert!(!SubscriptionStatus::Canceled.entitles());
        assert!("paused".parse::<SubscriptionStatus>().is_err());
    }
}
