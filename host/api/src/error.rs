//! The API's one error shape, `{"error": "<message>"}`, and how every failure below the API
//! (store, runtime, brokers, axum's own extractors) maps onto an HTTP status.

use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchyard_broker::ClientError;
use switchyard_model::Report;
use switchyard_plugins::PluginError;
use switchyard_tenants::TenantError;

/// An error answer: a status and a message that says what is wrong.
///
/// Statuses: 400 for a request that cannot be read (malformed JSON, a body of the wrong
/// shape, bad query parameters, bad base64, an invalid plugin name); 401 for a missing or wrong
/// token; 403 for what the token may not do (a viewer's write, a tenant's token on the
/// operator's routes); 404 for an unknown object, plugin, client, tenant or route (another
/// tenant's included); 409 for a write that raced with another one, a publish or subscription
/// through a disabled client, or a tenant that exists (or still holds something); 413 for a
/// body over its limit; 415 for a JSON route called without `Content-Type: application/json`;
/// 422 for content that was read but is not acceptable (an invalid property, a bad topic
/// filter, uploaded bytes that are not a plugin of our world); 429 for a write past one of the
/// tenant's quotas, naming it; 502 when the broker behind a client failed; 500 for storage
/// failures, whose details go to the server log only.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, as the client is told.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// Past one of the tenant's quotas; the message names it.
    pub(crate) fn quota(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token")
    }

    /// A failure the client cannot fix. The details may name files or internal state, so they
    /// go to the log and the client gets a pointer there.
    pub(crate) fn internal(what: &str, error: impl std::error::Error + 'static) -> ApiError {
        tracing::error!(error = %Report(&error), "{what}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what}; see the server log"),
        )
    }

    /// Reading a request body failed: too large (named with its limit), or unreadable.
    pub(crate) fn body_rejected(status: StatusCode, text: String, limit: usize) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!("request body is larger than the limit of {limit} bytes"),
            )
        } else {
            ApiError::new(status, text)
        }
    }

    /// A JSON body that could not be used. axum answers 422 for well-formed JSON of the wrong
    /// shape; here that is a malformed request (400), and 422 is kept for invalid content.
    pub(crate) fn json_rejected(rejection: JsonRejection, limit: usize) -> ApiError {
        let status = match rejection {
            JsonRejection::JsonDataError(_) => StatusCode::BAD_REQUEST,
            _ => rejection.status(),
        };
        ApiError::body_rejected(status, rejection.body_text(), limit)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorMessage {
            error: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<switchyard_store::Error> for ApiError {
    fn from(error: switchyard_store::Error) -> ApiError {
        use switchyard_store::Error;
        match error {
            Error::NotFound(message) => ApiError::not_found(message),
            Error::Invalid(message) => ApiError::unprocessable(message),
            Error::BadQuery(message) => ApiError::bad_request(message),
            Error::Conflict(message) | Error::Taken(message) => {
                ApiError::new(StatusCode::CONFLICT, message)
            }
            Error::TooLarge(message) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message),
            Error::Quota(message) => ApiError::quota(message),
            Error::Storage { .. } | Error::Corrupt(_) | Error::Closing => {
                ApiError::internal("storage error", error)
            }
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> ApiError {
        match error {
            PluginError::InvalidName(_) => ApiError::bad_request(error.to_string()),
            PluginError::NotWasm(_) | PluginError::WrongWorld(_) | PluginError::Compile(_) => {
                ApiError::unprocessable(error.to_string())
            }
            PluginError::Settings(_) => ApiError::unprocessable(error.to_string()),
            PluginError::NotFound(_) => ApiError::not_found(error.to_string()),
            PluginError::Quota(message) => ApiError::quota(message),
            PluginError::Storage(_) => ApiError::internal("storing the plugin failed", error),
        }
    }
}

impl From<TenantError> for ApiError {
    fn from(error: TenantError) -> ApiError {
        match error {
            TenantError::Invalid(message) => ApiError::unprocessable(message),
            TenantError::Exists(_) => ApiError::new(StatusCode::CONFLICT, error.to_string()),
            TenantError::NotFound(_) => ApiError::not_found(error.to_string()),
            TenantError::Storage(e) => e.into(),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> ApiError {
        let status = match error {
            ClientError::NotFound(_) => StatusCode::NOT_FOUND,
            ClientError::Unsupported(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ClientError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ClientError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ClientError::Disabled(_) => StatusCode::CONFLICT,
            ClientError::Broker(_) => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}
