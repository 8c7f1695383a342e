//! What the gateway tells clients about their limits: the `x-ratelimit-*` headers on every
//! answer (Cerebras' per-day and per-minute names, and OpenAI's), and the 429 that a refused
//! request gets, in OpenAI's shape with `Retry-After`.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tollgate_domain::limits::{Dimension, Unit};
use tollgate_domain::Timestamp;

use super::slice::Local;
use super::Need;

/// One bucket as a client sees it: its limit, what is left, and how long until it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauge {
    pub limit: u64,
    pub remaining: u64,
    pub reset_ms: i64,
}

/// The gauges the headers name; `None` where that dimension is not limited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub requests_minute: Option<Gauge>,
    pub requests_day: Option<Gauge>,
    pub tokens_minute: Option<Gauge>,
}

impl RateHeaders {
    /// Adds the headers to an answer.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        // Cerebras: reset in seconds.
        if let Some(g) = self.requests_day {
            put("x-ratelimit-limit-requests-day", g.limit.to_string());
            put(
                "x-ratelimit-remaining-requests-day",
                g.remaining.to_string(),
            );
            put("x-ratelimit-reset-requests-day", seconds(g.reset_ms));
        }
        if let Some(g) = self.tokens_minute {
            put("x-ratelimit-limit-tokens-minute", g.limit.to_string());
            put(
                "x-ratelimit-remaining-tokens-minute",
                g.remaining.to_string(),
            );
            put("x-ratelimit-reset-tokens-minute", seconds(g.reset_ms));
            // OpenAI: "tokens" is per minute, reset as a duration ("6m0s").
            put("x-ratelimit-limit-tokens", g.limit.to_string());
            put("x-ratelimit-remaining-tokens", g.remaining.to_string());
            put("x-ratelimit-reset-tokens", duration(g.reset_ms));
        }
        if let Some(g) = self.requests_minute {
            put("x-ratelimit-limit-requests", g.limit.to_string());
            put("x-ratelimit-remaining-requests", g.remaining.to_string());
            put("x-ratelimit-reset-requests", duration(g.reset_ms));
        }
    }
}

/// Whole seconds, rounded up.
fn seconds(ms: i64) -> String {
    let ms = ms.max(0);
    (ms / 1000 + i64::from(ms % 1000 != 0)).to_string()
}

/// A Go-style duration as OpenAI writes it: `120ms`, `1s`, `6m0s`, `1h2m3s`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let total = ms / 1000 + i64::from(ms % 1000 != 0);
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// Which level of limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Organization,
    Project,
}

/// A request refused by a rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub scope: Scope,
    pub dimension: Dimension,
    pub limit: u64,
    pub model: String,
    /// Units asked for (1 request, or the estimated tokens).
    pub requested: u64,
    /// When to try again; `None`: never, the request is larger than the bucket.
    pub retry_after_ms: Option<i64>,
    pub headers: RateHeaders,
}

impl RateLimited {
    pub fn message(&self) -> String {
        let scope = match self.scope {
            Scope::Organization => "your organization",
            Scope::Project => "this project",
        };
        let d = self.dimension;
        match self.retry_after_ms {
            Some(ms) => format!(
                "Rate limit reached for {} in {scope} on {} ({d}): Limit {}, Requested {}. \
                 Please try again in {}.",
                self.model,
                d.describe(),
                self.limit,
                self.requested,
                duration(ms)
            ),
            None => format!(
                "Request too large for {} in {scope} on {} ({d}): Limit {}, Requested {}. \
                 Send fewer tokens or lower max_tokens.",
                self.model,
                d.describe(),
                self.limit,
                self.requested
            ),
        }
    }
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let kind = match self.dimension.unit {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
        };
        let body = json!({"error": {
            "message": self.message(),
            "type": kind,
            "param": null,
            "code": "rate_limit_exceeded",
        }});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        let headers = response.headers_mut();
        self.headers.apply(headers);
        if let Some(ms) = self.retry_after_ms {
            let ms = ms.max(1);
            if let Ok(v) = HeaderValue::from_str(&seconds(ms)) {
                headers.insert(axum::http::header::RETRY_AFTER, v);
            }
            // The official SDKs prefer the exact figure.
            if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
                headers.insert(HeaderName::from_static("retry-after-ms"), v);
            }
        }
        response
    }
}

/// The tightest bucket of each dimension the headers name.
pub(super) fn headers_of(
    buckets: &HashMap<String, Local>,
    needs: &[Need],
    now: Timestamp,
) -> RateHeaders {
    let gauge = |d: Dimension| {
        needs
            .iter()
            .filter(|n| n.dimension == d)
            .filter_map(|n| buckets.get(&n.key).map(|l| l.gauge(now)))
            .min_by_key(|g| g.remaining)
    };
    RateHeaders {
        requests_minute: gauge(Dimension::RPM),
        requests_day: gauge(Dimension::RPD),
        tokens_minute: gauge(Dimension::TPM),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_openai_s() {
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(120), "120ms");
        assert_eq!(duration(1_000), "1s");
        assert_eq!(duration(1_001), "2s");
        assert_eq!(duration(360_000), "6m0s");
        assert_eq!(duration(3_723_000), "1h2m3s");
        assert_eq!(seconds(1), "1");
        assert_eq!(seconds(86_400_000), "86400");
    }
}
