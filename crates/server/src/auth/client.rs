use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::app::App;

/// The client's address and user agent, for rate limits, sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The request arrived over https (directly or, when trusted, through a proxy).
    pub https: bool,
    /// Where this site is, for links in emails: `public_url` when configured, else the
    /// request's scheme and `Host`.
    pub base_url: String,
}

impl FromRequestParts<Arc<App>> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let trust = app.config.trust_proxy_headers;
        let forwarded_ip = trust.then(|| forwarded_for(&parts.headers)).flatten();
        let peer_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let https = (trust && header_str(&parts.headers, "x-forwarded-proto") == Some("https"))
            || parts.uri.scheme_str() == Some("https");
        let base_url = match &app.config.public_url {
            Some(url) => url.clone(),
            None => {
                let host = header_str(&parts.headers, "host").unwrap_or("localhost");
                format!("{}://{host}", if https { "https" } else { "http" })
            }
        };
        Ok(Self {
            base_url,
            ip: forwarded_ip.or(peer_ip),
            user_agent: header_str(&parts.headers, header::USER_AGENT.as_str())
                .map(|ua| ua.chars().take(300).collect()),
            https,
        })
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let first = header_str(headers, "x-forwarded-for")?
        .split(',')
        .next()?
        .trim();
    (!first.is_empty()).then(|| first.to_owned())
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
