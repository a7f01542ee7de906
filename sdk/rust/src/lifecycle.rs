//! A tenant's lifecycle hooks: a plugin of the `lifecycle-hooks` world is asked before, and
//! told after, operations on the tenant's objects and devices (MQTTSpec's points: connect,
//! disconnect, read, create, update, delete, subscribe, unsubscribe), whichever door they come
//! through: Data over MQTT, the REST object routes, the embedded broker. A `LifecycleHook`
//! object attaches it to the points it wants. Implement [`Lifecycle`] and export it with
//! [`lifecycle!`](crate::lifecycle!):
//!
//! ```no_run
//! use switchyard_sdk::lifecycle::{Decision, Lifecycle, Operation, Request};
//!
//! struct Rules;
//!
//! impl Lifecycle for Rules {
//!     fn before(request: &Request) -> Result<Decision, String> {
//!         Ok(match request.operation {
//!             Operation::Delete => Decision::deny("denied", "nothing is ever deleted here"),
//!             _ => Decision::Allow,
//!         })
//!     }
//! }
//!
//! switchyard_sdk::lifecycle!(Rules);
//! ```
//!
//! A `before` hook's `Err`, a panic or running out of time refuses the request
//! (`hook_error`): a hook never lets through what it could not decide. A lifecycle plugin
//! reads and writes objects with [`crate::objects`] (its capabilities apply; its writes are
//! committed when it returns `Ok`) and logs with [`crate::log`].

use serde_json::{Map, Value};

/// Bindings generated from the `lifecycle-hooks` world of `wit/plugin.wit`, sharing the
/// `objects` and `logging` imports of [`crate::bindings`]: public for
/// [`lifecycle!`](crate::lifecycle!) to expand in the plugin's crate.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "lifecycle-hooks",
        pub_export_macro: true,
        default_bindings_module: "switchyard_sdk::lifecycle::bindings",
        with: {
            "switchyard:plugin/types@0.2.1": crate::bindings::switchyard::plugin::types,
            "switchyard:plugin/objects@0.2.1": crate::bindings::switchyard::plugin::objects,
            "switchyard:plugin/logging@0.2.1": crate::bindings::switchyard::plugin::logging,
        },
    });
}

use bindings::exports::switchyard::plugin::lifecycle as wit;
pub use wit::{Caller, CallerKind, Operation};

/// One request at one point.
#[derive(Debug, Clone)]
pub struct Request {
    pub operation: Operation,
    pub caller: Caller,
    /// The object type; empty for connect and disconnect.
    pub entity: String,
    /// The object a read of one, an update or a delete is about, or the subscription an
    /// unsubscribe ends; empty otherwise.
    pub record_id: String,
    /// The properties a create or update writes; `Null` for other operations.
    pub data: Value,
    /// A read's or subscription's query: `{"filters": [{"column", "operator", "value"}],
    /// "sort", "order", "limit", "offset"}`.
    pub query: Value,
}

impl Request {
    /// The properties a create or update writes, as a map (empty if there are none).
    pub fn data_map(&self) -> Map<String, Value> {
        self.data.as_object().cloned().unwrap_or_default()
    }
}

impl From<wit::Request> for Request {
    fn from(request: wit::Request) -> Request {
        let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
        Request {
            operation: request.operation,
            caller: request.caller,
            entity: request.entity,
            record_id: request.record_id,
            data: json(&request.data),
            query: json(&request.query),
        }
    }
}

/// What a `before` hook decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Go ahead as asked.
    Allow,
    /// Refuse: `code` is one of Data over MQTT's error codes (`denied`, `invalid_message`,
    /// `not_found`, `conflict`, `quota`; any other is answered as `denied`).
    Deny { code: String, message: String },
    /// Go ahead with `data` written instead of the request's own (create, update) and
    /// `filters` (`{"column", "operator", "value"}` values) added: a read or subscription
    /// gets only the objects that pass them, and a read of one, update or delete of an object
    /// that does not pass finds none.
    Modify {
        data: Option<Map<String, Value>>,
        filters: Vec<Value>,
    },
}

impl Decision {
    pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Decision {
        Decision::Deny {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Go ahead writing `data` instead.
    pub fn with_data(data: Map<String, Value>) -> Decision {
        Decision::Modify {
            data: Some(data),
            filters: Vec::new(),
        }
    }

    /// Go ahead with `filters` added.
    pub fn with_filters(filters: Vec<Value>) -> Decision {
        Decision::Modify {
            data: None,
            filters,
        }
    }
}

impl From<Decision> for wit::Decision {
    fn from(decision: Decision) -> wit::Decision {
        match decision {
            Decision::Allow => wit::Decision::Allow,
            Decision::Deny { code, message } => wit::Decision::Deny(wit::Refusal { code, message }),
            Decision::Modify { data, filters } => wit::Decision::Modify(wit::Amendment {
                data: data.map(|data| Value::Object(data).to_string()),
                filters: (!filters.is_empty()).then(|| Value::Array(filters).to_string()),
            }),
        }
    }
}

/// A tenant's rules; both methods default to letting everything through.
pub trait Lifecycle {
    /// Asked before the operation runs.
    fn before(request: &Request) -> Result<Decision, String> {
        let _ = request;
        Ok(Decision::Allow)
    }

    /// Told after it ran: `outcome` is `{"success": true, "data": ...}` or `{"success":
    /// false, "error": {"code", "message"}}`. An `Err` is logged; the operation stands.
    fn after(request: &Request, outcome: &Value) -> Result<(), String> {
        let _ = (request, outcome);
        Ok(())
    }
}

/// What [`lifecycle!`](crate::lifecycle!) expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use super::bindings::export;
    pub use super::bindings::exports::switchyard::plugin::lifecycle::{
        Decision as WitDecision, Guest, Request as WitRequest,
    };

    /// Asks `L` before an operation.
    pub fn before<L: super::Lifecycle>(request: WitRequest) -> Result<WitDecision, String> {
        L::before(&request.into()).map(Into::into)
    }

    /// Tells `L` after one.
    pub fn after<L: super::Lifecycle>(request: WitRequest, outcome: String) -> Result<(), String> {
        let outcome = serde_json::from_str(&outcome).unwrap_or(serde_json::Value::Null);
        L::after(&request.into(), &outcome)
    }
}

/// Exports a type implementing [`lifecycle::Lifecycle`](crate::lifecycle::Lifecycle) as the
/// plugin's lifecycle hooks. Use it once per plugin crate, instead of
/// [`handler!`](crate::handler!).
#[macro_export]
macro_rules! lifecycle {
    ($rules:ty) => {
        const _: () = {
            use $crate::lifecycle::__private::{WitDecision, WitRequest};
            struct SwitchyardLifecycle;

            impl $crate::lifecycle::__private::Guest for SwitchyardLifecycle {
                fn before(
                    request: WitRequest,
                ) -> ::core::result::Result<WitDecision, ::std::string::String> {
                    $crate::lifecycle::__private::before::<$rules>(request)
                }

                fn after(
                    request: WitRequest,
                    outcome: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::lifecycle::__private::after::<$rules>(request, outcome)
                }
            }

            $crate::lifecycle::__private::export!(SwitchyardLifecycle with_types_in $crate::lifecycle::bindings);
        };
    };
}
