//! Timestamps as the API shows them: RFC 3339 in UTC.

use tollgate_domain::clock::to_datetime;
use tollgate_domain::Timestamp;

pub fn rfc3339(ms: Timestamp) -> String {
    to_datetime(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A day as console tables show it: `May 1, 2026`.
pub fn day(ms: Timestamp) -> String {
    to_datetime(ms).format("%b %-d, %Y").to_string()
}

/// A moment as console tables show it: `May 1, 2026 14:03` (UTC).
pub fn minute(ms: Timestamp) -> String {
    to_datetime(ms).format("%b %-d, %Y %H:%M").to_string()
}

/// A moment to the second, for the request log: `May 1, 2026 14:03:09` (UTC).
pub fn second(ms: Timestamp) -> String {
    to_datetime(ms).format("%b %-d, %Y %H:%M:%S").to_string()
}
