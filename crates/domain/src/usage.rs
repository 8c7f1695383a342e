//! Usage records' rules (decision 0007), the same for usage reported by inference servers and
//! usage metered by the gateway: the bounds a record must meet before it may touch the ledger,
//! and its exact price.
//!
//! Prices are micro-USD per million tokens, so `tokens × price` is exact in pico-USD
//! (10⁻¹² USD, a millionth of a micro-dollar). A record's cost is kept in that unit
//! ([`UsageCost`]); the ledger debits whole micro-dollars and carries what is left below one per
//! organization ([`carry_whole_micros`]), so that what an organization is charged over any number
//! of records is Σ tokens × price to within one micro-dollar.

use crate::catalog::Pricing;
use crate::{Money, Timestamp, ValidationError};

/// Pico-USD in one micro-USD.
pub const PICOS_PER_MICRO: i64 = 1_000_000;

/// The most tokens (input + output) one record may count, whatever a model's context length:
/// ten million, the largest context windows offered today. A record is also bounded by its
/// model's context length, which is smaller for every model of the example catalog.
pub const MAX_RECORD_TOKENS: i64 = 10_000_000;

/// How long after the fact usage may still be recorded: a reporting server that was cut off
/// for a few days catches up; older records are refused rather than rewrite closed days.
pub const MAX_RECORD_AGE_MS: i64 = 7 * 86_400_000;

/// The fewest days raw usage records may be kept (`usage_retention_days`): every record that
/// may still be sent again ([`MAX_RECORD_AGE_MS`], 7 days) is still stored, so that its id, the
/// usage record's primary key, turns the replay away. A record is stored and debited exactly
/// once by that key alone (the ledger sums a batch's records in one entry). One day more than
/// the 7: pruning runs by whole UTC days, and a report checked just before midnight may be
/// written just after the pruning of that midnight, or by a process whose clock runs ahead.
pub const MIN_RETENTION_DAYS: u32 = 8;

/// How far ahead of this server's clock a record's time may be (the reporter's clock skew).
pub const MAX_RECORD_LEAD_MS: i64 = 5 * 60_000;

/// Prices of one model in micro-USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPrices {
    pub input: i64,
    pub cached_input: i64,
    pub output: i64,
}

impl From<Pricing> for TokenPrices {
    fn from(p: Pricing) -> Self {
        Self {
            input: p.input.micros(),
            cached_input: p.cached_input.micros(),
            output: p.output.micros(),
        }
    }
}

/// The token counts of one record. `cached_input` is the part of `input` served from cache (as
/// in OpenAI's usage object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    pub input: i64,
    pub cached_input: i64,
    pub output: i64,
}

impl TokenCounts {
    /// Checks the counts of a record for a model with `context_length`: none negative, the
    /// cached part within the input, input + output within the context length and within
    /// [`MAX_RECORD_TOKENS`].
    pub fn check(self, context_length: u64) -> Result<Self, ValidationError> {
        if self.input < 0 || self.cached_input < 0 || self.output < 0 {
            return Err(ValidationError::new(
                "tokens",
                "Token counts cannot be negative.",
            ));
        }
        if self.cached_input > self.input {
            return Err(ValidationError::new(
                "cached_input_tokens",
                "cached_input_tokens is the cached part of input_tokens and cannot exceed it.",
            ));
        }
        let most = i64::try_from(context_length)
            .unwrap_or(i64::MAX)
            .min(MAX_RECORD_TOKENS);
        match self.input.checked_add(self.output) {
            Some(total) if total <= most => Ok(self),
            _ => Err(ValidationError::new(
                "tokens",
                format!("input_tokens + output_tokens may be at most {most} for this model."),
            )),
        }
    }
}

/// Checks a record's time: at most [`MAX_RECORD_AGE_MS`] before `now` and
/// [`MAX_RECORD_LEAD_MS`] after it.
pub fn check_occurred_at(
    occurred_at: Timestamp,
    now: Timestamp,
) -> Result<Timestamp, ValidationError> {
    let earliest = now.saturating_sub(MAX_RECORD_AGE_MS);
    let latest = now.saturating_add(MAX_RECORD_LEAD_MS);
    if occurred_at < earliest || occurred_at > latest {
        return Err(ValidationError::new(
            "timestamp",
            "timestamp must lie within the last 7 days (and at most 5 minutes ahead of the server's clock).",
        ));
    }
    Ok(occurred_at)
}

/// The exact cost of a usage record in pico-USD. Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UsageCost(i64);

impl UsageCost {
    pub const ZERO: UsageCost = UsageCost(0);

    /// `None` for a negative amount: a cost is never one.
    pub fn from_picos(picos: i64) -> Option<Self> {
        (picos >= 0).then_some(Self(picos))
    }

    pub fn picos(self) -> i64 {
        self.0
    }

    /// The cost rounded half up to the micro-dollar, as a single record is shown.
    pub fn rounded(self) -> Money {
        // Never overflows: picos ≤ i64::MAX, so picos / 10⁶ + 1 is far below it.
        let whole = self.0 / PICOS_PER_MICRO;
        let up = i64::from(self.0 % PICOS_PER_MICRO >= PICOS_PER_MICRO / 2);
        Money::from_micros(whole + up)
    }

    /// The cost rounded up to the micro-dollar: what a reservation must cover.
    pub fn ceil(self) -> Money {
        let whole = self.0 / PICOS_PER_MICRO;
        let up = i64::from(self.0 % PICOS_PER_MICRO > 0);
        Money::from_micros(whole + up)
    }

    /// Σ of two costs; `None` past `i64::MAX` pico-USD.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }
}

/// The exact cost of a record (see the module documentation). Refused when a count is
/// negative, the cached part exceeds the input, or the cost passes `i64::MAX` pico-USD
/// (about $9.2 million for one record). Bounds against the model are [`TokenCounts::check`].
pub fn usage_cost(prices: TokenPrices, tokens: TokenCounts) -> Result<UsageCost, ValidationError> {
    let TokenCounts {
        input,
        cached_input,
        output,
    } = tokens;
    if input < 0 || cached_input < 0 || output < 0 {
        return Err(ValidationError::new(
            "tokens",
            "Token counts cannot be negative.",
        ));
    }
    if cached_input > input {
        return Err(ValidationError::new(
            "cached_input_tokens",
            "cached_input_tokens is the cached part of input_tokens and cannot exceed it.",
        ));
    }
    let too_large = || ValidationError::new("tokens", "The cost of this record is too large.");
    let term = |tokens: i64, price: i64| tokens.checked_mul(price);
    let picos = term(input - cached_input, prices.input)
        .and_then(|a| Some((a, term(cached_input, prices.cached_input)?)))
        .and_then(|(a, b)| a.checked_add(b))
        .and_then(|ab| ab.checked_add(term(output, prices.output)?))
        .ok_or_else(too_large)?;
    UsageCost::from_picos(picos).ok_or_else(too_large)
}

/// Debits `cost` against an organization's `carry` (pico-USD below one micro-dollar, owed by
/// earlier records): the whole micro-dollars to debit now and the carry after, in
/// `0..PICOS_PER_MICRO`. `None` when `carry` is outside that range or the sum overflows.
pub fn carry_whole_micros(carry: i64, cost: UsageCost) -> Option<(i64, i64)> {
    if !(0..PICOS_PER_MICRO).contains(&carry) {
        return None;
    }
    let owed = carry.checked_add(cost.picos())?;
    Some((owed / PICOS_PER_MICRO, owed % PICOS_PER_MICRO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: TokenPrices = TokenPrices {
        input: 850_000,
        cached_input: 425_000,
        output: 1_200_000,
    };

    fn tokens(input: i64, cached_input: i64, output: i64) -> TokenCounts {
        TokenCounts {
            input,
            cached_input,
            output,
        }
    }

    #[test]
    fn usage_is_priced_exactly_in_pico_usd() {
        // 800 × 0.85 + 200 × 0.425 + 500 × 1.2 = 1365 µUSD exactly.
        let c = usage_cost(P, tokens(1_000, 200, 500)).unwrap();
        assert_eq!(c.picos(), 1_365_000_000);
        assert_eq!(c.rounded(), Money::from_micros(1_365));
        // One token is 0.85 µUSD: not nothing.
        let one = usage_cost(P, tokens(1, 0, 0)).unwrap();
        assert_eq!(one.picos(), 850_000);
        assert_eq!((one.rounded().micros(), one.ceil().micros()), (1, 1));
        let cached = usage_cost(P, tokens(1, 1, 0)).unwrap();
        assert_eq!(cached.picos(), 425_000);
        assert_eq!((cached.rounded().micros(), cached.ceil().micros()), (0, 1));
        assert_eq!(usage_cost(P, tokens(0, 0, 0)), Ok(UsageCost::ZERO));
    }

    #[test]
    fn impossible_or_overflowing_counts_are_refused() {
        assert!(usage_cost(P, tokens(10, 11, 0)).is_err());
        assert!(usage_cost(P, tokens(-1, 0, 0)).is_err());
        assert!(usage_cost(P, tokens(0, 0, -1)).is_err());
        assert!(usage_cost(P, tokens(i64::MAX, 0, 0)).is_err());
        assert!(usage_cost(P, tokens(0, 0, i64::MAX)).is_err());
        assert!(usage_cost(P, tokens(i64::MAX, i64::MAX, i64::MAX)).is_err());
        let dear = TokenPrices {
            input: i64::MAX,
            cached_input: i64::MAX,
            output: i64::MAX,
        };
        assert!(usage_cost(dear, tokens(2, 0, 0)).is_err());
        assert!(
            usage_cost(dear, tokens(1, 0, 1)).is_err(),
            "the sum overflows"
        );
    }

    #[test]
    fn counts_are_bounded_by_the_context_length_and_the_record_maximum() {
        assert!(tokens(100_000, 0, 31_072).check(131_072).is_ok());
        assert!(tokens(100_000, 0, 31_073).check(131_072).is_err());
        assert!(tokens(0, 0, i64::MAX).check(131_072).is_err());
        assert!(tokens(i64::MAX, 0, i64::MAX).check(u64::MAX).is_err());
        assert!(tokens(MAX_RECORD_TOKENS, 0, 0).check(u64::MAX).is_ok());
        assert!(tokens(MAX_RECORD_TOKENS, 0, 1).check(u64::MAX).is_err());
        assert!(tokens(-1, 0, 0).check(131_072).is_err());
        assert!(tokens(5, 6, 0).check(131_072).is_err());
    }

    #[test]
    fn records_must_lie_in_a_window_around_now() {
        let now = 1_790_000_000_000;
        for ok in [now, now - MAX_RECORD_AGE_MS, now + MAX_RECORD_LEAD_MS] {
            assert_eq!(check_occurred_at(ok, now), Ok(ok));
        }
        for bad in [
            -1,
            0,
            now - MAX_RECORD_AGE_MS - 1,
            now + MAX_RECORD_LEAD_MS + 1,
            253_402_300_800_000, // year 10000
            i64::MIN,
            i64::MAX,
        ] {
            assert!(check_occurred_at(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_carry_debits_whole_micros_and_keeps_the_rest() {
        let c = |p| UsageCost::from_picos(p).unwrap();
        assert_eq!(carry_whole_micros(0, c(850_000)), Some((0, 850_000)));
        assert_eq!(carry_whole_micros(850_000, c(850_000)), Some((1, 700_000)));
        assert_eq!(carry_whole_micros(0, c(3_000_000)), Some((3, 0)));
        assert_eq!(carry_whole_micros(-1, c(1)), None);
        assert_eq!(carry_whole_micros(PICOS_PER_MICRO, c(1)), None);
        assert_eq!(carry_whole_micros(1, c(i64::MAX)), None);
        // A million records of 0.85 µUSD each cost exactly $0.85.
        let (mut carry, mut debited) = (0, 0);
        for _ in 0..1_000_000 {
            let (whole, rest) = carry_whole_micros(carry, c(850_000)).unwrap();
            debited += whole;
            carry = rest;
        }
        assert_eq!((debited, carry), (850_000, 0));
    }
}
