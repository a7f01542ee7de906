//! The composition root: the one place where Switchyard's parts are put together. The store
//! (with the client kinds of every broker), the tenants and their quotas, the sandbox runtime
//! and the plugin registry, the dispatcher with its callbacks, and the broker kinds that
//! follow the store's client objects.
//! `switchyard serve` builds the server from it, and so do the benchmark and the tests, so they
//! measure and test what runs.
//!
//! A new broker (say NATS) is a crate that implements [`BrokerKind`] and one line in
//! [`broker_kinds`].

mod arrivals;
mod follow;
mod heartbeat;
mod hooks;

use anyhow::Context;
use arrivals::DeviceArrivals;
use hooks::PluginHooks;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use switchyard_broker::{BrokerKind, Brokers, Clients, Inbound};
use switchyard_changes::Feeds;
use switchyard_dispatch::{Callbacks, Dispatcher, NativeCallback, Retention};
use switchyard_lifecycle::Lifecycle;
use switchyard_model::Kinds;
use switchyard_mqtt::{BrokerConfig, Devices, EmbeddedBroker};
use switchyard_mqtt_broker::Hooks;
use switchyard_mqttspec::Requests;
use switchyard_plugins::Plugins;
use switchyard_runtime::{Limits, Runtime};
use switchyard_store::Store;
use switchyard_tenants::{Quotas, Tenants};
use tokio::task::JoinHandle;

/// Every broker kind Switchyard ships with. `embedded` is the embedded MQTT broker, for
/// clients whose broker is `embedded`.
pub fn broker_kinds(embedded: Option<EmbeddedBroker>) -> Vec<Box<dyn BrokerKind>> {
    vec![
        Box::new(switchyard_mqtt::Mqtt { embedded }),
        Box::new(switchyard_kafka::Kafka),
        Box::new(switchyard_pulsar::Pulsar),
    ]
}

/// The client kinds of [`broker_kinds`], as the store validates their objects and the CLI and
/// the admin UI list them.
pub fn client_kinds() -> Kinds {
    Kinds::new(broker_kinds(None).iter().map(|b| b.client_kind()).collect())
}

/// How to put a Switchyard together.
pub struct Builder {
    data: PathBuf,
    /// A PostgreSQL URL, or `None` for the embedded store in `data`.
    store: Option<String>,
    /// Where this instance's API listens, as other instances are told.
    address: String,
    cache_bytes: usize,
    limits: Limits,
    retention: Retention,
    quotas: Quotas,
    mqtt: Option<BrokerConfig>,
    /// The default tenant's plugin that answers the embedded broker's hooks.
    mqtt_hooks: Option<String>,
    brokers: Option<Vec<Box<dyn BrokerKind>>>,
    natives: HashMap<String, Arc<dyn NativeCallback>>,
}

impl Builder {
    /// A Switchyard keeping its data in `data`, with the default limits, retention and store
    /// cache, and every broker kind (without the embedded MQTT broker unless
    /// [`Builder::mqtt`] turns it on).
    pub fn new(data: impl Into<PathBuf>) -> Builder {
        Builder {
            data: data.into(),
            store: None,
            address: String::new(),
            cache_bytes: switchyard_store::DEFAULT_CACHE_BYTES,
            limits: Limits::default(),
            retention: Retention::default(),
            quotas: Quotas::default(),
            mqtt: None,
            mqtt_hooks: None,
            brokers: None,
            natives: HashMap::new(),
        }
    }

    /// The plugins' default limits and the instance pool.
    pub fn limits(self, limits: Limits) -> Builder {
        Builder { limits, ..self }
    }

    /// How many `FailedMessage` records are kept.
    pub fn retention(self, retention: Retention) -> Builder {
        Builder { retention, ..self }
    }

    /// The quotas of tenants that do not set their own (by default none).
    pub fn quotas(self, quotas: Quotas) -> Builder {
        Builder { quotas, ..self }
    }

    /// Keeps the objects in the PostgreSQL database at `url` (shared with other instances)
    /// instead of the embedded store; `None` (or empty) is the embedded store.
    pub fn store(self, url: Option<String>) -> Builder {
        Builder {
            // An empty setting (`SWITCHYARD_STORE=`) is no setting.
            store: url.filter(|url| !url.is_empty()),
            ..self
        }
    }

    /// Where this instance's API listens, as `GET /api/instances` shows it.
    pub fn address(self, address: String) -> Builder {
        Builder { address, ..self }
    }

    /// How much of the store the process keeps in memory.
    pub fn cache_bytes(self, cache_bytes: usize) -> Builder {
        Builder {
            cache_bytes,
            ..self
        }
    }

    /// Runs the embedded MQTT broker so; its devices authenticate as the store's
    /// `MQTTDevice` objects.
    pub fn mqtt(self, config: BrokerConfig) -> Builder {
        Builder {
            mqtt: Some(config),
            ..self
        }
    }

    /// Asks the default tenant's plugin `name` (of the `broker-hooks` world) who may connect
    /// to the embedded broker and what they may do.
    pub fn mqtt_hooks(self, name: Option<String>) -> Builder {
        Builder {
            mqtt_hooks: name,
            ..self
        }
    }

    /// The broker kinds to run instead of every one of [`broker_kinds`].
    pub fn brokers(self, brokers: Vec<Box<dyn BrokerKind>>) -> Builder {
        Builder {
            brokers: Some(brokers),
            ..self
        }
    }

    /// Registers a callback written in Rust: subscribers whose `callback` is `name` run it
    /// instead of a plugin.
    pub fn native(mut self, name: &str, callback: Arc<dyn NativeCallback>) -> Builder {
        self.natives.insert(name.to_owned(), callback);
        self
    }

    /// Opens the store, loads the plugins, starts the embedded broker's listeners and wires
    /// the dispatcher and the brokers; no client connects until [`Switchyard::start`].
    pub fn build(self) -> anyhow::Result<Switchyard> {
        self.build_with(|dispatcher| Arc::new(dispatcher.clone()))
    }

    /// Like [`Builder::build`], with the brokers delivering to what `inbound` makes of the
    /// dispatcher (the benchmark wraps it to time every message).
    pub fn build_with(
        self,
        inbound: impl FnOnce(&Dispatcher) -> Arc<dyn Inbound>,
    ) -> anyhow::Result<Switchyard> {
        let kinds = client_kinds();
        let store = match &self.store {
            Some(url) => Store::open_postgres(url, &self.data, kinds).with_context(|| {
                format!("opening the store at {}", Store::postgres_location(url))
            })?,
            None => Store::open_with_cache(&self.data, kinds, self.cache_bytes)
                .with_context(|| format!("opening the database in {}", self.data.display()))?,
        };
        let tenants = Tenants::open(&store, self.quotas).context("reading the tenants")?;
        let runtime = Runtime::new(self.limits).context("starting the runtime")?;
        let plugins =
            Plugins::open(&store, runtime, tenants.clone()).context("loading the plugins")?;
        let hooks = (self.mqtt_hooks.as_deref())
            .map(|name| Arc::new(PluginHooks::new(plugins.clone(), store.clone(), name)));
        let lifecycle = Lifecycle::new(plugins.clone(), store.clone());
        let mqtt = (self.mqtt)
            .map(|mut config| {
                config.max_packet = switchyard_mqtt::MAX_PACKET;
                config.access.gatekeeper = Some(Devices::new(store.clone()));
                config.access.hooks = hooks.map(|hooks| hooks as Arc<dyn Hooks>);
                config.access.arrivals = Some(Arc::new(DeviceArrivals(lifecycle.clone())));
                EmbeddedBroker::start(config, &store)
            })
            .transpose()
            .context("starting the embedded MQTT broker")?;
        let broker_kinds = (self.brokers).unwrap_or_else(|| broker_kinds(mqtt.clone()));
        let callbacks = Callbacks::new(plugins.clone(), self.natives);
        let brokers = Brokers::new(store.clone());
        let dispatcher = Dispatcher::new(
            store.clone(),
            callbacks,
            brokers.clone(),
            tenants.clone(),
            self.retention,
        );
        // Requests of Data over MQTT are answered before the dispatcher sees messages.
        let feeds = Feeds::new(store.clone());
        let inbound: Arc<dyn Inbound> = Requests::new(
            inbound(&dispatcher),
            store.clone(),
            brokers.clone(),
            feeds.clone(),
            lifecycle.clone(),
        );
        let clients = (broker_kinds.iter())
            .map(|kind| {
                let clients = kind.start(store.clone(), inbound.clone());
                brokers.register(kind.client_kind().type_name(), clients.clone());
                clients
            })
            .collect();
        Ok(Switchyard {
            store,
            dispatcher,
            mqtt,
            clients,
            tenants,
            plugins,
            lifecycle,
            feeds,
            address: self.address,
        })
    }
}

/// A Switchyard put together: the store, the dispatcher (with the plugins and brokers behind
/// it) and the clients of every broker kind.
pub struct Switchyard {
    pub store: Store,
    pub dispatcher: Dispatcher,
    /// The embedded MQTT broker, if it runs.
    pub mqtt: Option<EmbeddedBroker>,
    /// The tenants' lifecycle hooks, asked by every door a request comes through.
    pub lifecycle: Lifecycle,
    /// The live change feeds, of Data over MQTT and the REST API.
    pub feeds: Arc<Feeds>,
    clients: Vec<Arc<dyn Clients>>,
    tenants: Tenants,
    plugins: Plugins,
    address: String,
}

impl Switchyard {
    /// Connects every enabled client and starts following the store (and other instances'
    /// changes to it), and starts the retry worker; all run until [`Running::stop`].
    pub fn start(&self) -> Running {
        let mut tasks: Vec<JoinHandle<()>> = (self.clients.iter())
            .map(|clients| tokio::spawn(clients.clone().run()))
            .collect();
        let dispatcher = self.dispatcher.clone();
        tasks.push(tokio::spawn(async move { dispatcher.run_retries().await }));
        let (store, tenants, plugins) = (
            self.store.clone(),
            self.tenants.clone(),
            self.plugins.clone(),
        );
        tasks.push(tokio::spawn(follow::follow(store, tenants, plugins)));
        let (store, address) = (self.store.clone(), self.address.clone());
        tasks.push(tokio::spawn(heartbeat::heartbeat(store, address)));
        Running {
            tasks,
            clients: self.clients.clone(),
            store: self.store.clone(),
        }
    }
}

/// What [`Switchyard::start`] started.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
    clients: Vec<Arc<dyn Clients>>,
    store: Store,
}

impl Running {
    /// Disconnects every client cleanly, stops the retry worker and flushes the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.iter().for_each(JoinHandle::abort);
        futures::future::join_all(self.clients.iter().map(|clients| clients.shutdown())).await;
        self.store.flush().context("flushing the store")?;
        Ok(())
    }
}
