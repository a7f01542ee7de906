//! Lifecycle hooks: a tenant's plugins of the `lifecycle-hooks` world, attached by its
//! `LifecycleHook` objects to MQTTSpec's points (`before`/`after` × connect, disconnect, read,
//! create, update, delete, subscribe, unsubscribe). Every door a request comes through (Data
//! over MQTT, the REST object routes, the embedded broker) asks [`Lifecycle`] the same way, so a
//! tenant's rule holds whichever one a write takes.
//!
//! `before` hooks run one after another, in the order they were created, each seeing the
//! request as the ones before it left it; one that denies ends the chain. A hook that fails,
//! traps, runs out of time or is not installed denies with `hook_error`: it never allows.
//! `after` hooks are told the outcome; what they say back is only logged. What a hook writes
//! through its `objects` import is committed when it returns ok, apart from the operation.
//!
//! The hooks of a tenant are read once per change to `LifecycleHook` objects, so a request with
//! no hook attached to its point costs a map lookup.

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use switchyard_model::{LIFECYCLE_HOOK, LifecycleHook};
use switchyard_plugins::Plugins;
use switchyard_runtime::{Decision, HookRequest, LifecycleCall, operation_name};
use switchyard_store::{Query, Store};

pub use switchyard_model::When;
pub use switchyard_runtime::{Caller, CallerKind, Operation};

/// The error codes a `before` hook may answer with; any other is answered as `denied`.
const CODES: [&str; 5] = [
    "denied",
    "invalid_message",
    "not_found",
    "conflict",
    "quota",
];

/// One request at one point.
#[derive(Clone, Debug)]
pub struct Request {
    pub operation: Operation,
    pub caller: Caller,
    /// The object type; empty for connect and disconnect.
    pub entity: String,
    /// The object (or, for unsubscribe, the subscription) it is about.
    pub record_id: Option<String>,
    /// The properties a create or update writes.
    pub data: Option<Map<String, Value>>,
    /// A read's or subscription's query.
    pub query: Query,
}

impl Request {
    /// A request about `entity` with nothing else said yet.
    pub fn new(operation: Operation, caller: Caller, entity: &str) -> Request {
        Request {
            operation,
            caller,
            entity: entity.to_owned(),
            record_id: None,
            data: None,
            query: Query::default(),
        }
    }

    fn for_hook(&self) -> HookRequest {
        HookRequest {
            operation: self.operation,
            caller: self.caller.clone(),
            entity: self.entity.clone(),
            record_id: self.record_id.clone().unwrap_or_default(),
            data: self.data.as_ref().map_or_else(
                || "null".to_owned(),
                |data| Value::Object(data.clone()).to_string(),
            ),
            query: self.query.to_json().to_string(),
        }
    }

    /// Applies a `modify` decision: new data, filters added to the query.
    fn amend(&mut self, data: Option<String>, filters: Option<String>) -> Result<(), String> {
        if let Some(data) = data {
            match serde_json::from_str(&data) {
                Ok(Value::Object(data)) => self.data = Some(data),
                _ => return Err(format!("its `data` must be a JSON object, not `{data}`")),
            }
        }
        if let Some(filters) = filters {
            let list: Value = serde_json::from_str(&filters)
                .map_err(|e| format!("its `filters` are not JSON ({e}): `{filters}`"))?;
            let added = Query::from_json(&json!({ "filters": list }))
                .map_err(|e| format!("its `filters` are not a list of filters: {e}"))?;
            self.query.filters.extend(added.filters);
        }
        Ok(())
    }
}

/// Why a request was refused: `code` is one of Data over MQTT's error codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn hook_error(message: String) -> Refusal {
        tracing::warn!("{message}");
        Refusal {
            code: "hook_error",
            message,
        }
    }
}

/// Asks a tenant's lifecycle hooks. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle(Arc<Inner>);

struct Inner {
    plugins: Plugins,
    store: Store,
    /// Each tenant's hooks, in the order they run, as of a `LifecycleHook` generation.
    hooks: Mutex<HashMap<String, Read>>,
}

/// A tenant's hooks as read at one `LifecycleHook` generation.
type Read = (u64, Arc<Vec<LifecycleHook>>);

impl Lifecycle {
    pub fn new(plugins: Plugins, store: Store) -> Lifecycle {
        Lifecycle(Arc::new(Inner {
            plugins,
            store,
            hooks: Mutex::new(HashMap::new()),
        }))
    }

    /// Whether any of `tenant`'s hooks is asked at `when` `operation` on `entity`: a caller
    /// with nothing to ask skips building the request.
    pub fn hooked(&self, tenant: &str, when: When, operation: Operation, entity: &str) -> bool {
        let name = operation_name(operation);
        (self.hooks_of(tenant).iter()).any(|hook| hook.hears(when, name, entity))
    }

    /// Runs the `before` hooks of the request's tenant: the request as they left it, or why
    /// it is refused.
    pub async fn before(&self, mut request: Request) -> Result<Request, Refusal> {
        let tenant = request.caller.tenant.clone();
        let name = operation_name(request.operation);
        for hook in self.hooks_of(&tenant).iter() {
            if !hook.hears(When::Before, name, &request.entity) {
                continue;
            }
            let call = LifecycleCall::Before(request.for_hook());
            let point = format!("before {name} {}", request.entity);
            let failed = |why: String| {
                let message = format!(
                    "the lifecycle hook `{}` ({point}) failed, so the request is refused: {why}",
                    hook.plugin
                );
                Refusal::hook_error(message)
            };
            match self
                .ask(&tenant, &hook.plugin, call)
                .await
                .map_err(failed)?
            {
                Decision::Allow => {}
                Decision::Deny { code, message } => {
                    let code = CODES
                        .iter()
                        .find(|known| **known == code)
                        .unwrap_or(&"denied");
                    return Err(Refusal { code, message });
                }
                Decision::Modify { data, filters } => {
                    request.amend(data, filters).map_err(|why| {
                        failed(format!("it answered a change the host cannot make: {why}"))
                    })?;
                }
            }
        }
        Ok(request)
    }

    /// Tells the `after` hooks of the request's tenant how it went: `Ok(data)` or the refusal.
    pub async fn after(&self, request: &Request, outcome: Result<&Value, &Refusal>) {
        let tenant = &request.caller.tenant;
        let name = operation_name(request.operation);
        let hooks = self.hooks_of(tenant);
        let mut heard = hooks
            .iter()
            .filter(|h| h.hears(When::After, name, &request.entity));
        let Some(first) = heard.next() else {
            return;
        };
        let outcome = match outcome {
            Ok(data) => json!({"success": true, "data": data}),
            Err(refusal) => json!({"success": false, "error": {
                "code": refusal.code, "message": refusal.message,
            }}),
        }
        .to_string();
        for hook in std::iter::once(first).chain(heard) {
            let call = LifecycleCall::After(request.for_hook(), outcome.clone());
            if let Err(why) = self.ask(tenant, &hook.plugin, call).await {
                tracing::warn!(
                    "the lifecycle hook `{}` (after {name} {}) failed: {why}",
                    hook.plugin,
                    request.entity
                );
            }
        }
    }

    /// Calls `plugin` of `tenant` and commits what it wrote.
    async fn ask(
        &self,
        tenant: &str,
        plugin: &str,
        call: LifecycleCall,
    ) -> Result<Decision, String> {
        let inner = &self.0;
        let loaded = (inner.plugins.get(tenant, plugin))
            .ok_or_else(|| format!("no plugin named `{plugin}` is installed"))?;
        let store = inner.store.in_tenant(tenant);
        let runtime = inner.plugins.runtime();
        let (decision, writes) = (runtime.lifecycle(&loaded.plugin, call, store.begin()).await)
            .map_err(|e| e.to_string())?;
        if !writes.is_empty() {
            writes
                .commit_grouped()
                .await
                .map_err(|e| format!("its writes failed: {e}"))?;
            store
                .sync()
                .await
                .map_err(|e| format!("its writes failed: {e}"))?;
        }
        Ok(decision)
    }

    /// `tenant`'s hooks, in creation order, read again after any `LifecycleHook` changed.
    fn hooks_of(&self, tenant: &str) -> Arc<Vec<LifecycleHook>> {
        let inner = &self.0;
        let generation = inner.store.generation(LIFECYCLE_HOOK);
        if let Some((seen, hooks)) = inner.hooks.lock().get(tenant)
            && *seen == generation
        {
            return hooks.clone();
        }
        let store = inner.store.in_tenant(tenant);
        let query = Query {
            sort: Some("createdAt".into()),
            ..Query::default()
        };
        let hooks = match store.query(LIFECYCLE_HOOK, &query) {
            Ok(page) => page
                .result
                .iter()
                .filter_map(LifecycleHook::of)
                .collect::<Vec<_>>(),
            Err(e) => {
                // Fail closed: an unreadable hook list is a hook that cannot answer.
                tracing::warn!("the lifecycle hooks of `{tenant}` cannot be read: {e}");
                return Arc::new(vec![unreadable()]);
            }
        };
        let hooks = Arc::new(hooks);
        (inner.hooks.lock()).insert(tenant.to_owned(), (generation, hooks.clone()));
        hooks
    }
}

/// Stands for a tenant's hooks while they cannot be read: asked at every `before` point, it
/// names no installed plugin, so every request is refused with `hook_error` until they can.
fn unreadable() -> LifecycleHook {
    LifecycleHook {
        id: String::new(),
        plugin: String::new(),
        points: (switchyard_model::OPERATIONS.iter())
            .map(|op| (When::Before, *op))
            .collect(),
        entities: Vec::new(),
        enabled: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        let caller = Caller {
            kind: CallerKind::Token,
            name: "admin".into(),
            tenant: "acme".into(),
        };
        let mut request = Request::new(Operation::Read, caller, "Note");
        request.query = Query::from_params([("kind", "memo")]).unwrap();
        request
    }

    #[test]
    fn an_amendment_replaces_the_data_and_adds_filters() {
        let mut amended = request();
        let filters = r#"[{"column": "tenant_id", "operator": "eq", "value": "acme"}]"#;
        amended
            .amend(Some(r#"{"text": "x"}"#.into()), Some(filters.into()))
            .unwrap();
        assert_eq!(Value::Object(amended.data.unwrap()), json!({"text": "x"}));
        let columns: Vec<&str> = amended
            .query
            .filters
            .iter()
            .map(|f| f.column.as_str())
            .collect();
        assert_eq!(columns, ["kind", "tenant_id"], "added to the caller's own");
    }

    #[test]
    fn an_amendment_the_host_cannot_make_is_named() {
        let not_an_object = request().amend(Some("[1]".into()), None).unwrap_err();
        assert!(
            not_an_object.contains("`data` must be a JSON object"),
            "{not_an_object}"
        );
        let bad_filter = r#"[{"column": "a", "operator": "about", "value": 1}]"#;
        let unknown = request().amend(None, Some(bad_filter.into())).unwrap_err();
        assert!(unknown.contains("not a list of filters"), "{unknown}");
        let not_json = request().amend(None, Some("[".into())).unwrap_err();
        assert!(not_json.contains("not JSON"), "{not_json}");
    }
}
