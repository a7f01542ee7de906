//! Resolving a client reference (object id or `name`) as plugins and the API write it.

use switchyard_store::{Filter, Op, Query, Result, Txn};

/// Object types that are broker clients.
pub const CLIENT_TYPES: &[&str] = &["MQTTClient", "KafkaClient", "PulsarClient"];

/// The id and type name of the client with this object id or `name`, if there is one.
pub fn resolve(txn: &Txn, reference: &str) -> Result<Option<(String, String)>> {
    if let Some(object) = txn.get(reference)? {
        let client_type = object
            .get("type")
            .and_then(|t| t.as_str())
            .filter(|t| CLIENT_TYPES.contains(t));
        return Ok(client_type.map(|t| (reference.to_owned(), t.to_owned())));
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
            let id = found.get("id").and_then(|v| v.as_str());
            return Ok(id.map(|id| (id.to_owned(), (*type_name).to_owned())));
        }
    }
    Ok(None)
}
