//! Timestamps as the API shows them: RFC 3339 in UTC.

use tollgate_domain::clock::to_datetime;
use tollgate_domain::Timestamp;

pub fn rfc3339(ms: Timestamp) -> String {
    to_datetime(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
