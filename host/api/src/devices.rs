//! `POST /api/devices/publish`: a device that cannot hold an MQTT connection publishes over
//! HTTP, as Mainflux's HTTP adapter offers. It signs in with its own `MQTTDevice` credentials
//! (HTTP Basic), not a token, is held to its `publish` filters, and gets its 200 on the terms
//! of a QoS 1 PUBACK from the embedded broker: once every callback it reached has its writes on
//! disk.

use crate::AppState;
use crate::clients::{PublishBody, check_topic_name};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use switchyard_mqtt_broker::{Login, Message, PublishError, QoS, Refused};

/// `POST /api/devices/publish`: 200 `{"published": true}` once the message is kept.
#[utoipa::path(post, path = "/api/devices/publish", tag = "devices",
    request_body = PublishBody,
    security(("device" = [])),
    responses(
        (status = 200, description = "`{published: true}`: every callback it reached has its writes on disk", body = Value),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 401, description = "Missing or wrong device credentials (HTTP Basic)", body = ErrorMessage),
        (status = 403, description = "A topic outside the device's `publish` filters", body = ErrorMessage),
        (status = 413, description = "Larger than the embedded broker takes", body = ErrorMessage),
        (status = 422, description = "Not a topic to publish to", body = ErrorMessage),
        (status = 503, description = "The embedded broker is off, or the message could not be kept (send it again)", body = ErrorMessage),
    ))]
pub(crate) async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PublishBody>,
) -> Result<Json<Value>, Response> {
    let Some(broker) = &state.mqtt else {
        let off = "the embedded MQTT broker is off on this server";
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, off).into_response());
    };
    let login = credentials(&headers)
        .ok_or_else(|| challenge("give the device's username and password (HTTP Basic)"))?;
    let device = match broker.authenticate(login).await {
        Ok(device) => device,
        Err(Refused::BadCredentials) => return Err(challenge("bad username or password")),
        Err(Refused::NotAuthorized) => {
            return Err(
                ApiError::new(StatusCode::FORBIDDEN, "the device is disabled").into_response(),
            );
        }
        Err(Refused::Unavailable) => {
            let message = "the devices cannot be read now; send it again";
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response());
        }
    };
    check_topic_name(&body.topic).map_err(IntoResponse::into_response)?;
    let (topic, retain) = (body.topic.clone(), body.retain.unwrap_or(false));
    let payload = body.payload().map_err(IntoResponse::into_response)?;
    if payload.len() > state.limits.json {
        let message = format!(
            "the payload is {} bytes, over the {} a publish takes",
            payload.len(),
            state.limits.json
        );
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message).into_response());
    }
    let message = Message {
        topic,
        payload: payload.into(),
        qos: QoS::AtLeastOnce,
        retain,
        properties: Vec::new(),
        publisher: None,
    };
    match broker.publish(&device, message).await {
        Ok(()) => Ok(Json(json!({ "published": true }))),
        Err(e @ PublishError::NotAllowed(_)) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, e.to_string()).into_response())
        }
        Err(e @ PublishError::NotKept) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response())
        }
    }
}

/// The device's credentials from `Authorization: Basic`.
fn credentials(headers: &HeaderMap) -> Option<Login> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some(Login {
        client_id: format!("http:{username}"),
        username: username.to_owned(),
        password: password.as_bytes().to_vec(),
    })
}

/// A 401 that asks for the device's credentials.
fn challenge(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    let basic = HeaderValue::from_static("Basic realm=\"switchyard devices\"");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, basic);
    response
}
