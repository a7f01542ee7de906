//! Resolving a client reference (object id or `name`) as plugins and the API write it.

use switchyard_store::{Filter, Op, Query, Result, Txn};

/// Object types that are broker clients.
pub const CLIENT_TYPES: &[&str] = &["MQTTClient", "KafkaClient", "PulsarClient"];

/// The id of the client with this object id or `name`, if there is one.
pub fn resolve(txn: &Txn, reference: &str) -> Result<Option<String>> {
    if let Some(object) = txn.get(reference)? {
        let is_client = object
            .get("type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| CLIENT_TYPES.contains(&t));
        return Ok(is_client.then(|| reference.to_owned()));
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
    for type_name in CLIENT_TYPES {
        if let Some(found) = txn.query(type_name, &by_name)?.result.into_iter().next() {
            return Ok(found.get("id").and_then(|v| v.as_str()).map(str::to_owned));
        }
    }
    Ok(None)
}
