//! Plugins of the `broker-hooks` world: they decide for the embedded MQTT broker who may
//! connect and which subscriptions and publishes go ahead. They run in the same sandbox as
//! message callbacks (a fresh instance per call, the plugin's limits and deadline), with only
//! logging to import.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "broker-hooks",
    imports: { default: trappable },
    exports: { default: async },
    with: { "switchyard:plugin/logging": crate::bindings::logging },
});

use exports::switchyard::plugin::hooks as wit;

/// The device a hook is asked about.
#[derive(Clone, Debug)]
pub struct HookDevice {
    pub client_id: String,
    pub username: String,
    pub tenant: Option<String>,
}

/// What a hook is asked.
#[derive(Clone, Debug)]
pub enum HookCall {
    Authenticate {
        device: HookDevice,
        password: Vec<u8>,
    },
    Subscribe {
        device: HookDevice,
        filter: String,
        qos: u8,
    },
    Publish {
        device: HookDevice,
        topic: String,
        qos: u8,
    },
}

impl HookCall {
    /// What the call is about, for its log lines.
    pub(crate) fn subject(&self) -> String {
        match self {
            HookCall::Authenticate { device, .. } => format!("authenticate {}", device.username),
            HookCall::Subscribe { filter, .. } => format!("subscribe {filter}"),
            HookCall::Publish { topic, .. } => format!("publish {topic}"),
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        match self {
            HookCall::Authenticate { device, .. }
            | HookCall::Subscribe { device, .. }
            | HookCall::Publish { device, .. } => &device.client_id,
        }
    }
}

/// What a hook decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookDecision {
    Ignore,
    Allow,
    Deny,
    Superuser,
    MaxQos(u8),
}

/// Calls the hook `call` asks for on a fresh instance.
pub(crate) async fn call(
    pre: &BrokerHooksPre<crate::sandbox::Sandbox>,
    store: &mut wasmtime::Store<crate::sandbox::Sandbox>,
    call: HookCall,
) -> wasmtime::Result<Result<HookDecision, String>> {
    let started = std::time::Instant::now();
    let instance = pre.instantiate_async(&mut *store).await?;
    crate::profile::since(crate::profile::Phase::Instantiate, started);
    let hooks = instance.switchyard_plugin_hooks();
    let device = |d: HookDevice| wit::Device {
        client_id: d.client_id,
        username: d.username,
        tenant: d.tenant,
    };
    let authorized = |decided: Result<wit::Authorization, String>| {
        decided.map(|decision| match decision {
            wit::Authorization::Ignore => HookDecision::Ignore,
            wit::Authorization::Allow => HookDecision::Allow,
            wit::Authorization::Deny => HookDecision::Deny,
            wit::Authorization::MaxQos(qos) => HookDecision::MaxQos(qos),
        })
    };
    Ok(match call {
        HookCall::Authenticate {
            device: d,
            password,
        } => {
            let decided = hooks
                .call_authenticate(&mut *store, &device(d), &password)
                .await?;
            decided.map(|decision| match decision {
                wit::Authentication::Ignore => HookDecision::Ignore,
                wit::Authentication::Allow => HookDecision::Allow,
                wit::Authentication::Deny => HookDecision::Deny,
                wit::Authentication::Superuser => HookDecision::Superuser,
            })
        }
        HookCall::Subscribe {
            device: d,
            filter,
            qos,
        } => {
            let d = device(d);
            let decided = hooks.call_authorize_subscribe(&mut *store, &d, &filter, qos);
            authorized(decided.await?)
        }
        HookCall::Publish {
            device: d,
            topic,
            qos,
        } => {
            let d = device(d);
            let decided = hooks.call_authorize_publish(&mut *store, &d, &topic, qos);
            authorized(decided.await?)
        }
    })
}
