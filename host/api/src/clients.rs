//! `/api/clients/{id}/publish|subscribe|unsubscribe`: Structr's `sendMessage`, `mqttSubscribe`
//! and `mqttUnsubscribe` over HTTP. `{id}` is a client object's id or its `name`.

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::{Checked, JsonBody};
use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

/// A message to publish: the payload as text in `message`, or as bytes in `payload_base64`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    topic: String,
    message: Option<String>,
    payload_base64: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopicBody {
    topic: String,
}

/// `POST /api/clients/{id}/publish`: 200 `{"published": true}` once the client has taken the
/// message for sending.
pub(crate) async fn publish(
    State(state): State<AppState>,
    Checked(Path(client)): Checked<Path<String>>,
    JsonBody(body): JsonBody<PublishBody>,
) -> Result<Json<Value>> {
    check_topic_name(&body.topic)?;
    let payload = match (body.message, body.payload_base64) {
        (Some(message), None) => message.into_bytes(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|error| {
                ApiError::bad_request(format!("`payload_base64` is not valid base64: {error}"))
            })?,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `message` (text) and `payload_base64` (bytes)",
            ));
        }
    };
    state.brokers.publish(&client, &body.topic, payload).await?;
    Ok(Json(json!({ "published": true })))
}

/// `POST /api/clients/{id}/subscribe`.
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    Checked(Path(client)): Checked<Path<String>>,
    JsonBody(body): JsonBody<TopicBody>,
) -> Result<Json<Value>> {
    check_filter(&body.topic)?;
    state.brokers.subscribe(&client, &body.topic).await?;
    Ok(Json(json!({ "subscribed": true })))
}

/// `POST /api/clients/{id}/unsubscribe`.
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
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
fn check_topic_name(topic: &str) -> Result<()> {
    switchyard_topic::validate_name(topic)
        .map_err(|error| ApiError::unprocessable(format!("invalid `topic` `{topic}`: {error}")))
}
