//! The OpenAI-compatible gateway under `/v1`, where programs call models with an API key.

pub mod error;
mod models;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;

use crate::app::App;
use crate::keys::{KeyAuthError, KeyIdentity};
pub use error::GatewayError;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/v1/models", get(models::list))
}

/// The key a gateway request is authenticated by: `Authorization: Bearer tg-…`.
pub struct GatewayKey(pub Arc<KeyIdentity>);

impl FromRequestParts<Arc<App>> for GatewayKey {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, GatewayError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(KeyAuthError::Missing)?;
        // Not visible ASCII: no key of ours.
        let value = header.to_str().map_err(|_| KeyAuthError::Unknown)?;
        let key = match value.split_once(' ') {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
            _ => return Err(KeyAuthError::Missing.into()),
        };
        Ok(Self(app.keys.authenticate(key).await?))
    }
}
