//! `/api/clients/{id}/publish|subscribe|unsubscribe`: Structr's `sendMessage`, `mqttSubscribe`
//! and `mqttUnsubscribe` over HTTP. `{id}` is a client object's id or its `name`.

use crate::error::{ApiError, Result};
use crate::extract::{Checked, JsonBody, Scoped};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::Path;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A message to publish: the payload as text in `message`, or as bytes in `payload_base64`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    /// A topic name (no wildcards) the client's broker takes.
    pub(crate) topic: String,
    /// The payload as text.
    message: Option<String>,
    /// The payload as base64, for bytes that are not text.
    payload_base64: Option<String>,
    /// Devices only (`/api/devices/publish`): keep it as the topic's retained message.
    pub(crate) retain: Option<bool>,
}

impl PublishBody {
    /// The payload's bytes: `message` or `payload_base64`, exactly one.
    pub(crate) fn payload(self) -> Result<Vec<u8>> {
        match (self.message, self.payload_base64) {
            (Some(message), None) => Ok(message.into_bytes()),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|error| {
                    ApiError::bad_request(format!("`payload_base64` is not valid base64: {error}"))
                }),
            _ => Err(ApiError::bad_request(
                "give exactly one of `message` (text) and `payload_base64` (bytes)",
            )),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopicBody {
    /// A topic filter, wildcards allowed.
    topic: String,
}

/// `POST /api/clients/{id}/publish`: 200 `{"published": true}` once the client has taken the
/// message for sending.
#[utoipa::path(post, path = "/api/clients/{id}/publish", tag = "clients", params(("id" = String, Path, description = "The client's id or `name`")),
    request_body = PublishBody,
    responses(
        (status = 200, description = "`{published: true}`: the client took the message", body = Value),
        (status = 413, description = "Larger than the client's broker takes", body = ErrorMessage),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 404, description = "No such client", body = ErrorMessage),
        (status = 409, description = "The client is disabled", body = ErrorMessage),
        (status = 422, description = "A topic its broker cannot take", body = ErrorMessage),
        (status = 502, description = "The broker failed", body = ErrorMessage),
    ))]
pub(crate) async fn publish(
    Scoped(state): Scoped,
    Checked(Path(client)): Checked<Path<String>>,
    JsonBody(body): JsonBody<PublishBody>,
) -> Result<Json<Value>> {
    check_topic_name(&body.topic)?;
    if body.retain.is_some() {
        return Err(ApiError::bad_request(
            "`retain` is for devices (/api/devices/publish); a client publishes as its object says",
        ));
    }
    let topic = body.topic.clone();
    state
        .brokers
        .publish(&client, &topic, body.payload()?)
        .await?;
    Ok(Json(json!({ "published": true })))
}

/// `POST /api/clients/{id}/subscribe`.
#[utoipa::path(post, path = "/api/clients/{id}/subscribe", tag = "clients", params(("id" = String, Path, description = "The client's id or `name`")),
    request_body = TopicBody,
    responses(
        (status = 200, description = "`{subscribed: true}`", body = Value),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 404, description = "No such client", body = ErrorMessage),
        (status = 409, description = "The client is disabled", body = ErrorMessage),
        (status = 422, description = "A topic its broker cannot take", body = ErrorMessage),
        (status = 502, description = "The broker failed", body = ErrorMessage),
    ))]
pub(crate) async fn subscribe(
    Scoped(state): Scoped,
    Checked(Path(client)): Checked<Path<String>>,
    JsonBody(body): JsonBody<TopicBody>,
) -> Result<Json<Value>> {
    check_filter(&body.topic)?;
    state.brokers.subscribe(&client, &body.topic).await?;
    Ok(Json(json!({ "subscribed": true })))
}

/// `POST /api/clients/{id}/unsubscribe`.
#[utoipa::path(post, path = "/api/clients/{id}/unsubscribe", tag = "clients", params(("id" = String, Path, description = "The client's id or `name`")),
    request_body = TopicBody,
    responses(
        (status = 200, description = "`{unsubscribed: true}`", body = Value),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 404, description = "No such client", body = ErrorMessage),
        (status = 409, description = "The client is disabled", body = ErrorMessage),
        (status = 422, description = "A topic its broker cannot take", body = ErrorMessage),
        (status = 502, description = "The broker failed", body = ErrorMessage),
    ))]
pub(crate) async fn unsubscribe(
    Scoped(state): Scoped,
    Checked(Path(client)): Checked<Path<String>>,
    JsonBody(body): JsonBody<TopicBody>,
) -> Result<Json<Value>> {
    check_filter(&body.topic)?;
    state.brokers.unsubscribe(&client, &body.topic).await?;
    Ok(Json(json!({ "unsubscribed": true })))
}

fn check_filter(topic: &str) -> Result<()> {
    switchyard_topic::validate(topic).map_err(|error| {
        ApiError::unprocessable(format!("invalid topic filter `{topic}`: {error}"))
    })
}

/// A topic to publish to names one topic: brokers refuse empty names and wildcards.
pub(crate) fn check_topic_name(topic: &str) -> Result<()> {
    switchyard_topic::validate_name(topic)
        .map_err(|error| ApiError::unprocessable(format!("invalid `topic` `{topic}`: {error}")))
}
