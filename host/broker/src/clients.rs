//! Broker clients as plugins and the API name them (object id or `name`), resolved with their
//! kind, so a publish or subscription is checked against what their broker takes before it
//! is queued.

use serde_json::Value;
use std::sync::Arc;
use switchyard_model::{ClientKind, Object};
use switchyard_store::{Filter, Op, Query, Result, Txn};

/// A resolved client.
#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub name: Option<String>,
    /// Its `isEnabled`: a disabled client has no connection to send through.
    pub enabled: bool,
    pub kind: Arc<dyn ClientKind>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("type", &self.kind.type_name())
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl Client {
    fn of(kind: &Arc<dyn ClientKind>, object: &Object) -> Option<Client> {
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Client {
            id: text("id")?,
            name: text("name"),
            enabled: object.get("isEnabled").and_then(Value::as_bool) == Some(true),
            kind: kind.clone(),
        })
    }

    /// The client's object type.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// Checks that this client's broker can take `topic` as a topic name.
    pub fn check_topic(&self, topic: &str) -> std::result::Result<(), String> {
        (self.kind.check_topic(topic)).map_err(|e| format!("cannot publish to `{topic}`: {e}"))
    }

    /// Checks that this client's broker can subscribe to `filter`.
    pub fn check_filter(&self, filter: &str) -> std::result::Result<(), String> {
        (self.kind.check_filter(filter))
            .map_err(|e| format!("invalid topic filter `{filter}`: {e}"))
    }

    /// Checks that a message of `payload` bytes to `topic` fits what this client's broker
    /// takes; the error says by how much it does not.
    pub fn check_size(&self, topic: &str, payload: usize) -> std::result::Result<(), String> {
        let (size, max, unit) = self.kind.message_size(topic, payload);
        if size <= max {
            return Ok(());
        }
        Err(format!(
            "message too large: a {payload}-byte payload makes a {size}-byte {unit}, over the \
             {max} bytes {} `{}` can send",
            self.type_name(),
            self.id
        ))
    }
}

/// The client with this object id or `name`, as `txn` sees it, if there is one.
pub fn resolve(txn: &Txn, reference: &str) -> Result<Option<Client>> {
    let kinds = txn.kinds();
    let by_id = txn.inspect(reference, |object| {
        let kind = kinds.of(switchyard_model::type_of(object));
        kind.and_then(|kind| Client::of(kind, object))
    })?;
    if let Some(client) = by_id {
        return Ok(client);
    }
    let by_name = Query {
        filters: vec![Filter {
            column: "name".into(),
            op: Op::Eq,
            value: reference.into(),
        }],
        limit: Some(1),
        ..Query::default()
    };
    for kind in kinds.iter() {
        if let Some(found) = txn.query(kind.type_name(), &by_name)?.result.first() {
            return Ok(Client::of(kind, found));
        }
    }
    Ok(None)
}
