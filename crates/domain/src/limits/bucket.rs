//! A token bucket that refills continuously: `limit` units per window, holding at most `burst`
//! units. Levels are integers in unit·milliseconds — one unit is `window.ms()` of them — so
//! that the refill of every millisecond is exactly `limit` and nothing is lost to rounding,
//! however often the bucket is read.

use super::Window;
use crate::Timestamp;

/// The shape of a bucket: how fast it refills and how much it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Units per window: the refill rate.
    pub limit: u64,
    pub window: Window,
    /// The most units the bucket holds: what may be spent at once after a quiet spell.
    pub burst: u64,
}

/// A bucket's level (unit·ms; negative while a correction is paid back) as of `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketState {
    pub level: i64,
    pub at: Timestamp,
}

/// The divisor of a bucket's capacity that bounds one lease (see `lease_want`): with it, a
/// process can hold at most an eighth of the bucket unspent.
pub const LEASE_FRACTION: i64 = 8;

impl Bucket {
    /// A bucket whose burst is its whole limit, as OpenAI's and Cerebras' limits behave: a
    /// minute's requests may all be spent at once after a quiet minute.
    pub fn new(limit: u64, window: Window) -> Self {
        Self {
            limit,
            window,
            burst: limit,
        }
    }

    pub fn with_burst(self, burst: u64) -> Self {
        Self { burst, ..self }
    }

    fn limit_i64(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }

    /// What one unit costs, in unit·ms.
    pub fn scale(&self) -> i64 {
        self.window.ms()
    }

    /// What `units` cost, in unit·ms (saturating: a cost past the capacity is refused anyway).
    pub fn cost(&self, units: u64) -> i64 {
        i64::try_from(units)
            .unwrap_or(i64::MAX)
            .saturating_mul(self.scale())
    }

    /// The most the bucket holds, in unit·ms.
    pub fn capacity(&self) -> i64 {
        self.cost(self.burst)
    }

    pub fn full(&self, now: Timestamp) -> BucketState {
        BucketState {
            level: self.capacity(),
            at: now,
        }
    }

    /// `state` refilled up to `now`. A clock that went back refills nothing (two processes'
    /// clocks may differ slightly); a level above the capacity (the limit was lowered) is cut.
    pub fn refilled(&self, state: BucketState, now: Timestamp) -> BucketState {
        let elapsed = now.saturating_sub(state.at).max(0);
        BucketState {
            level: state
                .level
                .saturating_add(elapsed.saturating_mul(self.limit_i64()))
                .min(self.capacity()),
            at: state.at.max(now),
        }
    }

    /// Takes `cost` (unit·ms) at `now`, or says how long until the bucket holds it (`None`:
    /// never, the cost is above the capacity).
    pub fn take(
        &self,
        state: BucketState,
        cost: i64,
        now: Timestamp,
    ) -> Result<BucketState, Option<i64>> {
        let s = self.refilled(state, now);
        if s.level >= cost {
            Ok(BucketState {
                level: s.level - cost,
                at: s.at,
            })
        } else {
            Err(self.wait_ms(s, cost))
        }
    }

    /// Adds `amount` (unit·ms) back — the unused part of an estimate, or a lease returned —
    /// up to the capacity; a negative amount charges a correction, possibly into debt.
    pub fn give_back(&self, state: BucketState, amount: i64, now: Timestamp) -> BucketState {
        let s = self.refilled(state, now);
        BucketState {
            level: s.level.saturating_add(amount).min(self.capacity()),
            at: s.at,
        }
    }

    /// Milliseconds until a bucket at `state` (already refilled) holds `cost`; `None` when it
    /// never will.
    pub fn wait_ms(&self, state: BucketState, cost: i64) -> Option<i64> {
        if cost > self.capacity() || self.limit == 0 {
            return None;
        }
        let missing = cost.saturating_sub(state.level).max(0);
        let limit = self.limit_i64();
        Some(missing / limit + i64::from(missing % limit != 0))
    }

    /// Whole units in a bucket at `state`, never below zero.
    pub fn units(&self, state: BucketState) -> u64 {
        u64::try_from(state.level.max(0) / self.scale()).unwrap_or(0)
    }

    /// Milliseconds until a bucket at `state` (already refilled) is full again.
    pub fn ms_until_full(&self, state: BucketState) -> i64 {
        self.wait_ms(state, self.capacity()).unwrap_or(0)
    }

    /// How much a process should lease at once (unit·ms): what it needs now (`deficit`), plus
    /// what it spent in the last second (`recent_demand`) so that a busy process does not come
    /// back for every request — but never more than an eighth of the capacity, so that other
    /// processes are not starved and an idle or dead process strands little.
    pub fn lease_want(&self, deficit: i64, recent_demand: i64) -> i64 {
        let ceiling = (self.capacity() / LEASE_FRACTION).max(deficit);
        deficit.saturating_add(recent_demand.max(0)).min(ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};

    const T0: Timestamp = 1_750_000_000_000;

    #[test]
    fn a_minute_bucket_refills_continuously() {
        let clock = ManualClock::new(T0);
        let b = Bucket::new(60, Window::Minute);
        let one = b.cost(1);
        let mut s = b.full(clock.now_ms());
        for _ in 0..60 {
            s = b.take(s, one, clock.now_ms()).unwrap();
        }
        // Empty: the next request is a second away (60 per minute).
        assert_eq!(b.take(s, one, clock.now_ms()), Err(Some(1_000)));
        clock.advance_ms(999);
        assert_eq!(b.take(s, one, clock.now_ms()), Err(Some(1)));
        clock.advance_ms(1);
        s = b.take(s, one, clock.now_ms()).unwrap();
        // Half a minute later, half the bucket is back: no fixed window to wait for.
        clock.advance_ms(30_000);
        assert_eq!(b.units(b.refilled(s, clock.now_ms())), 30);
        // A long pause refills it only to its capacity.
        clock.advance_ms(3_600_000);
        assert_eq!(b.units(b.refilled(s, clock.now_ms())), 60);
    }

    #[test]
    fn burst_bounds_what_a_quiet_spell_saves() {
        let clock = ManualClock::new(T0);
        let b = Bucket::new(600, Window::Minute).with_burst(10);
        let one = b.cost(1);
        let mut s = b.full(clock.now_ms());
        clock.advance_ms(600_000);
        let mut taken = 0;
        while let Ok(next) = b.take(s, one, clock.now_ms()) {
            s = next;
            taken += 1;
        }
        assert_eq!(taken, 10, "a burst of 10 however long the pause");
        // But it refills at 600 a minute: ten per second.
        assert_eq!(b.take(s, one, clock.now_ms()), Err(Some(100)));
        assert_eq!(b.take(s, b.cost(11), clock.now_ms()), Err(None));
    }

    #[test]
    fn unused_estimated_tokens_go_back() {
        let clock = ManualClock::new(T0);
        let b = Bucket::new(1_000, Window::Minute);
        let s = b.full(clock.now_ms());
        // Admission estimated 800 tokens; the answer used 300.
        let s = b.take(s, b.cost(800), clock.now_ms()).unwrap();
        assert_eq!(b.units(s), 200);
        let s = b.give_back(s, b.cost(800 - 300), clock.now_ms());
        assert_eq!(b.units(s), 700);
        // Giving back never fills past the capacity.
        let s = b.give_back(s, b.cost(5_000), clock.now_ms());
        assert_eq!(s.level, b.capacity());
        // Using more than estimated is charged, into debt if need be, and paid back by refill.
        let s = b.give_back(s, -b.cost(1_500), clock.now_ms());
        assert_eq!(s.level, -b.cost(500));
        assert_eq!(b.units(s), 0);
        assert_eq!(b.take(s, b.cost(1), clock.now_ms()), Err(Some(30_060)));
    }

    #[test]
    fn hour_and_day_buckets_refill_at_their_own_pace() {
        let clock = ManualClock::new(T0);
        let hour = Bucket::new(3_600, Window::Hour);
        let day = Bucket::new(86_400, Window::Day);
        let (mut h, mut d) = (hour.full(T0), day.full(T0));
        h = hour.take(h, hour.cost(3_600), T0).unwrap();
        d = day.take(d, day.cost(86_400), T0).unwrap();
        clock.advance_ms(10_000);
        let now = clock.now_ms();
        assert_eq!(hour.units(hour.refilled(h, now)), 10, "one a second");
        assert_eq!(day.units(day.refilled(d, now)), 10, "one a second");
        // A day bucket of 1,000 requests: one every 86.4 seconds, computed exactly.
        let slow = Bucket::new(1_000, Window::Day);
        let s = slow.take(slow.full(T0), slow.cost(1_000), T0).unwrap();
        assert_eq!(slow.take(s, slow.cost(1), T0), Err(Some(86_400)));
        assert_eq!(slow.ms_until_full(s), 86_400_000);
        // The largest limit still fits.
        let huge = Bucket::new(super::super::MAX_LIMIT, Window::Day);
        assert!(huge.capacity() < i64::MAX);
        assert_eq!(huge.units(huge.full(T0)), super::super::MAX_LIMIT);
    }

    #[test]
    fn a_clock_that_goes_back_refills_nothing() {
        let b = Bucket::new(60, Window::Minute);
        let s = b.take(b.full(T0), b.cost(60), T0).unwrap();
        let back = b.refilled(s, T0 - 5_000);
        assert_eq!(back, s);
        assert_eq!(b.units(b.refilled(s, T0 + 1_000)), 1);
    }

    #[test]
    fn leases_follow_demand_within_an_eighth() {
        let b = Bucket::new(80, Window::Minute);
        let one = b.cost(1);
        assert_eq!(b.lease_want(one, 0), one, "idle: just what is needed");
        assert_eq!(b.lease_want(one, 3 * one), 4 * one);
        assert_eq!(b.lease_want(one, 1_000 * one), 10 * one, "an eighth of 80");
        assert_eq!(
            b.lease_want(20 * one, 0),
            20 * one,
            "a large request is never cut below its need"
        );
    }
}
