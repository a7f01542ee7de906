//! Request extractors whose rejections come out in the API's JSON error shape instead of axum's
//! plain-text ones.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Wraps a parts extractor (`Path`, `Query`) so that its rejection becomes an [`ApiError`].
pub(crate) struct Checked<E>(pub E);

impl<S, E> FromRequestParts<S> for Checked<E>
where
    S: Send + Sync,
    E: FromRequestParts<S>,
    ApiError: From<E::Rejection>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Checked(E::from_request_parts(parts, state).await?))
    }
}

/// The server as the caller's tenant sees it: its store, brokers, plugins, failures and logs,
/// and nothing of any other tenant's.
pub(crate) struct Scoped(pub AppState);

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Put there by the authentication middleware, which every scoped route is behind.
        let caller = (parts.extensions.get::<Caller>()).ok_or_else(ApiError::unauthorized)?;
        Ok(Scoped(state.scoped(caller)))
    }
}

/// A JSON request body, limited to [`crate::BodyLimits::json`].
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::json_rejected(rejection, state.limits.json)),
        }
    }
}

/// A plugin upload: the raw bytes of any content type (they are validated as WebAssembly, which
/// says more than a content type could), limited to [`crate::BodyLimits::plugin`].
pub(crate) struct UploadBody(pub Bytes);

impl FromRequest<AppState> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(UploadBody)
            .map_err(|rejection| {
                ApiError::body_rejected(
                    rejection.status(),
                    rejection.body_text(),
                    state.limits.plugin,
                )
            })
    }
}

/// The `If-Match` header as an object version: `"3"` (or `3`) asks that the write apply only
/// to version 3; `*` or no header asks nothing.
pub(crate) struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let version = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        version
            .unwrap_or(text)
            .parse()
            .map(|version| IfMatch(Some(version)))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "If-Match must be an object version as its ETag gives it (like \"3\"), not `{text}`"
                ))
            })
    }
}
