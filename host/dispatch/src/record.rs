//! A failed delivery as it is kept: in the retry queue while attempts remain, then as a
//! `FailedMessage` object. One JSON shape serves both, so giving up is a copy and a replay
//! reads back exactly what was received.
//!
//! Bytes (payload, key, header values) are stored once: as text when they are UTF-8
//! (`payload`, `key`, `value`), otherwise base64 (`payloadBase64`, `keyBase64`,
//! `valueBase64`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use switchyard_broker::Incoming;
use switchyard_model::DEFAULT_TENANT;

/// One subscriber's failure on one message.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub subscriber: String,
    pub callback: String,
    pub message: Incoming,
    pub error: String,
    pub attempts: u32,
    pub first_failed_at: String,
    pub last_failed_at: String,
}

impl Failure {
    pub fn first(subscriber: &str, callback: &str, message: &Incoming, error: String) -> Failure {
        let now = now();
        Failure {
            subscriber: subscriber.to_owned(),
            callback: callback.to_owned(),
            message: message.clone(),
            error,
            attempts: 1,
            first_failed_at: now.clone(),
            last_failed_at: now,
        }
    }

    /// Counts another failed attempt.
    pub fn again(&mut self, error: String) {
        self.error = error;
        self.attempts += 1;
        self.last_failed_at = now();
    }

    pub fn to_json(&self) -> Value {
        let m = &self.message;
        let mut object = Map::new();
        object.insert("subscriber".into(), self.subscriber.clone().into());
        object.insert("callback".into(), self.callback.clone().into());
        object.insert("client".into(), m.client_id.clone().into());
        object.insert("topic".into(), m.topic.clone().into());
        put_bytes(&mut object, "payload", &m.payload);
        if let Some(key) = &m.key {
            put_bytes(&mut object, "key", key);
        }
        if !m.headers.is_empty() {
            let headers = m.headers.iter().map(|(name, value)| {
                let mut header = Map::new();
                header.insert("name".into(), name.clone().into());
                put_bytes(&mut header, "value", value);
                Value::Object(header)
            });
            object.insert("headers".into(), headers.collect());
        }
        object.insert("receivedAt".into(), m.received_at_ms.into());
        object.insert("error".into(), self.error.clone().into());
        object.insert("attempts".into(), self.attempts.into());
        object.insert("firstFailedAt".into(), self.first_failed_at.clone().into());
        object.insert("lastFailedAt".into(), self.last_failed_at.clone().into());
        Value::Object(object)
    }

    /// Reads a record written by [`Failure::to_json`] (or a `FailedMessage` object).
    pub fn from_json(value: &Value) -> Result<Failure, String> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("the record has no `{key}`"))
        };
        let headers = match value.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|h| {
                    let name = h.get("name").and_then(Value::as_str).unwrap_or_default();
                    Ok((name.to_owned(), get_bytes(h, "value")?.unwrap_or_default()))
                })
                .collect::<Result<_, String>>()?,
            Some(_) => return Err("the record's `headers` is not a list".into()),
        };
        let message = Incoming {
            // Only queued retries name it: a `FailedMessage` is in its tenant already, and
            // retries queued before tenants were the default tenant's.
            tenant: text("tenant").unwrap_or_else(|_| DEFAULT_TENANT.to_owned()),
            client_id: text("client")?,
            topic: text("topic")?,
            payload: get_bytes(value, "payload")?.unwrap_or_default(),
            key: get_bytes(value, "key")?,
            headers,
            received_at_ms: value.get("receivedAt").and_then(Value::as_u64).unwrap_or(0),
            lane: None,
            sender: None,
        };
        Ok(Failure {
            subscriber: text("subscriber")?,
            callback: text("callback")?,
            message,
            error: text("error").unwrap_or_default(),
            attempts: (value.get("attempts").and_then(Value::as_u64)).unwrap_or(1) as u32,
            first_failed_at: text("firstFailedAt").unwrap_or_default(),
            last_failed_at: text("lastFailedAt").unwrap_or_default(),
        })
    }
}

fn put_bytes(object: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => object.insert(name.into(), text.into()),
        Err(_) => object.insert(format!("{name}Base64"), BASE64.encode(bytes).into()),
    };
}

fn get_bytes(object: &Value, name: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(text) = object.get(name).and_then(Value::as_str) {
        return Ok(Some(text.as_bytes().to_vec()));
    }
    match object.get(format!("{name}Base64")).and_then(Value::as_str) {
        Some(encoded) => BASE64
            .decode(encoded)
            .map(Some)
            .map_err(|e| format!("the record's `{name}Base64` is not base64: {e}")),
        None => Ok(None),
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_as_text_or_base64() {
        let message = Incoming {
            tenant: "acme".into(),
            client_id: "c".into(),
            topic: "t/1".into(),
            payload: vec![0xff, 0x00, 0x41],
            key: Some(b"order-7".to_vec()),
            headers: vec![
                ("trace".into(), b"abc".to_vec()),
                ("bin".into(), vec![0xfe]),
            ],
            received_at_ms: 42,
            lane: None,
            sender: None,
        };
        let failure = Failure::first("s", "p", &message, "boom".into());
        let json = failure.to_json();
        assert_eq!(json["key"], "order-7");
        assert!(json.get("payload").is_none(), "stored once: {json}");
        assert_eq!(json["payloadBase64"], "/wBB");
        assert_eq!(json["headers"][1]["valueBase64"], "/g==");
        assert_eq!(json["attempts"], 1);
        let back = Failure::from_json(&json).unwrap();
        assert_eq!(back.message.payload, message.payload);
        assert_eq!(back.message.key, message.key);
        assert_eq!(back.message.headers, message.headers);
        assert_eq!(back.message.received_at_ms, 42);
    }
}
