//! Cross-site request forgery defences.
//!
//! - Console forms carry a token derived from a secret only the browser has: the session id
//!   when signed in, otherwise a random `tg_csrf` cookie (double submit).
//! - Cookie-authenticated JSON writes must come from the same origin (`Origin` header); their
//!   bodies must be `application/json`, which a cross-site form cannot send.

use axum::http::HeaderMap;
use tollgate_domain::secret::digest;

use crate::auth::client::header_str;
use crate::ServerConfig;

pub const CSRF_COOKIE: &str = "tg_csrf";

/// The form token for a secret (session token or `tg_csrf` cookie value).
pub fn token_for(secret: &str) -> String {
    digest(&format!("tollgate-csrf:{secret}"))
}

/// Constant-time comparison of a submitted token with the expected one.
pub fn matches(submitted: &str, expected: &str) -> bool {
    submitted.len() == expected.len()
        && submitted
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// True when the request's `Origin` (or, lacking it, `Referer`) is this site, scheme included.
/// `public_url`, when configured, is the site; otherwise the request's own scheme (http, or
/// https when a trusted proxy says so) and `Host`.
pub fn same_origin(headers: &HeaderMap, config: &ServerConfig) -> bool {
    let Some(origin) = header_str(headers, "origin").or_else(|| header_str(headers, "referer"))
    else {
        return false;
    };
    let origin_authority = authority(origin);
    match config.public_url.as_deref() {
        Some(url) => {
            Some(authority(url)) == Some(origin_authority) && scheme(url) == scheme(origin)
        }
        None => {
            let https = config.trust_proxy_headers
                && header_str(headers, "x-forwarded-proto") == Some("https");
            let request_scheme = if https { "https" } else { "http" };
            scheme(origin).eq_ignore_ascii_case(request_scheme)
                && header_str(headers, "host")
                    .is_some_and(|host| host.eq_ignore_ascii_case(origin_authority))
        }
    }
}

fn scheme(url: &str) -> &str {
    url.split_once("://").map_or("", |(s, _)| s)
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn site(public_url: Option<&str>, trust_proxy_headers: bool) -> ServerConfig {
        ServerConfig {
            public_url: public_url.map(str::to_owned),
            trust_proxy_headers,
            ..ServerConfig::default()
        }
    }

    #[test]
    fn origin_must_match_the_host_or_public_url() {
        let host = site(None, false);
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(same_origin(&same, &host));
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(!same_origin(&other, &host));
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert!(!same_origin(&none, &host));
        let referer = headers(&[
            ("host", "a.example"),
            ("referer", "http://a.example/o/x/settings"),
        ]);
        assert!(same_origin(&referer, &host));
        let public = headers(&[
            ("host", "internal:8080"),
            ("origin", "https://console.example"),
        ]);
        assert!(same_origin(
            &public,
            &site(Some("https://console.example"), false)
        ));
        assert!(!same_origin(
            &public,
            &site(Some("http://console.example"), false)
        ));
    }

    #[test]
    fn the_scheme_must_match_too() {
        let https_origin = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://127.0.0.1:8080"),
        ]);
        assert!(
            !same_origin(&https_origin, &site(None, false)),
            "served over http"
        );
        let https_referer = headers(&[
            ("host", "a.example"),
            ("referer", "https://a.example/o/x/settings"),
        ]);
        assert!(!same_origin(&https_referer, &site(None, false)));
        // Behind a trusted proxy that says https, https is this site and http is not.
        let mut proxied = https_origin.clone();
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(same_origin(&proxied, &site(None, true)));
        assert!(
            !same_origin(&proxied, &site(None, false)),
            "untrusted proxy header"
        );
        proxied.insert("origin", HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(!same_origin(&proxied, &site(None, true)));
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = token_for("secret");
        assert!(matches(&t, &token_for("secret")));
        assert!(!matches(&t, &token_for("other")));
        assert!(!matches("", &t));
    }
}
