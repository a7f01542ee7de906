//! Against the embedded broker: the broker itself, and `MQTTClient` objects that use it.

use std::net::TcpListener;
use std::sync::atomic::Ordering;

use rumqttc::{MqttOptions, QoS, Transport};
use serde_json::json;
use switchyard_mqtt::{BrokerConfig, EmbeddedBroker, Listeners, MAX_PACKET};

use crate::common::*;

#[tokio::test]
async fn the_embedded_broker_carries_messages_over_tcp_and_websocket() {
    let test = store();
    let broker = broker(&test.store, true);
    let mut listener = Device::tcp(tcp(&broker)).await;
    listener.subscribe("greetings/#").await;

    let ws = broker.listeners().ws.expect("a websocket listener");
    let mut options = MqttOptions::new("browser", format!("ws://{ws}/mqtt"), ws.port());
    options.set_transport(Transport::Ws);
    let browser = Device::connect(options).await;
    browser
        .publish("greetings/ws", QoS::AtLeastOnce, "hello over websocket")
        .await;

    let (topic, payload) = listener.next().await;
    assert_eq!(topic, "greetings/ws");
    assert_eq!(payload, b"hello over websocket");
}

#[tokio::test]
async fn the_embedded_broker_reports_a_taken_port() {
    let taken = TcpListener::bind(local(0)).expect("bind");
    let addr = taken.local_addr().expect("address");
    let test = store();
    let config = BrokerConfig {
        listeners: Listeners {
            tcp: Some(addr),
            ..Listeners::default()
        },
        max_packet: MAX_PACKET,
        ..BrokerConfig::default()
    };
    let Err(error) = EmbeddedBroker::start(config, &test.store) else {
        panic!("the port is taken")
    };
    let message = error.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(message.contains("in use"), "{message}");
}

#[tokio::test]
async fn an_enabled_client_receives_publishes_and_follows_its_object() {
    let test = store();
    let store = &test.store;
    let broker = broker(store, false);
    let recorder = Recorder::new(store);
    let mqtt = manager(store, recorder.clone(), Some(broker.clone()));

    let id = create(
        store,
        "MQTTClient",
        json!({"name": "gateway", "mainBrokerURL": "embedded", "isEnabled": true}),
    );
    until_connected(store, &id).await;

    // A subscriber linked to the client gets its topic subscribed, in the user's syntax.
    let sub = subscriber(store, "sensors/*/temperature", &id);
    let mut device = Device::tcp(tcp(&broker)).await;
    let payload = r#"{"sensorId":"t1","value":21.5}"#;
    let message =
        publish_until_dispatched(&device, &recorder, "sensors/t1/temperature", payload).await;
    assert_eq!(message.client_id, id);
    assert!(message.received_at_ms > 0);

    // Publishing through the client reaches devices.
    device.subscribe("alerts/#").await;
    mqtt.publish(&id, "alerts/t1", b"too hot".to_vec())
        .await
        .expect("publish");
    assert_eq!(
        device.next().await,
        ("alerts/t1".to_owned(), b"too hot".to_vec())
    );

    // An oversized message is refused and the connection stays up.
    let error = mqtt
        .publish(&id, "alerts/t1", vec![b'x'; 11 * 1024 * 1024])
        .await
        .expect_err("too large");
    assert!(error.to_string().contains("too large"), "{error}");
    assert_eq!(status(store, &id), (true, None));

    // A changed subscriber topic takes effect without a restart.
    store
        .update(&sub, json!({"topic": "rooms/+/humidity"}))
        .expect("update subscriber");
    publish_until_dispatched(&device, &recorder, "rooms/kitchen/humidity", "55").await;

    // Extra subscriptions (Structr's mqttSubscribe) work on the live connection.
    mqtt.subscribe(&id, "commands/*").await.expect("subscribe");
    publish_until_dispatched(&device, &recorder, "commands/reboot", "now").await;
    mqtt.unsubscribe(&id, "commands/*")
        .await
        .expect("unsubscribe");

    // Disabling disconnects; publishing then says why it cannot.
    store
        .update(&id, json!({"isEnabled": false}))
        .expect("disable");
    assert_eq!(until_disconnected(store, &id).await, None);
    let error = mqtt
        .publish(&id, "alerts/t1", b"x".to_vec())
        .await
        .expect_err("disabled");
    assert_eq!(error.to_string(), format!("client `{id}` is not connected"));

    // Enabling again reconnects and resubscribes the subscribers' topics.
    store
        .update(&id, json!({"isEnabled": true}))
        .expect("enable");
    until_connected(store, &id).await;
    publish_until_dispatched(&device, &recorder, "rooms/hall/humidity", "60").await;

    // Deleting the client closes its connection; the subscriber stays.
    assert!(store.delete(&id).expect("delete"));
    let error = eventually("the deleted client to be gone", || async {
        mqtt.publish(&id, "alerts/t1", b"x".to_vec()).await.err()
    })
    .await;
    assert!(error.to_string().contains("not connected"), "{error}");
    assert!(store.get(&sub).expect("read subscriber").is_some());
    mqtt.shutdown().await;
}

#[tokio::test]
async fn a_wrong_port_is_reported_and_the_fallback_is_used() {
    let test = store();
    let store = &test.store;
    let broker = broker(store, false);
    let recorder = Recorder::new(store);
    let mqtt = manager(store, recorder.clone(), Some(broker.clone()));

    let nobody = format!("mqtt://127.0.0.1:{}", free_port());
    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": nobody, "isEnabled": true}),
    );
    let error = until_error(store, &id).await;
    assert!(
        error.starts_with(&nobody),
        "the error names the URL: {error}"
    );
    assert!(
        error.contains("refused"),
        "the error says what happened: {error}"
    );

    // The embedded broker's own listener, reached as any external broker is.
    let fallback = format!("mqtt://{}", tcp(&broker));
    store
        .update(&id, json!({"fallbackBrokerURLs": [fallback]}))
        .expect("add a fallback");
    until_connected(store, &id).await;
    subscriber(store, "fallback/#", &id);
    let device = Device::tcp(tcp(&broker)).await;
    publish_until_dispatched(&device, &recorder, "fallback/works", "yes").await;
    mqtt.shutdown().await;
    assert_eq!(status(store, &id), (false, None));
}

#[tokio::test]
async fn a_client_connects_over_websocket() {
    let test = store();
    let store = &test.store;
    let broker = broker(store, true);
    let recorder = Recorder::new(store);
    let mqtt = manager(store, recorder.clone(), None);

    let url = format!(
        "ws://{}/mqtt",
        broker.listeners().ws.expect("a websocket listener")
    );
    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": url, "isEnabled": true}),
    );
    until_connected(store, &id).await;
    subscriber(store, "ws/#", &id);
    let device = Device::tcp(tcp(&broker)).await;
    publish_until_dispatched(&device, &recorder, "ws/in", "through websocket").await;
    mqtt.shutdown().await;
}

#[tokio::test]
async fn embedded_needs_the_embedded_broker() {
    let test = store();
    let store = &test.store;
    let mqtt = manager(store, Recorder::new(store), None);
    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": "embedded", "isEnabled": true}),
    );
    let error = until_error(store, &id).await;
    assert!(error.contains("embedded broker"), "{error}");
    mqtt.shutdown().await;
}

#[tokio::test]
async fn mqtts_speaks_tls_and_never_falls_back_to_plain_text() {
    let test = store();
    let store = &test.store;
    let broker = broker(store, false);
    let mqtt = manager(store, Recorder::new(store), None);
    // The embedded broker listens in plain text, so a TLS handshake with it must fail.
    let url = format!("mqtts://{}", tcp(&broker));
    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": url, "isEnabled": true}),
    );
    let error = until_error(store, &id).await;
    assert!(error.starts_with(&format!("{url}: TLS")), "{error}");
    mqtt.shutdown().await;
}

/// A device's QoS 1 publish is acknowledged only once its callbacks are done: while one holds,
/// the device has no PUBACK.
#[tokio::test]
async fn qos1_messages_are_acknowledged_to_the_device_only_after_their_callbacks() {
    let test = store();
    let store = &test.store;
    let broker = broker(store, false);
    let recorder = Recorder::holding(store, "hold");
    let mqtt = manager(store, recorder.clone(), Some(broker.clone()));
    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": "embedded", "isEnabled": true}),
    );
    subscriber(store, "jobs/#", &id);
    until_connected(store, &id).await;
    let probe = Device::tcp(tcp(&broker)).await;
    publish_until_dispatched(&probe, &recorder, "jobs/probe", "probe").await;

    let options = MqttOptions::new("worker-device", "127.0.0.1", tcp(&broker).port());
    let (device, acked) = counting_acks(options, 10);
    device
        .publish("jobs/1", QoS::AtLeastOnce, false, "hold-1")
        .await
        .expect("publish");
    eventually("the callback for hold-1 to start", || async {
        recorder
            .started()
            .contains(&"hold-1".to_owned())
            .then_some(())
    })
    .await;
    assert_eq!(
        acked.load(Ordering::SeqCst),
        0,
        "acknowledged before its callback finished"
    );
    recorder.release(1);
    eventually("hold-1 to be acknowledged", || async {
        (acked.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    mqtt.shutdown().await;
}

/// Republishes every message through the client it came on, as a forwarding plugin does.
struct Forwarder {
    mqtt: std::sync::OnceLock<std::sync::Weak<dyn switchyard_broker::Clients>>,
}

impl switchyard_broker::Inbound for Forwarder {
    fn filters_for(&self, _tenant: &str, _client_id: &str) -> Vec<String> {
        vec!["in/#".to_owned()]
    }

    fn dispatch(
        self: std::sync::Arc<Self>,
        message: switchyard_broker::Incoming,
    ) -> switchyard_broker::BoxFuture<'static, switchyard_broker::Outcome> {
        Box::pin(async move {
            let mqtt = self.mqtt.get().and_then(|m| m.upgrade()).expect("manager");
            let topic = message.topic.replacen("in/", "out/", 1);
            mqtt.publish(&message.client_id, &topic, message.payload)
                .await
                .expect("forward");
            switchyard_broker::Outcome::Done
        })
    }

    fn durable(&self) -> switchyard_broker::BoxFuture<'_, Result<(), switchyard_store::Error>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_publishing_through_its_own_client_keeps_up_with_a_flood() {
    const MESSAGES: usize = 3000;
    let test = store();
    let store = &test.store;
    let broker = broker(store, false);
    let forwarder = std::sync::Arc::new(Forwarder {
        mqtt: std::sync::OnceLock::new(),
    });
    let mqtt = manager(store, forwarder.clone(), Some(broker.clone()));
    forwarder
        .mqtt
        .set(std::sync::Arc::downgrade(&mqtt))
        .expect("set once");

    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": "embedded", "isEnabled": true, "qos": 1}),
    );
    until_connected(store, &id).await;
    let mut listener = Device::tcp(tcp(&broker)).await;
    listener.subscribe("out/#").await;
    let source = Device::tcp(tcp(&broker)).await;
    // The client subscribes right after connecting; wait until forwarding works.
    let probe = async {
        loop {
            source.publish("in/probe", QoS::AtLeastOnce, "probe").await;
            let wait = std::time::Duration::from_millis(200);
            if let Ok(Some(_)) = tokio::time::timeout(wait, listener.received.recv()).await {
                return;
            }
        }
    };
    tokio::time::timeout(PATIENCE, probe)
        .await
        .expect("forwarding starts");

    for n in 0..MESSAGES {
        source
            .publish("in/flood", QoS::AtLeastOnce, &n.to_string())
            .await;
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < MESSAGES {
        let (topic, payload) = listener.next().await;
        if topic == "out/flood" {
            seen.insert(payload);
        }
    }
    mqtt.shutdown().await;
}

/// A device that subscribes and then reads nothing does not hold other devices back: what does
/// not fit its queue is dropped for it, as QoS allows a broker, and the publisher's messages
/// are all acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_device_does_not_hold_publishers_back() {
    use rumqttc::{AsyncClient, Event, Packet};

    use std::time::Duration;
    // 10 KB each: 30 MB, well beyond the stalled device's queue.
    const MESSAGES: usize = 3000;
    let test = store();
    let broker = broker(&test.store, false);
    let port = tcp(&broker).port();
    let options = |id: &str| {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(60));
        options.set_max_packet_size(1 << 20, 1 << 20);
        options
    };

    // The subscriber subscribes, then its event loop is left alone: it reads nothing.
    let (subscriber, mut subscribed) = AsyncClient::new(options("stalled"), 10);
    subscriber
        .subscribe("flood/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    while !matches!(
        subscribed.poll().await.unwrap(),
        Event::Incoming(Packet::SubAck(_))
    ) {}

    let (publisher, acked) = counting_acks(options("flooder"), 100);
    tokio::spawn(async move {
        let padding = "x".repeat(10 * 1024);
        for n in 0..MESSAGES {
            let payload = format!("{n} {padding}");
            let topic = format!("flood/{n}");
            if publisher
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .is_err()
            {
                return;
            }
        }
    });
    eventually("every message acknowledged", || async {
        (acked.load(Ordering::SeqCst) == MESSAGES).then_some(())
    })
    .await;

    // Reading again, the subscriber gets what its queue (and the socket) held.
    let mut seen = std::collections::HashSet::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(2), subscribed.poll()).await {
        match event {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                seen.insert(publish.topic);
            }
            Ok(_) => {}
            Err(e) => panic!("the subscriber's connection failed: {e}"),
        }
    }
    assert!(
        !seen.is_empty() && seen.len() < MESSAGES,
        "the stalled device got {} of {MESSAGES}",
        seen.len()
    );
}

/// A device whose PUBACKs are counted.
fn counting_acks(
    options: MqttOptions,
    capacity: usize,
) -> (
    rumqttc::AsyncClient,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use rumqttc::{Event, Packet};
    let (device, mut events) = rumqttc::AsyncClient::new(options, capacity);
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = acked.clone();
    tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let Event::Incoming(Packet::PubAck(_)) = event {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    (device, acked)
}

/// An MQTT 5 device with a session expiry, connecting as `keeper5`.
struct Keeper5 {
    client: rumqttc::v5::AsyncClient,
    events: rumqttc::v5::EventLoop,
}

impl Keeper5 {
    /// Connects without a clean start; returns it and whether the broker kept its session.
    async fn connect(addr: std::net::SocketAddr, expiry: Option<u32>) -> (Keeper5, bool) {
        use rumqttc::v5::{Event, mqttbytes::v5::Packet};
        let mut options =
            rumqttc::v5::MqttOptions::new("keeper5", addr.ip().to_string(), addr.port());
        options
            .set_clean_start(false)
            .set_session_expiry_interval(expiry);
        let (client, mut events) = rumqttc::v5::AsyncClient::new(options, 16);
        let present = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Event::Incoming(Packet::ConnAck(ack)) =
                    events.poll().await.expect("connects")
                {
                    return ack.session_present;
                }
            }
        })
        .await
        .expect("a CONNACK");
        (Keeper5 { client, events }, present)
    }

    /// Polls until `wanted` picks something from an incoming packet.
    async fn until<T>(
        &mut self,
        wanted: impl Fn(&rumqttc::v5::mqttbytes::v5::Packet) -> Option<T>,
    ) -> T {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let event = self.events.poll().await.expect("connected");
                if let rumqttc::v5::Event::Incoming(packet) = event
                    && let Some(found) = wanted(&packet)
                {
                    return found;
                }
            }
        })
        .await
        .expect("the packet in time")
    }

    async fn disconnect(mut self) {
        self.client.disconnect().await.expect("disconnects");
        while self.events.poll().await.is_ok() {}
    }
}

/// MQTT 5 session expiry: the session outlives its connection as the device asked, with its
/// subscription and what arrived meanwhile; asked for none, it ends with the connection.
#[tokio::test]
async fn an_mqtt5_session_lasts_as_long_as_its_device_asked() {
    use rumqttc::v5::mqttbytes::v5::Packet;
    let test = store();
    let broker = broker(&test.store, false);
    let addr = tcp(&broker);
    let (mut keeper, present) = Keeper5::connect(addr, Some(60)).await;
    assert!(!present);
    (keeper
        .client
        .subscribe("away/#", rumqttc::v5::mqttbytes::QoS::AtLeastOnce))
    .await
    .unwrap();
    keeper
        .until(|p| matches!(p, Packet::SubAck(_)).then_some(()))
        .await;
    keeper.disconnect().await;

    let publisher = Device::tcp(addr).await;
    publisher
        .publish("away/door", QoS::AtLeastOnce, "while away")
        .await;
    let (mut keeper, present) = Keeper5::connect(addr, None).await;
    assert!(present, "the session was kept");
    let payload = keeper
        .until(|p| match p {
            Packet::Publish(publish) => Some(publish.payload.to_vec()),
            _ => None,
        })
        .await;
    assert_eq!(payload, b"while away");
    // This connection asked for no expiry: the session ends with it.
    keeper.disconnect().await;
    let (keeper, present) = Keeper5::connect(addr, None).await;
    assert!(
        !present,
        "the session ended with the connection that asked for no expiry"
    );
    keeper.disconnect().await;
}
