//! Time, injectable so that tests can move the clock (expiry, renewals, rate-limit windows).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, as stored in the database.
pub type Timestamp = i64;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Timestamp;

    fn now(&self) -> DateTime<Utc> {
        to_datetime(self.now_ms())
    }
}

pub fn to_datetime(ms: Timestamp) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Timestamp {
        Utc::now().timestamp_millis()
    }
}

/// A clock that starts at the real time and only moves when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: Timestamp) -> Self {
        Self(AtomicI64::new(start_ms))
    }

    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_ms())
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set_ms(&self, ms: Timestamp) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}
