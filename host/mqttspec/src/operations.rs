//! What each operation does to one tenant's objects: the store calls and checks of the REST
//! object routes, for the types a caller may use. Built-in types (clients, subscribers,
//! devices, failed messages, hooks) are never served; a device of the embedded broker is held
//! to the types its `read` and `write` lists name. Between those checks and the operation, the
//! tenant's lifecycle hooks may refuse or change it, and they hear how it went.

use crate::envelope::{Answer, Code, Failure, Operation, Request};
use crate::subscriptions::{Requester, Subscriptions};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_lifecycle::{Lifecycle, When};
use switchyard_model::Device;
use switchyard_store::{Object, Query, Store};

/// Objects `meta` looks at for the properties a type's objects have.
const META_SAMPLE: usize = 1_000;

/// Who a request comes from.
#[derive(Debug)]
pub enum Caller {
    /// A device signed in to the embedded broker.
    Device(Device),
    /// A session the broker vouches for without a device object: a client of an external
    /// broker (whose own ACL decides who may publish requests), or a device without
    /// credentials where the embedded broker lets those in.
    Trusted,
}

/// Where a request came from: what its subscriptions are answered through, and the tenant's
/// lifecycle hooks.
pub struct Origin<'a> {
    pub subscriptions: &'a Arc<Subscriptions>,
    pub lifecycle: &'a Lifecycle,
    /// The client's `specPrefix`.
    pub prefix: &'a str,
    pub requester: Requester,
}

/// Runs `request` on `store`'s tenant, asking its lifecycle hooks first and telling them
/// after; a write is on disk when this returns.
pub async fn run(
    store: &Store,
    caller: &Caller,
    origin: &Origin<'_>,
    request: &Request,
) -> Result<Answer, Failure> {
    allowed(store, caller, request)?;
    let Some(operation) = hooked_operation(request.operation) else {
        return perform(store, origin, request).await;
    };
    let lifecycle = origin.lifecycle;
    let tenant = store.tenant();
    let entity = &request.entity;
    let (before, after) = (
        lifecycle.hooked(tenant, When::Before, operation, entity),
        lifecycle.hooked(tenant, When::After, operation, entity),
    );
    if !before && !after {
        return perform(store, origin, request).await;
    }
    let subscription = (request.data.as_ref())
        .filter(|_| request.operation == Operation::Unsubscribe)
        .and_then(|data| data.get("subscription_id")?.as_str().map(str::to_owned));
    let asked = switchyard_lifecycle::Request {
        record_id: request.record_id.clone().or(subscription),
        data: request.data.clone(),
        query: request.query.clone(),
        ..switchyard_lifecycle::Request::new(operation, hook_caller(store, caller, origin), entity)
    };
    let asked = match before {
        true => lifecycle.before(asked).await.map_err(Failure::from)?,
        false => asked,
    };
    let amended = Request {
        data: asked.data.clone(),
        query: asked.query.clone(),
        ..request.clone()
    };
    let outcome = perform(store, origin, &amended).await;
    if after
        && !matches!(
            outcome,
            Err(Failure {
                unserved: Some(_),
                ..
            })
        )
    {
        let refusal = |failure: &Failure| switchyard_lifecycle::Refusal {
            code: failure.code.as_str(),
            message: failure.message.clone(),
        };
        let told = outcome.as_ref().map(|answer| &answer.data).map_err(refusal);
        lifecycle.after(&asked, told.as_ref().copied()).await;
    }
    outcome
}

/// The lifecycle operation a request is (`meta` is none).
fn hooked_operation(operation: Operation) -> Option<switchyard_lifecycle::Operation> {
    use switchyard_lifecycle::Operation as Hooked;
    Some(match operation {
        Operation::Read => Hooked::Read,
        Operation::Create => Hooked::Create,
        Operation::Update => Hooked::Update,
        Operation::Delete => Hooked::Delete,
        Operation::Subscribe => Hooked::Subscribe,
        Operation::Unsubscribe => Hooked::Unsubscribe,
        Operation::Meta => return None,
    })
}

/// Who is asking, as hooks are told: a device by its username, anyone else by the client id
/// in the request's topic.
fn hook_caller(
    store: &Store,
    caller: &Caller,
    origin: &Origin<'_>,
) -> switchyard_lifecycle::Caller {
    use switchyard_lifecycle::CallerKind;
    let (kind, name) = match caller {
        Caller::Device(device) => (CallerKind::Device, device.username.clone()),
        Caller::Trusted => (CallerKind::Client, origin.requester.id.clone()),
    };
    switchyard_lifecycle::Caller {
        kind,
        name,
        tenant: store.tenant().to_owned(),
    }
}

/// Runs `request` as it stands now.
async fn perform(store: &Store, origin: &Origin<'_>, request: &Request) -> Result<Answer, Failure> {
    let entity = &request.entity;
    let data = |object: Object| Answer {
        data: Value::Object(object),
        metadata: None,
    };
    let answer = match request.operation {
        Operation::Read => match &request.record_id {
            Some(id) => data(one(store, entity, id, &request.query)?),
            None => many(store, entity, &request.query)?,
        },
        Operation::Create => {
            let properties = request.data.clone().ok_or_else(|| {
                Failure::invalid("`create` needs `data`: the new object's properties")
            })?;
            data(store.create(entity, Value::Object(properties))?)
        }
        Operation::Update => {
            let id = record_id(request)?;
            let patch = Value::Object(request.data.clone().unwrap_or_default());
            let update = |txn: &mut switchyard_store::Txn| txn.update(id, patch.clone());
            let within = &request.query;
            let updated = store.write_object(entity, id, request.version, within, update);
            data(updated.await?)
        }
        Operation::Delete => {
            let id = record_id(request)?;
            let delete = |txn: &mut switchyard_store::Txn| txn.delete(id);
            (store.write_object(entity, id, request.version, &request.query, delete)).await?;
            Answer {
                data: json!({ "id": id }),
                metadata: None,
            }
        }
        Operation::Meta => meta(store, entity)?,
        Operation::Subscribe => {
            let filters = request.query.filters.clone();
            let subscriptions = origin.subscriptions;
            let (id, topic) = subscriptions.subscribe(
                origin.prefix,
                origin.requester.clone(),
                entity,
                filters,
            )?;
            Answer {
                data: json!({"subscription_id": id, "notify_topic": topic}),
                metadata: None,
            }
        }
        Operation::Unsubscribe => {
            let id = (request.data.as_ref())
                .and_then(|data| data.get("subscription_id"))
                .and_then(Value::as_str)
                .ok_or_else(|| Failure::invalid("`unsubscribe` needs `data.subscription_id`"))?;
            if !origin.subscriptions.unsubscribe(&origin.requester, id) {
                let message = format!("no subscription `{id}` of this client id");
                return Err(Failure::new(Code::NotFound, message));
            }
            Answer {
                data: json!({ "subscription_id": id }),
                metadata: None,
            }
        }
    };
    if matches!(
        request.operation,
        Operation::Create | Operation::Update | Operation::Delete
    ) {
        store.sync().await?;
    }
    Ok(answer)
}

fn allowed(store: &Store, caller: &Caller, request: &Request) -> Result<(), Failure> {
    if request.operation == Operation::Unsubscribe {
        // Only the requester's own subscriptions can be ended.
        return Ok(());
    }
    let entity = &request.entity;
    switchyard_store::validate_type_name(entity)?;
    if store.is_builtin(entity) {
        return Err(Failure::new(
            Code::Denied,
            format!("{entity} is a built-in type: it is not served over MQTT"),
        ));
    }
    let Caller::Device(device) = caller else {
        return Ok(());
    };
    let (may, list) = match request.operation {
        Operation::Read | Operation::Meta | Operation::Subscribe => {
            (device.may_read(entity), "read")
        }
        _ => (device.may_write(entity), "write"),
    };
    if may {
        return Ok(());
    }
    Err(Failure::new(
        Code::Denied,
        format!(
            "device `{}` may not {list} {entity} objects: its `{list}` list does not name the type",
            device.username
        ),
    ))
}

fn record_id(request: &Request) -> Result<&str, Failure> {
    request.record_id.as_deref().ok_or_else(|| {
        Failure::invalid("this operation needs the object's id, as `record_id` or `data.id`")
    })
}

/// The object `id` of type `entity`, if it passes `within`'s filters (a hook's).
fn one(store: &Store, entity: &str, id: &str, within: &Query) -> Result<Object, Failure> {
    (store.get(id)?)
        .filter(|object| switchyard_model::type_of(object) == entity && within.matches(object))
        .ok_or_else(|| Failure::new(Code::NotFound, format!("no {entity} with id `{id}`")))
}

fn many(store: &Store, entity: &str, query: &Query) -> Result<Answer, Failure> {
    let query = Query {
        total: true,
        ..query.clone()
    };
    let page = store.query(entity, &query)?;
    let count = page.result.len();
    Ok(Answer {
        data: Value::Array(page.result.into_iter().map(Value::Object).collect()),
        metadata: Some((page.total, count)),
    })
}

/// The type's declared indexes and the properties its first objects have.
fn meta(store: &Store, entity: &str) -> Result<Answer, Failure> {
    let indexes: Vec<String> = (store.indexes().into_iter())
        .filter(|(type_name, _)| type_name == entity)
        .map(|(_, property)| property)
        .collect();
    let sample = Query {
        limit: Some(META_SAMPLE),
        ..Query::default()
    };
    let page = store.query(entity, &sample)?;
    let properties: BTreeSet<&String> = page.result.iter().flat_map(|o| o.keys()).collect();
    Ok(Answer {
        data: json!({
            "entity": entity,
            "indexes": indexes,
            "properties": properties,
            "count": store.count(entity)?,
        }),
        metadata: None,
    })
}
