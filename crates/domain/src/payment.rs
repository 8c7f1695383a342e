//! Payments (DESIGN §2 "Payments", "Auto-recharge"): what a payment is for, where it stands,
//! and the rules billing applies before any money moves. No I/O.

use chrono::Datelike;

use crate::text_enum::text_enum;
use crate::{Money, Timestamp, ValidationError};

/// What a payment pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentKind {
    /// Credits bought by a person ("Add Credits").
    Purchase,
    /// Credits bought by auto-recharge when available credit fell below the threshold.
    AutoRecharge,
    /// A subscription's monthly price, an upgrade's prorated difference.
    Subscription,
}

/// Where a payment stands. `pending` until the provider's answer is written; then final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
}

text_enum!(PaymentKind, "kind", Purchase => "purchase", AutoRecharge => "auto_recharge", Subscription => "subscription");
text_enum!(PaymentStatus, "status", Pending => "pending", Succeeded => "succeeded", Failed => "failed");

/// Micro-USD in one cent: what card payments can move.
pub const MICROS_PER_CENT: i64 = 10_000;

/// The smallest charge Stripe accepts in USD: $0.50. The sandbox refuses below it too, so that a
/// flow tested on the sandbox does not fail in production.
pub const MIN_CHARGE_MICROS: i64 = 50 * MICROS_PER_CENT;

/// [`MIN_CHARGE_MICROS`] as an amount.
pub const MIN_CHARGE: Money = Money::from_micros(MIN_CHARGE_MICROS);

/// The largest charge Stripe accepts in USD: $999,999.99 (eight digits of cents).
pub const MAX_CHARGE_MICROS: i64 = 99_999_999 * MICROS_PER_CENT;

/// Parses a USD amount typed by a person or sent in JSON, for a payment: a decimal string
/// (`"25"`, `"25.50"`), whole cents, between `min` and `max` inclusive.
pub fn parse_payment_amount(
    field: &'static str,
    raw: &str,
    min: Money,
    max: Money,
) -> Result<Money, ValidationError> {
    let raw = raw.trim();
    if raw.starts_with('-') {
        return Err(ValidationError::new(field, "The amount must be positive."));
    }
    let amount = Money::parse_usd(field, raw)?;
    check_payment_amount(field, amount, min, max)
}

/// Checks a payment amount already in micro-USD: whole cents, between `min` and `max`.
pub fn check_payment_amount(
    field: &'static str,
    amount: Money,
    min: Money,
    max: Money,
) -> Result<Money, ValidationError> {
    if amount.micros() <= 0 {
        return Err(ValidationError::new(field, "The amount must be positive."));
    }
    if amount.micros() % MICROS_PER_CENT != 0 {
        return Err(ValidationError::new(
            field,
            "The amount must be whole cents (at most two decimals).",
        ));
    }
    if amount < min {
        return Err(ValidationError::new(
            field,
            format!("The smallest amount is ${min}."),
        ));
    }
    if amount > max {
        return Err(ValidationError::new(
            field,
            format!("The largest amount is ${max}."),
        ));
    }
    Ok(amount)
}

/// Auto-recharge settings as an org admin sets them: `recharge_to` must exceed `threshold`,
/// both whole cents; the charge `recharge_to − balance` must be a chargeable amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoRecharge {
    pub threshold: Money,
    pub recharge_to: Money,
}

impl AutoRecharge {
    /// `max` bounds `recharge_to` (the largest purchase); `threshold` may be zero.
    pub fn new(threshold: Money, recharge_to: Money, max: Money) -> Result<Self, ValidationError> {
        for (field, amount) in [("threshold", threshold), ("recharge_to", recharge_to)] {
            if amount.micros() < 0 {
                return Err(ValidationError::new(
                    field,
                    "The amount must not be negative.",
                ));
            }
            if amount.micros() % MICROS_PER_CENT != 0 {
                return Err(ValidationError::new(
                    field,
                    "The amount must be whole cents (at most two decimals).",
                ));
            }
        }
        if recharge_to <= threshold {
            return Err(ValidationError::new(
                "recharge_to",
                "The recharge-to amount must be greater than the threshold.",
            ));
        }
        if recharge_to > max {
            return Err(ValidationError::new(
                "recharge_to",
                format!("The recharge-to amount may be at most ${max}."),
            ));
        }
        Ok(Self {
            threshold,
            recharge_to,
        })
    }

    /// What a recharge charges when the balance is `balance`: `recharge_to − balance`, rounded
    /// up to whole cents, at least `min_charge`. `None` when the balance already reaches
    /// `recharge_to` (nothing to do), or when the top-up is past what an amount can hold (out
    /// of reach: balances are bounded far below it; no charge is better than a wrong one).
    pub fn charge_for(self, balance: Money, min_charge: Money) -> Option<Money> {
        let missing = self.recharge_to.checked_sub(balance)?.micros();
        if missing <= 0 {
            return None;
        }
        let cents = missing / MICROS_PER_CENT + i64::from(missing % MICROS_PER_CENT != 0);
        let whole_cents = Money::from_micros(cents.checked_mul(MICROS_PER_CENT)?);
        Some(whole_cents.max(min_charge))
    }
}

/// Why an automatic charge is not made (issue 9): it is recorded as a failed payment, counts
/// toward turning auto-recharge off and is emailed to the admins, like a decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RechargeRefusal {
    /// Topping up would take more than one charge may (the purchase maximum).
    AboveMaximum { needed: Money, max: Money },
    /// This month's automatic charges with this one would pass the organization's cap.
    MonthlyCap {
        needed: Money,
        cap: Money,
        charged: Money,
    },
}

impl RechargeRefusal {
    /// The failure code stored on the payment.
    pub fn code(self) -> &'static str {
        match self {
            Self::AboveMaximum { .. } => "amount_too_large",
            Self::MonthlyCap { .. } => "monthly_cap_reached",
        }
    }

    /// What the admins read.
    pub fn message(self) -> String {
        match self {
            Self::AboveMaximum { needed, max } => format!(
                "Topping up needs ${needed}, more than the ${max} one automatic charge may take. Add credits by hand."
            ),
            Self::MonthlyCap {
                needed,
                cap,
                charged,
            } => format!(
                "Topping up needs ${needed}, but ${charged} of this month's ${cap} auto-recharge cap is used. Raise the cap or add credits by hand."
            ),
        }
    }
}

impl AutoRecharge {
    /// The charge to make at `balance`, within the ceilings: `Ok(None)` when nothing is to be
    /// done, `Err` when the charge may not be made: above `max_charge` (the purchase maximum), or
    /// past `monthly_cap` given what was `charged_this_month` already.
    pub fn plan_charge(
        self,
        balance: Money,
        min_charge: Money,
        max_charge: Money,
        monthly_cap: Option<Money>,
        charged_this_month: Money,
    ) -> Result<Option<Money>, RechargeRefusal> {
        let Some(needed) = self.charge_for(balance, min_charge) else {
            return Ok(None);
        };
        if needed > max_charge {
            return Err(RechargeRefusal::AboveMaximum {
                needed,
                max: max_charge,
            });
        }
        if let Some(cap) = monthly_cap {
            let after = charged_this_month.checked_add(needed);
            if after.is_none_or(|a| a > cap) {
                return Err(RechargeRefusal::MonthlyCap {
                    needed,
                    cap,
                    charged: charged_this_month,
                });
            }
        }
        Ok(Some(needed))
    }
}

/// The start (UTC) of the calendar month `now` is in: where a monthly cap's count starts.
pub fn month_start(now: Timestamp) -> Timestamp {
    let t = crate::clock::to_datetime(now);
    chrono::NaiveDate::from_ymd_opt(t.year(), t.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(now, |d| d.and_utc().timestamp_millis())
}

/// Parses a monthly auto-recharge cap as typed: whole cents, from one cent to
/// [`MAX_MONTHLY_CAP`]. Empty: no cap.
pub fn parse_monthly_cap(raw: &str) -> Result<Option<Money>, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    parse_payment_amount(
        "monthly_cap",
        raw,
        Money::from_micros(MICROS_PER_CENT),
        MAX_MONTHLY_CAP,
    )
    .map(Some)
}

/// The largest monthly auto-recharge cap: $1,000,000.
pub const MAX_MONTHLY_CAP: Money = Money::from_micros(1_000_000 * 1_000_000);

/// How long to wait before retrying a declined auto-recharge after `failures` consecutive
/// failures: `base`, then doubled each time.
pub fn recharge_backoff_ms(failures: i64, base_ms: i64) -> i64 {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    base_ms.saturating_mul(1i64 << doublings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse_usd("x", s).unwrap()
    }

    #[test]
    fn payment_amounts_are_whole_cents_within_bounds() {
        let (min, max) = (usd("10"), usd("10000"));
        assert_eq!(
            parse_payment_amount("amount", "25", min, max).unwrap(),
            usd("25")
        );
        assert_eq!(
            parse_payment_amount("amount", "10.50", min, max).unwrap(),
            usd("10.5")
        );
        for bad in [
            "-5",
            "0",
            "0.00",
            "9.99",
            "10.001",
            "10000.01",
            "1e3",
            "abc",
            "",
            "99999999999999999",
        ] {
            assert!(
                parse_payment_amount("amount", bad, min, max).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn auto_recharge_needs_recharge_to_above_threshold() {
        let max = usd("10000");
        assert!(AutoRecharge::new(usd("10"), usd("50"), max).is_ok());
        assert!(AutoRecharge::new(usd("50"), usd("50"), max).is_err());
        assert!(AutoRecharge::new(usd("60"), usd("50"), max).is_err());
        assert!(AutoRecharge::new(usd("10"), usd("10001"), max).is_err());
        assert!(AutoRecharge::new(usd("10.001"), usd("50"), max).is_err());
        assert!(AutoRecharge::new(Money::from_micros(-1), usd("50"), max).is_err());
    }

    #[test]
    fn a_recharge_tops_up_to_recharge_to_in_whole_cents() {
        let ar = AutoRecharge::new(usd("10"), usd("50"), usd("10000")).unwrap();
        let m = Money::from_micros;
        assert_eq!(ar.charge_for(usd("5"), MIN_CHARGE), Some(usd("45")));
        // Rounded up to the cent: never below recharge_to.
        assert_eq!(ar.charge_for(m(5_000_001), MIN_CHARGE), Some(m(45_000_000)));
        assert_eq!(
            ar.charge_for(m(-2_000_000), MIN_CHARGE),
            Some(m(52_000_000))
        );
        assert_eq!(ar.charge_for(usd("50"), MIN_CHARGE), None);
        assert_eq!(ar.charge_for(usd("49.90"), MIN_CHARGE), Some(m(500_000)));
        // A top-up past what an amount holds is not charged.
        assert_eq!(ar.charge_for(m(i64::MIN), MIN_CHARGE), None);
        assert_eq!(
            ar.charge_for(m(usd("50").micros() - i64::MAX), MIN_CHARGE),
            None
        );
    }

    #[test]
    fn automatic_charges_stay_under_the_maximum_and_the_monthly_cap() {
        let ar = AutoRecharge::new(usd("20"), usd("50"), usd("10000")).unwrap();
        let max = usd("10000");
        let m = Money::from_micros;
        // Issue 9: a $200,000 debt is not charged to the card.
        assert_eq!(
            ar.plan_charge(m(-199_950_000_000), MIN_CHARGE, max, None, Money::ZERO),
            Err(RechargeRefusal::AboveMaximum {
                needed: usd("200000"),
                max
            })
        );
        assert_eq!(
            ar.plan_charge(usd("5"), MIN_CHARGE, max, None, Money::ZERO),
            Ok(Some(usd("45")))
        );
        assert_eq!(
            ar.plan_charge(m(-9_950_000_000), MIN_CHARGE, max, None, Money::ZERO),
            Ok(Some(max)),
            "exactly the maximum is allowed"
        );
        assert_eq!(
            ar.plan_charge(usd("60"), MIN_CHARGE, max, None, Money::ZERO),
            Ok(None)
        );
        let cap = Some(usd("100"));
        assert_eq!(
            ar.plan_charge(usd("5"), MIN_CHARGE, max, cap, usd("55")),
            Ok(Some(usd("45"))),
            "reaching the cap exactly is allowed"
        );
        let refused = ar.plan_charge(usd("5"), MIN_CHARGE, max, cap, usd("55.01"));
        assert_eq!(
            refused,
            Err(RechargeRefusal::MonthlyCap {
                needed: usd("45"),
                cap: usd("100"),
                charged: usd("55.01")
            })
        );
        assert_eq!(refused.unwrap_err().code(), "monthly_cap_reached");
        assert!(ar
            .plan_charge(usd("5"), MIN_CHARGE, max, cap, Money::from_micros(i64::MAX))
            .is_err());
    }

    #[test]
    fn monthly_caps_and_months() {
        assert_eq!(parse_monthly_cap(""), Ok(None));
        assert_eq!(parse_monthly_cap(" 250 "), Ok(Some(usd("250"))));
        for bad in ["0", "-5", "0.001", "1000000.01", "abc"] {
            assert!(parse_monthly_cap(bad).is_err(), "{bad}");
        }
        // 2026-12-03T09:55:05Z → 2026-12-01T00:00:00Z.
        assert_eq!(month_start(1_796_291_705_000), 1_796_083_200_000);
        assert_eq!(month_start(1_796_083_200_000), 1_796_083_200_000);
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(recharge_backoff_ms(1, 1000), 1000);
        assert_eq!(recharge_backoff_ms(2, 1000), 2000);
        assert_eq!(recharge_backoff_ms(3, 1000), 4000);
        assert_eq!(recharge_backoff_ms(0, 1000), 1000);
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for k in PaymentKind::ALL {
            assert_eq!(k.as_str().parse::<PaymentKind>().unwrap(), k);
        }
        for s in PaymentStatus::ALL {
            assert_eq!(s.as_str().parse::<PaymentStatus>().unwrap(), s);
        }
        assert!("refunded".parse::<PaymentStatus>().is_err());
    }
}
