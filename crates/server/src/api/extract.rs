//! Extractors of the JSON API, rejecting in its error shape.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;

use crate::api::error::ApiError;
use crate::app::App;
use crate::auth::CurrentSession;
use crate::path_ids::malformed_path_id;
use crate::path_ids::{PathIds, PathIdsError};
use crate::service::ServiceError;

/// A JSON body; malformed, mistyped, oversized or non-JSON bodies answer a clear 4xx.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters; unreadable ones answer 400 in the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The signed-in user of a JSON request; 401 otherwise.
pub struct ApiSession(pub CurrentSession);

impl FromRequestParts<Arc<App>> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(session) = parts.extensions.get::<CurrentSession>() {
            return Ok(Self(session.clone()));
        }
        match app.current_session(&parts.headers).await? {
            Some(session) => Ok(Self(session)),
            None => Err(ServiceError::Unauthenticated.into()),
        }
    }
}

/// The ids of a request's path, typed (`ApiPath((org_id, project_id)): ApiPath<(OrgId,
/// ProjectId)>`). A malformed id answers what the service answered when it checked the shape
/// itself: 401 without a session, the organization's 404 (or two-factor 403), then
/// 404 `not_found` (`crate::path_ids`).
pub struct ApiPath<T>(pub T);

impl<T: PathIds + Send> FromRequestParts<Arc<App>> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(segments) =
            axum::extract::Path::<Vec<String>>::from_request_parts(parts, app).await?;
        match T::from_segments(segments) {
            Ok(ids) => Ok(Self(ids)),
            Err(PathIdsError::WrongCount) => Err(ApiError::not_found()),
            Err(PathIdsError::Malformed(malformed)) => {
                let ApiSession(session) = ApiSession::from_request_parts(parts, app).await?;
                Err(malformed_path_id(app, &session, malformed).await.into())
            }
        }
    }
}
