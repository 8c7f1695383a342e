//! Where a model's requests go: the built-in mock, or one or more replicas of an
//! OpenAI-compatible server, with the timeouts the gateway applies to them.

use std::fmt;
use std::ops::Range;

use super::parse::Lines;
use super::CatalogError;

/// Where requests for a model go.
#[derive(Clone, PartialEq, Eq)]
pub enum Upstream {
    /// The built-in deterministic model server.
    Mock,
    /// Replicas of an OpenAI-compatible server.
    Http(HttpUpstream),
}

#[derive(Clone, PartialEq, Eq)]
pub struct HttpUpstream {
    /// Each replica's base URL, up to and including `/v1` (no trailing slash); at least one.
    pub base_urls: Vec<String>,
    /// Sent as `Authorization: Bearer …` to the upstream.
    pub api_key: Option<String>,
    /// The model's name at the upstream; `None`: the catalog id.
    pub model: Option<String>,
    pub timeouts: Timeouts,
    /// Consecutive connect failures or 5xx answers after which a replica is set aside …
    pub eject_after: u32,
    /// … for this long.
    pub eject_for_ms: u64,
}

/// Milliseconds the gateway waits on an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection.
    pub connect_ms: u64,
    /// From sending the request to the answer's headers (for a stream: its first bytes).
    pub first_byte_ms: u64,
    /// Between two chunks of a body, stream or not.
    pub between_chunks_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 2_000,
            first_byte_ms: 120_000,
            between_chunks_ms: 60_000,
        }
    }
}

pub const DEFAULT_EJECT_AFTER: u32 = 3;
pub const DEFAULT_EJECT_FOR_MS: u64 = 10_000;

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mock => f.write_str("Mock"),
            Self::Http(h) => h.fmt(f),
        }
    }
}

impl fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("base_urls", &self.base_urls)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeouts", &self.timeouts)
            .field("eject_after", &self.eject_after)
            .field("eject_for_ms", &self.eject_for_ms)
            .finish()
    }
}

const EXPLAIN: &str =
    "upstream must be \"mock\" or { base_url = \"https://…/v1\", api_key = \"…\" } \
                       (or base_urls = [\"…\", \"…\"] for replicas)";

/// Longest timeout accepted: an hour, so that a typo cannot park requests for ever.
const MAX_TIMEOUT_MS: i64 = 3_600_000;

pub(super) fn parse(
    lines: &Lines<'_>,
    span: Range<usize>,
    raw: toml::Value,
) -> Result<Upstream, CatalogError> {
    let err = |message: String| lines.error(span.clone(), message);
    let mut t = match raw {
        toml::Value::String(s) if s == "mock" => return Ok(Upstream::Mock),
        toml::Value::Table(t) => t,
        other => return Err(err(format!("{EXPLAIN}, not {other}"))),
    };
    let base_urls = match (t.remove("base_url"), t.remove("base_urls")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "upstream has both base_url and base_urls: give one".into()
            ))
        }
        (Some(u), None) => vec![url(u).map_err(&err)?],
        (None, Some(toml::Value::Array(list))) if !list.is_empty() => list
            .into_iter()
            .map(url)
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?,
        (None, Some(other)) => {
            return Err(err(format!(
                "upstream.base_urls must be a non-empty list of URLs, not {other}"
            )))
        }
        (None, None) => return Err(err(format!("upstream.base_url is missing: {EXPLAIN}"))),
    };
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = base_urls.iter().find(|u| !seen.insert(*u)) {
        return Err(err(format!("upstream.base_urls lists {twice} twice")));
    }
    let api_key = text(&mut t, "api_key").map_err(&err)?;
    let model = text(&mut t, "model").map_err(&err)?;
    let defaults = Timeouts::default();
    let timeouts = Timeouts {
        connect_ms: millis(&mut t, "connect_timeout_ms", defaults.connect_ms).map_err(&err)?,
        first_byte_ms: millis(&mut t, "first_byte_timeout_ms", defaults.first_byte_ms)
            .map_err(&err)?,
        between_chunks_ms: millis(&mut t, "chunk_timeout_ms", defaults.between_chunks_ms)
            .map_err(&err)?,
    };
    let eject_after = millis(
        &mut t,
        "eject_after_failures",
        u64::from(DEFAULT_EJECT_AFTER),
    )
    .map_err(&err)?;
    let eject_after = u32::try_from(eject_after)
        .map_err(|_| err("upstream.eject_after_failures is too large".into()))?;
    let eject_for_ms = millis(&mut t, "eject_for_ms", DEFAULT_EJECT_FOR_MS).map_err(&err)?;
    if let Some(unknown) = t.keys().next() {
        return Err(err(format!("upstream has an unknown key '{unknown}'")));
    }
    Ok(Upstream::Http(HttpUpstream {
        base_urls,
        api_key,
        model,
        timeouts,
        eject_after,
        eject_for_ms,
    }))
}

fn url(raw: toml::Value) -> Result<String, String> {
    match raw {
        toml::Value::String(u)
            if (u.starts_with("http://") || u.starts_with("https://"))
                && u.len() > "https://".len()
                && !u.chars().any(char::is_whitespace) =>
        {
            Ok(u.trim_end_matches('/').to_owned())
        }
        other => Err(format!(
            "upstream.base_url must be an http:// or https:// URL, not {other}"
        )),
    }
}

fn text(t: &mut toml::Table, key: &str) -> Result<Option<String>, String> {
    match t.remove(key) {
        Some(toml::Value::String(k)) if !k.trim().is_empty() => Ok(Some(k)),
        Some(_) => Err(format!("upstream.{key} must be a non-empty string")),
        None => Ok(None),
    }
}

/// A positive whole number of at most an hour's milliseconds (`default` when absent).
fn millis(t: &mut toml::Table, key: &str, default: u64) -> Result<u64, String> {
    match t.remove(key) {
        None => Ok(default),
        Some(toml::Value::Integer(n)) if (1..=MAX_TIMEOUT_MS).contains(&n) => {
            u64::try_from(n).map_err(|_| format!("upstream.{key} must be positive"))
        }
        Some(other) => Err(format!(
            "upstream.{key} must be a whole number from 1 to {MAX_TIMEOUT_MS}, not {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{Catalog, Upstream};

    fn catalog(upstream: &str) -> Result<Upstream, String> {
        let text = format!(
            "[[models]]\nid = \"m\"\nname = \"M\"\ncontext_length = 10\nupstream = {upstream}\n\
             pricing = {{ input = \"1\", output = \"1\" }}\n\
             limits = {{ rpm = 1, tpm = 1, rpd = 1, tpd = 1 }}\n"
        );
        Catalog::parse(&text)
            .map(|c| c.models()[0].upstream.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn replicas_model_names_and_timeouts_are_read() {
        let Upstream::Http(h) = catalog(
            r#"{ base_urls = ["http://a:8000/v1/", "http://b:8000/v1"], api_key = "k", model = "meta/llama", connect_timeout_ms = 100, first_byte_timeout_ms = 200, chunk_timeout_ms = 300, eject_after_failures = 2, eject_for_ms = 50 }"#,
        )
        .unwrap() else {
            panic!("not http")
        };
        assert_eq!(h.base_urls, ["http://a:8000/v1", "http://b:8000/v1"]);
        assert_eq!(h.model.as_deref(), Some("meta/llama"));
        assert_eq!(
            (
                h.timeouts.connect_ms,
                h.timeouts.first_byte_ms,
                h.timeouts.between_chunks_ms
            ),
            (100, 200, 300)
        );
        assert_eq!((h.eject_after, h.eject_for_ms), (2, 50));
        assert!(!format!("{h:?}").contains("\"k\""), "the key is redacted");

        let Upstream::Http(one) = catalog(r#"{ base_url = "https://x.example/v1" }"#).unwrap()
        else {
            panic!("not http")
        };
        assert_eq!(one.base_urls, ["https://x.example/v1"]);
        assert_eq!(one.model, None);
        assert_eq!(one.timeouts, super::Timeouts::default());
    }

    #[test]
    fn bad_upstreams_are_refused_with_the_reason() {
        for (upstream, reason) in [
            (
                r#"{ base_url = "http://up", base_urls = ["http://up2"] }"#,
                "both",
            ),
            (r#"{ base_urls = [] }"#, "non-empty list"),
            (
                r#"{ base_urls = ["http://up", "ftp://b"] }"#,
                "http:// or https://",
            ),
            (r#"{ base_urls = ["http://ab", "http://ab/"] }"#, "twice"),
            (
                r#"{ base_url = "http://up", connect_timeout_ms = 0 }"#,
                "connect_timeout_ms",
            ),
            (
                r#"{ base_url = "http://up", chunk_timeout_ms = 99999999 }"#,
                "chunk_timeout_ms",
            ),
            (
                r#"{ base_url = "http://up", model = "" }"#,
                "upstream.model",
            ),
            (
                r#"{ base_url = "http://up", retries = 3 }"#,
                "unknown key 'retries'",
            ),
            (r#"{ api_key = "k" }"#, "base_url is missing"),
        ] {
            let err = catalog(upstream).unwrap_err();
            assert!(err.contains(reason), "{upstream}: {err}");
            assert!(err.starts_with("line 5:"), "{upstream}: {err}");
        }
    }
}
