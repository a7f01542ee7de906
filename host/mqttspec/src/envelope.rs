//! MQTTSpec's JSON envelope: a request as its clients send it, checked field by field (a bad
//! one is named), and the response the server sends back.
//!
//! Request: `{id, type: "request" | "subscription", operation, schema?, entity, record_id?,
//! data?, options?: {filters: [{column, operator, value}], sort: [{column, direction}], limit,
//! offset}}`; `schema` is accepted and ignored. Response: `{id, type: "response", success,
//! data, error?: {code, message}, metadata?: {total, count}}`.

use serde_json::{Map, Value, json};
use switchyard_store::Query;

/// What kind of failure a response reports, as its `error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidMessage,
    NotFound,
    Conflict,
    Denied,
    Quota,
    /// A lifecycle hook failed, trapped or ran out of time, so the request was refused.
    HookError,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidMessage => "invalid_message",
            Code::NotFound => "not_found",
            Code::Conflict => "conflict",
            Code::Denied => "denied",
            Code::Quota => "quota",
            Code::HookError => "hook_error",
            Code::Internal => "internal",
        }
    }
}

impl From<switchyard_lifecycle::Refusal> for Failure {
    /// A lifecycle hook's refusal, with the code it chose (one of ours).
    fn from(refusal: switchyard_lifecycle::Refusal) -> Failure {
        let codes = [
            Code::InvalidMessage,
            Code::NotFound,
            Code::Conflict,
            Code::Quota,
            Code::HookError,
        ];
        let code = codes.into_iter().find(|code| code.as_str() == refusal.code);
        Failure::new(code.unwrap_or(Code::Denied), refusal.message)
    }
}

/// A request refused or failed: its code, and a message that names the problem.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    /// The store's failure, when the store could not serve the request at all.
    pub unserved: Option<switchyard_store::Error>,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            unserved: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(Code::InvalidMessage, message)
    }
}

impl From<switchyard_store::Error> for Failure {
    fn from(error: switchyard_store::Error) -> Failure {
        use switchyard_store::Error;
        let code = match &error {
            Error::NotFound(_) => Code::NotFound,
            Error::Invalid(_) | Error::BadQuery(_) | Error::TooLarge(_) => Code::InvalidMessage,
            Error::Conflict(_) | Error::Taken(_) => Code::Conflict,
            Error::Quota(_) => Code::Quota,
            Error::Storage { .. } | Error::Corrupt(_) | Error::Closing => Code::Internal,
        };
        let message = switchyard_model::Report(&error).to_string();
        Failure {
            code,
            message,
            unserved: (code == Code::Internal).then_some(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Create,
    Update,
    Delete,
    Meta,
    Subscribe,
    Unsubscribe,
}

impl Operation {
    const ALL: [(&str, Operation); 7] = [
        ("read", Operation::Read),
        ("create", Operation::Create),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
        ("meta", Operation::Meta),
        ("subscribe", Operation::Subscribe),
        ("unsubscribe", Operation::Unsubscribe),
    ];
}

/// A request, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub operation: Operation,
    /// The object type (empty for `unsubscribe`, which needs none).
    pub entity: String,
    /// The object one operation is about: `record_id`, else `data.id`.
    pub record_id: Option<String>,
    /// The properties to create or merge (without `id` and `version`).
    pub data: Option<Map<String, Value>>,
    /// `data.version`: the version an update or delete expects.
    pub version: Option<u64>,
    /// A read of many: `options` as the store's query.
    pub query: Query,
}

/// Keys a request may have.
const KEYS: [&str; 8] = [
    "id",
    "type",
    "operation",
    "schema",
    "entity",
    "record_id",
    "data",
    "options",
];

/// Reads a request. A failure carries the request's `id` when it had one, so the client can
/// be answered.
pub fn parse(payload: &[u8]) -> Result<Request, (Option<String>, Failure)> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        (
            None,
            Failure::invalid(format!("the request is not JSON: {e}")),
        )
    })?;
    let Value::Object(map) = value else {
        let message = format!("a request is a JSON object, not {}", kind(&value));
        return Err((None, Failure::invalid(message)));
    };
    let id = match map.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let message = "a request needs an `id` (text) to be answered";
            return Err((None, Failure::invalid(message)));
        }
    };
    fields(id.clone(), &map).map_err(|failure| (Some(id), failure))
}

fn fields(id: String, map: &Map<String, Value>) -> Result<Request, Failure> {
    if let Some(key) = map.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(Failure::invalid(format!(
            "unknown key `{key}`; a request has id, type, operation, schema, entity, record_id, \
             data and options"
        )));
    }
    match map.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "request" || t == "subscription" => {}
        Some(other) => {
            return Err(Failure::invalid(format!(
                "`type` must be \"request\" (or \"subscription\"), not {other}"
            )));
        }
    }
    let operation = match map.get("operation") {
        Some(Value::String(name)) => (Operation::ALL.iter())
            .find(|(n, _)| n == name)
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                Failure::invalid(format!(
                    "unknown operation `{name}`; expected read, create, update, delete, meta, \
                     subscribe or unsubscribe"
                ))
            })?,
        _ => return Err(Failure::invalid("a request needs an `operation` (text)")),
    };
    let entity = match map.get("entity") {
        Some(Value::String(entity)) if !entity.is_empty() => entity.clone(),
        None if operation == Operation::Unsubscribe => String::new(),
        _ => {
            let message = "a request needs an `entity`: the type of the objects it is about";
            return Err(Failure::invalid(message));
        }
    };
    let mut data = match map.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(data)) => Some(data.clone()),
        Some(other) => {
            return Err(Failure::invalid(format!(
                "`data` must be an object of properties, not {}",
                kind(other)
            )));
        }
    };
    let from_data = data.as_mut().and_then(|data| data.remove("id"));
    let record_id = match map
        .get("record_id")
        .filter(|v| !v.is_null())
        .or(from_data.as_ref())
    {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            return Err(Failure::invalid(format!(
                "a record id must be text, not {other}"
            )));
        }
    };
    let version = match data.as_mut().and_then(|data| data.remove("version")) {
        None | Some(Value::Null) => None,
        Some(version) => Some(version.as_u64().ok_or_else(|| {
            Failure::invalid(format!(
                "`data.version` must be a version number, not {version}"
            ))
        })?),
    };
    let query = match map.get("options") {
        None | Some(Value::Null) => Query::default(),
        Some(Value::Object(options)) => query(options)?,
        Some(other) => {
            return Err(Failure::invalid(format!(
                "`options` must be an object, not {}",
                kind(other)
            )));
        }
    };
    Ok(Request {
        id,
        operation,
        entity,
        record_id,
        data,
        version,
        query,
    })
}

/// `options` as the store's query: MQTTSpec's `sort` list becomes the store's `sort` and
/// `order`; filters, limit and offset are the store's own shape.
fn query(options: &Map<String, Value>) -> Result<Query, Failure> {
    let mut shape = Map::new();
    for (key, value) in options {
        match key.as_str() {
            "filters" | "limit" | "offset" => drop(shape.insert(key.clone(), value.clone())),
            "sort" => sort(value, &mut shape)?,
            other => {
                return Err(Failure::invalid(format!(
                    "unknown option `{other}`; expected filters, sort, limit or offset"
                )));
            }
        }
    }
    Ok(Query::from_json(&Value::Object(shape))?)
}

/// `[{column, direction}]` (one column) or a property name.
fn sort(value: &Value, shape: &mut Map<String, Value>) -> Result<(), Failure> {
    let (column, direction) = match value {
        Value::String(column) => (column.clone(), None),
        Value::Array(list) if list.is_empty() => return Ok(()),
        Value::Array(list) if list.len() == 1 => {
            let column = list[0].get("column").and_then(Value::as_str);
            let column = column.ok_or_else(|| {
                Failure::invalid("each `sort` entry needs a `column` naming a property")
            })?;
            (column.to_owned(), list[0].get("direction").cloned())
        }
        Value::Array(_) => {
            let message = "`sort` takes one column: sorting by several is not supported";
            return Err(Failure::invalid(message));
        }
        other => {
            return Err(Failure::invalid(format!(
                "`sort` must be a list of {{column, direction}}, not {other}"
            )));
        }
    };
    shape.insert("sort".into(), column.into());
    if let Some(direction) = direction {
        shape.insert("order".into(), direction);
    }
    Ok(())
}

/// A successful response's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub data: Value,
    /// For a read of many: how many match in all, and how many are in `data`.
    pub metadata: Option<(usize, usize)>,
}

/// The response to the request `id`.
pub fn response(id: &str, outcome: &Result<Answer, Failure>) -> Vec<u8> {
    let mut response = json!({"id": id, "type": "response"});
    match outcome {
        Ok(answer) => {
            response["success"] = true.into();
            response["data"] = answer.data.clone();
            if let Some((total, count)) = answer.metadata {
                response["metadata"] = json!({"total": total, "count": count});
            }
        }
        Err(failure) => {
            response["success"] = false.into();
            response["data"] = Value::Null;
            response["error"] = json!({"code": failure.code.as_str(), "message": failure.message});
        }
    }
    response.to_string().into_bytes()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::{Filter, Op, Order};

    fn failure(payload: &str) -> (Option<String>, Failure) {
        parse(payload.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_mqttspecs_request_with_its_options() {
        let request = parse(
            br#"{"id": "msg-2", "type": "request", "operation": "read", "schema": "public",
                 "entity": "Reading", "options": {"filters": [{"column": "status",
                 "operator": "eq", "value": "active"}], "sort": [{"column": "name",
                 "direction": "desc"}], "limit": 20, "offset": 5}}"#,
        )
        .unwrap();
        assert_eq!(request.operation, Operation::Read);
        assert_eq!(request.entity, "Reading");
        let filter = Filter {
            column: "status".into(),
            op: Op::Eq,
            value: "active".into(),
        };
        assert_eq!(request.query.filters, [filter]);
        assert_eq!(request.query.sort.as_deref(), Some("name"));
        assert_eq!(request.query.order, Order::Desc);
        assert_eq!((request.query.limit, request.query.offset), (Some(20), 5));
    }

    #[test]
    fn the_record_id_comes_from_record_id_or_data() {
        let update = parse(
            br#"{"id": 7, "operation": "update", "entity": "Reading",
                 "data": {"id": "r1", "version": 3, "status": "off"}}"#,
        )
        .unwrap();
        assert_eq!(update.id, "7");
        assert_eq!(update.record_id.as_deref(), Some("r1"));
        assert_eq!(update.version, Some(3));
        assert_eq!(
            update.data.unwrap(),
            *json!({"status": "off"}).as_object().unwrap()
        );
        let delete =
            parse(br#"{"id": "d", "operation": "delete", "entity": "Reading", "record_id": "r2"}"#)
                .unwrap();
        assert_eq!(delete.record_id.as_deref(), Some("r2"));
    }

    #[test]
    fn a_bad_request_is_named_and_keeps_its_id() {
        assert_eq!(failure("{").0, None);
        assert!(failure("[1]").1.message.contains("JSON object"));
        assert!(
            failure(r#"{"operation": "read"}"#)
                .1
                .message
                .contains("`id`")
        );
        for (payload, named) in [
            (r#"{"id": "a", "entity": "T"}"#, "`operation`"),
            (
                r#"{"id": "a", "operation": "drop", "entity": "T"}"#,
                "`drop`",
            ),
            (r#"{"id": "a", "operation": "read"}"#, "`entity`"),
            (
                r#"{"id": "a", "operation": "read", "entity": "T", "data": 1}"#,
                "`data`",
            ),
            (
                r#"{"id": "a", "operation": "read", "entity": "T", "extra": 1}"#,
                "`extra`",
            ),
            (
                r#"{"id": "a", "operation": "read", "entity": "T", "options": {"sort": [{"column": "a"}, {"column": "b"}]}}"#,
                "one column",
            ),
            (
                r#"{"id": "a", "operation": "read", "entity": "T", "options": {"filters": [{"column": "a", "operator": "near", "value": 1}]}}"#,
                "`near`",
            ),
        ] {
            let (id, failure) = failure(payload);
            assert_eq!(id.as_deref(), Some("a"), "{payload}");
            assert_eq!(failure.code, Code::InvalidMessage);
            assert!(
                failure.message.contains(named),
                "{payload}: {}",
                failure.message
            );
        }
    }

    #[test]
    fn responses_carry_data_and_metadata_or_an_error() {
        let ok = Answer {
            data: json!([{"id": "r1"}]),
            metadata: Some((5, 1)),
        };
        let ok: Value = serde_json::from_slice(&response("m", &Ok(ok))).unwrap();
        assert_eq!(
            ok,
            json!({"id": "m", "type": "response", "success": true, "data": [{"id": "r1"}],
                   "metadata": {"total": 5, "count": 1}})
        );
        let failed = Err(Failure::new(Code::NotFound, "no Reading with id `x`"));
        let failed: Value = serde_json::from_slice(&response("m", &failed)).unwrap();
        assert_eq!(failed["success"], false);
        assert_eq!(failed["error"]["code"], "not_found");
    }
}
