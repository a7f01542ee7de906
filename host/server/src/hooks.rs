//! The embedded broker's hooks as a plugin of the `broker-hooks` world (`--mqtt-hooks NAME`,
//! a plugin of the default tenant: the operator's). Every question goes to the plugin, as it
//! is installed at that moment, in a fresh instance with its limits. A plugin that is missing,
//! returns an error, traps or runs out of time denies.

use std::sync::Arc;
use switchyard_mqtt_broker::{BoxFuture, HookDevice, Hooks, QoS, Verdict};
use switchyard_plugins::Plugins;
use switchyard_runtime::{HookCall, HookDecision};
use switchyard_store::Store;

/// Hooks answered by the default tenant's plugin `name`.
pub struct PluginHooks(Arc<Inner>);

struct Inner {
    plugins: Plugins,
    store: Store,
    name: String,
}

impl PluginHooks {
    pub fn new(plugins: Plugins, store: Store, name: &str) -> PluginHooks {
        let store = store.in_tenant(switchyard_model::DEFAULT_TENANT);
        PluginHooks(Arc::new(Inner {
            plugins,
            store,
            name: name.to_owned(),
        }))
    }

    fn ask(&self, call: HookCall) -> BoxFuture<Verdict> {
        let inner = self.0.clone();
        Box::pin(async move {
            let tenant = switchyard_model::DEFAULT_TENANT;
            let Some(loaded) = inner.plugins.get(tenant, &inner.name) else {
                tracing::warn!(
                    "the MQTT hooks plugin `{}` is not installed: denied",
                    inner.name
                );
                return Verdict::Deny;
            };
            let runtime = inner.plugins.runtime();
            match runtime
                .hook(&loaded.plugin, call, inner.store.begin())
                .await
            {
                Ok(decision) => verdict(decision),
                Err(e) => {
                    tracing::warn!(
                        "the MQTT hooks plugin `{}` failed, so it denies: {e}",
                        inner.name
                    );
                    Verdict::Deny
                }
            }
        })
    }
}

fn verdict(decision: HookDecision) -> Verdict {
    match decision {
        HookDecision::Ignore => Verdict::Ignore,
        HookDecision::Allow => Verdict::Allow,
        HookDecision::Deny => Verdict::Deny,
        HookDecision::Superuser => Verdict::Superuser,
        HookDecision::MaxQos(level) => rumqttd_qos(level).map_or(Verdict::Deny, Verdict::MaxQos),
    }
}

fn rumqttd_qos(level: u8) -> Option<QoS> {
    match level {
        0 => Some(QoS::AtMostOnce),
        1 => Some(QoS::AtLeastOnce),
        2 => Some(QoS::ExactlyOnce),
        _ => None,
    }
}

fn device(device: HookDevice) -> switchyard_runtime::HookDevice {
    switchyard_runtime::HookDevice {
        client_id: device.client_id,
        username: device.username,
        tenant: device.tenant,
    }
}

impl Hooks for PluginHooks {
    fn authenticate(&self, who: HookDevice, password: Vec<u8>) -> BoxFuture<Verdict> {
        self.ask(HookCall::Authenticate {
            device: device(who),
            password,
        })
    }

    fn subscribe(&self, who: HookDevice, filter: String, qos: QoS) -> BoxFuture<Verdict> {
        let qos = qos as u8;
        self.ask(HookCall::Subscribe {
            device: device(who),
            filter,
            qos,
        })
    }

    fn publish(&self, who: HookDevice, topic: String, qos: QoS) -> BoxFuture<Verdict> {
        let qos = qos as u8;
        self.ask(HookCall::Publish {
            device: device(who),
            topic,
            qos,
        })
    }
}
