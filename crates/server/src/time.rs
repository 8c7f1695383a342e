//! Timestamps as the API shows them: RFC 3339 in UTC.

use tollgate_domain::clock::to_datetime;
use tollgate_domain::Timestamp;

pub fn rfc3339(ms: Timestamp) -> String {
    to_datetime(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Timestamps as console pages show them: `2026-05-01 14:03 UTC`.
pub fn display(ms: Timestamp) -> String {
    to_datetime(ms).format("%Y-%m-%d %H:%M UTC").to_string()
}
