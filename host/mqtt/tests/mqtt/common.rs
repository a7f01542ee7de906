//! Shared test parts: a store in a temporary directory, an `Inbound` that records what it is
//! given (the seam to the dispatcher), a device-side MQTT client, and waiting helpers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use switchyard_broker::{BoxFuture, BrokerKind, Clients, Inbound, Incoming, Outcome};
use switchyard_model::Kinds;
use switchyard_mqtt::{
    Access, BrokerConfig, EmbeddedBroker, Listeners, MAX_PACKET, Mqtt, MqttKind,
};
use switchyard_store::{Object, Query, Store};
pub use switchyard_test_support::free_port;
use tokio::sync::{Semaphore, mpsc};

/// How long anything may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The embedded broker on free ports, keeping its retained messages in `store`.
pub fn broker(store: &Store, ws: bool) -> EmbeddedBroker {
    let listeners = Listeners {
        tcp: Some(local(0)),
        ws: ws.then(|| local(0)),
        ..Listeners::default()
    };
    start_broker(store, listeners, Access::default())
}

/// The embedded broker with these listeners and access rules.
pub fn start_broker(store: &Store, listeners: Listeners, access: Access) -> EmbeddedBroker {
    let config = BrokerConfig {
        listeners,
        access,
        max_packet: MAX_PACKET,
        ..BrokerConfig::default()
    };
    EmbeddedBroker::start(config, store).expect("embedded broker starts")
}

/// The embedded broker's TCP address.
pub fn tcp(broker: &EmbeddedBroker) -> SocketAddr {
    broker.listeners().tcp.expect("a TCP listener")
}

pub struct TestStore {
    pub store: Store,
    _dir: tempfile::TempDir,
}

pub fn store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let kinds = Kinds::new(vec![Arc::new(MqttKind)]);
    let store = Store::open(dir.path(), kinds).expect("open store");
    TestStore { store, _dir: dir }
}

/// Records dispatched messages. `filters_for` reads the subscribers from the store, as the
/// dispatcher does. A holding recorder keeps the callbacks of some messages running until
/// [`Recorder::release`] lets them finish.
pub struct Recorder {
    store: Store,
    messages: Mutex<Vec<Incoming>>,
    /// Payloads (as text) of the dispatches that have started, including held ones.
    started: Mutex<Vec<String>>,
    /// Payloads starting with this prefix wait for a permit.
    hold: Option<(String, Semaphore)>,
}

impl Recorder {
    pub fn new(store: &Store) -> Arc<Recorder> {
        Self::build(store, None)
    }

    /// A recorder whose dispatches of payloads starting with `prefix` wait for [`Recorder::release`].
    pub fn holding(store: &Store, prefix: &str) -> Arc<Recorder> {
        Self::build(store, Some((prefix.to_owned(), Semaphore::new(0))))
    }

    fn build(store: &Store, hold: Option<(String, Semaphore)>) -> Arc<Recorder> {
        Arc::new(Recorder {
            store: store.clone(),
            messages: Mutex::new(Vec::new()),
            started: Mutex::new(Vec::new()),
            hold,
        })
    }

    /// Lets this many held callbacks finish.
    pub fn release(&self, callbacks: usize) {
        self.hold
            .as_ref()
            .expect("a holding recorder")
            .1
            .add_permits(callbacks);
    }

    pub fn messages(&self) -> Vec<Incoming> {
        self.messages.lock().unwrap().clone()
    }

    /// Payloads (as text) of the dispatches that have started, in order.
    pub fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }
}

impl Inbound for Recorder {
    fn filters_for(&self, _tenant: &str, client_id: &str) -> Vec<String> {
        let page = self
            .store
            .query("MessageSubscriber", &Query::default())
            .expect("query subscribers");
        page.result
            .iter()
            .filter(|s| {
                s.get("clients")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|c| c == client_id))
            })
            .filter_map(|s| s.get("topic").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            self.started.lock().unwrap().push(text.clone());
            if let Some((prefix, permits)) = &self.hold
                && text.starts_with(prefix.as_str())
            {
                permits.acquire().await.expect("permits stay open").forget();
            }
            self.messages.lock().unwrap().push(message);
            Outcome::Done
        })
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), switchyard_store::Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// Polls `check` until it returns something, or fails the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    switchyard_test_support::eventually(what, PATIENCE, check).await
}

/// The `MQTTClient` connections, running against `store`.
pub fn manager(
    store: &Store,
    inbound: Arc<dyn Inbound>,
    embedded: Option<EmbeddedBroker>,
) -> Arc<dyn Clients> {
    let mqtt = Mqtt { embedded }.start(store.clone(), inbound);
    tokio::spawn(mqtt.clone().run());
    mqtt
}

pub fn create(store: &Store, type_name: &str, properties: Value) -> String {
    let object = store.create(type_name, properties).expect("create object");
    object["id"].as_str().expect("object id").to_owned()
}

pub fn subscriber(store: &Store, topic: &str, client: &str) -> String {
    create(
        store,
        "MessageSubscriber",
        json!({"topic": topic, "callback": "recorder", "clients": [client]}),
    )
}

pub fn object(store: &Store, id: &str) -> Object {
    store.get(id).expect("read object").expect("object exists")
}

/// The client's (isConnected, lastError) as a user reads them.
pub fn status(store: &Store, id: &str) -> (bool, Option<String>) {
    let object = object(store, id);
    let connected = object
        .get("isConnected")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let error = object
        .get("lastError")
        .and_then(Value::as_str)
        .map(str::to_owned);
    (connected, error)
}

/// Waits until the client reports being connected without error.
pub async fn until_connected(store: &Store, id: &str) {
    eventually(&format!("client {id} to connect"), || async {
        (status(store, id) == (true, None)).then_some(())
    })
    .await;
}

/// Waits until the client reports being disconnected, and returns its lastError.
pub async fn until_disconnected(store: &Store, id: &str) -> Option<String> {
    eventually(&format!("client {id} to disconnect"), || async {
        let (connected, error) = status(store, id);
        (!connected).then_some(error)
    })
    .await
}

/// Waits until the client reports an error, and returns it.
pub async fn until_error(store: &Store, id: &str) -> String {
    eventually(&format!("client {id} to report an error"), || async {
        match status(store, id) {
            (false, Some(error)) => Some(error),
            _ => None,
        }
    })
    .await
}

/// A device on the broker: a plain rumqttc client whose event loop runs in the background
/// and whose received publishes arrive on `received`.
pub struct Device {
    pub client: AsyncClient,
    pub received: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    subacks: mpsc::UnboundedReceiver<()>,
}

impl Device {
    pub async fn connect(options: MqttOptions) -> Device {
        let (client, eventloop) = AsyncClient::new(options, 100);
        let (publishes, received) = mpsc::unbounded_channel();
        let (acks, subacks) = mpsc::unbounded_channel();
        let (connected_tx, mut connected) = mpsc::unbounded_channel();
        tokio::spawn(drive(eventloop, publishes, acks, connected_tx));
        tokio::time::timeout(PATIENCE, connected.recv())
            .await
            .expect("device connects")
            .expect("device event loop runs");
        Device {
            client,
            received,
            subacks,
        }
    }

    pub async fn tcp(addr: SocketAddr) -> Device {
        let id = format!("device-{}", free_port());
        Device::connect(MqttOptions::new(id, addr.ip().to_string(), addr.port())).await
    }

    /// Subscribes and waits for the broker's SubAck.
    pub async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("device subscribes");
        tokio::time::timeout(PATIENCE, self.subacks.recv())
            .await
            .expect("broker acknowledges the subscription");
    }

    pub async fn publish(&self, topic: &str, qos: QoS, payload: &str) {
        self.client
            .publish(topic, qos, false, payload.as_bytes().to_vec())
            .await
            .expect("device publishes");
    }

    pub async fn next(&mut self) -> (String, Vec<u8>) {
        tokio::time::timeout(PATIENCE, self.received.recv())
            .await
            .expect("device receives a message")
            .expect("device event loop runs")
    }
}

async fn drive(
    mut eventloop: EventLoop,
    publishes: mpsc::UnboundedSender<(String, Vec<u8>)>,
    subacks: mpsc::UnboundedSender<()>,
    connected: mpsc::UnboundedSender<()>,
) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = connected.send(());
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let _ = publishes.send((p.topic.clone(), p.payload.to_vec()));
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = subacks.send(());
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Publishes `payload` to `topic` every 200 ms until the recorder has it: a new subscription
/// becomes active at the broker a moment after the store change that causes it.
pub async fn publish_until_dispatched(
    device: &Device,
    recorder: &Recorder,
    topic: &str,
    payload: &str,
) -> Incoming {
    let what = format!("`{payload}` on {topic} to be dispatched");
    eventually(&what, || async {
        device.publish(topic, QoS::AtMostOnce, payload).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        recorder
            .messages()
            .into_iter()
            .find(|m| m.topic == topic && m.payload == payload.as_bytes())
    })
    .await
}
