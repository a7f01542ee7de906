//! Plugins of the `lifecycle-hooks` world: a tenant's rules, asked before and told after an
//! operation on its objects or devices (see `switchyard-lifecycle`, which decides when). They
//! run in the same sandbox as message callbacks (a fresh instance per call, the plugin's
//! limits, capabilities and deadline), importing `objects` and `logging`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "lifecycle-hooks",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "switchyard:plugin/logging": crate::bindings::logging,
        "switchyard:plugin/objects": crate::bindings::objects,
        "switchyard:plugin/types": crate::bindings::types,
    },
});

use exports::switchyard::plugin::lifecycle as wit;

pub use wit::{CallerKind, Operation};

/// Who is asking.
#[derive(Clone, Debug)]
pub struct Caller {
    pub kind: CallerKind,
    pub name: String,
    pub tenant: String,
}

/// One request at one point, as a hook sees it (`data` and `query` as JSON text).
#[derive(Clone, Debug)]
pub struct HookRequest {
    pub operation: Operation,
    pub caller: Caller,
    pub entity: String,
    pub record_id: String,
    pub data: String,
    pub query: String,
}

/// What a lifecycle hook is asked.
#[derive(Clone, Debug)]
pub enum LifecycleCall {
    Before(HookRequest),
    /// With the outcome as JSON.
    After(HookRequest, String),
}

impl LifecycleCall {
    fn request(&self) -> &HookRequest {
        match self {
            LifecycleCall::Before(request) | LifecycleCall::After(request, _) => request,
        }
    }

    /// What the call is about, for its log lines: `before create Note`.
    pub(crate) fn subject(&self) -> String {
        let request = self.request();
        let point = match self {
            LifecycleCall::Before(_) => "before",
            LifecycleCall::After(..) => "after",
        };
        format!(
            "{point} {} {}",
            operation_name(request.operation),
            request.entity
        )
        .trim_end()
        .to_owned()
    }

    pub(crate) fn caller(&self) -> &str {
        &self.request().caller.name
    }
}

/// An operation's name, as users write it in `LifecycleHook.points`.
pub fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Connect => "connect",
        Operation::Disconnect => "disconnect",
        Operation::Read => "read",
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Delete => "delete",
        Operation::Subscribe => "subscribe",
        Operation::Unsubscribe => "unsubscribe",
    }
}

/// What a `before` hook decided (an `after` hook's call answers [`Decision::Allow`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny {
        code: String,
        message: String,
    },
    Modify {
        data: Option<String>,
        filters: Option<String>,
    },
}

/// Calls the hook `call` asks for on a fresh instance.
pub(crate) async fn call(
    pre: &LifecycleHooksPre<crate::sandbox::Sandbox>,
    store: &mut wasmtime::Store<crate::sandbox::Sandbox>,
    call: LifecycleCall,
) -> wasmtime::Result<Result<Decision, String>> {
    let started = std::time::Instant::now();
    let instance = pre.instantiate_async(&mut *store).await?;
    crate::profile::since(crate::profile::Phase::Instantiate, started);
    let hooks = instance.switchyard_plugin_lifecycle();
    let request = |r: HookRequest| wit::Request {
        operation: r.operation,
        caller: wit::Caller {
            kind: r.caller.kind,
            name: r.caller.name,
            tenant: r.caller.tenant,
        },
        entity: r.entity,
        record_id: r.record_id,
        data: r.data,
        query: r.query,
    };
    Ok(match call {
        LifecycleCall::Before(r) => {
            let decided = hooks.call_before(&mut *store, &request(r)).await?;
            decided.map(|decision| match decision {
                wit::Decision::Allow => Decision::Allow,
                wit::Decision::Deny(refusal) => Decision::Deny {
                    code: refusal.code,
                    message: refusal.message,
                },
                wit::Decision::Modify(amendment) => Decision::Modify {
                    data: amendment.data,
                    filters: amendment.filters,
                },
            })
        }
        LifecycleCall::After(r, outcome) => {
            let told = hooks.call_after(&mut *store, &request(r), &outcome).await?;
            told.map(|()| Decision::Allow)
        }
    })
}
