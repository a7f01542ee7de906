//! The protocol versions an `MQTTClient` speaks to an external broker, behind one face:
//! rumqttc's MQTT 3.1.1 client, and its MQTT 5 client for `protocolVersion: 5`, whose user
//! properties reach callbacks as the message's `headers`. The driver in `connection.rs` is
//! written once, against [`Client`] and [`Events`].

use rumqttc::v5::mqttbytes::v5 as p5;
use rumqttc::{NetworkOptions, Outgoing, QoS, Request, SubscribeFilter};
use std::time::Duration;

use crate::endpoint::Endpoint;
use crate::settings::{MAX_PACKET, REQUEST_CAPACITY, Settings};

/// Which MQTT an external broker is spoken to in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1 (`protocolVersion: 4`, the default).
    #[default]
    V4,
    /// MQTT 5 (`protocolVersion: 5`).
    V5,
}

/// The client half: requests to the event loop.
#[derive(Clone)]
pub(crate) enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// The event-loop half (one per connection, boxed: the two differ much in size).
pub(crate) enum Events {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

/// A received message, in either version.
pub(crate) struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub pkid: u16,
    /// MQTT 5 user properties (none in MQTT 3.1.1).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// What the driver acts on.
pub(crate) enum Event {
    ConnAck,
    Publish(Received),
    /// A SUBACK that refused a filter.
    Refused,
    /// The DISCONNECT the driver asked for went out.
    Disconnected,
    Other,
}

/// A connection failure, in words (neither version's messages include the credentials).
pub(crate) struct Failure(pub String);

const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// A client and its event loop for `endpoint`, connecting as `client_id`, not connected until
/// polled.
pub(crate) fn connect(
    settings: &Settings,
    client_id: &str,
    endpoint: &Endpoint,
) -> (Client, Events) {
    match settings.version {
        Version::V4 => {
            let options = options4(settings, client_id, endpoint);
            let (client, events) = rumqttc::AsyncClient::new(options, REQUEST_CAPACITY);
            let mut events = events;
            // Every publish and ack is one small packet that someone waits for: send it now
            // rather than let Nagle's algorithm hold it for the peer's delayed ACK.
            events.network_options.set_tcp_nodelay(true);
            (Client::V4(client), Events::V4(Box::new(events)))
        }
        Version::V5 => {
            let options = options5(settings, client_id, endpoint);
            let (client, events) = rumqttc::v5::AsyncClient::new(options, REQUEST_CAPACITY);
            (Client::V5(client), Events::V5(Box::new(events)))
        }
    }
}

fn options4(settings: &Settings, client_id: &str, endpoint: &Endpoint) -> rumqttc::MqttOptions {
    let (host, port) = endpoint.address();
    let mut options = rumqttc::MqttOptions::new(client_id, host, port);
    options
        .set_transport(endpoint.transport())
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(settings.clean_session())
        // Acks go out only after the callbacks finished: at-least-once for QoS 1 and 2.
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_request_channel_capacity(REQUEST_CAPACITY);
    if let Some((username, password)) = settings.credentials() {
        options.set_credentials(username, password);
    }
    options
}

fn options5(settings: &Settings, client_id: &str, endpoint: &Endpoint) -> rumqttc::v5::MqttOptions {
    let (host, port) = endpoint.address();
    let mut options = rumqttc::v5::MqttOptions::new(client_id, host, port);
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options
        .set_transport(endpoint.transport())
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_start(settings.clean_session())
        .set_manual_acks(true)
        .set_max_packet_size(Some(MAX_PACKET as u32))
        .set_request_channel_capacity(REQUEST_CAPACITY)
        .set_network_options(network);
    if !settings.clean_session() {
        // MQTT 5 keeps a session only as long as asked: as long as the broker allows.
        options.set_session_expiry_interval(Some(u32::MAX));
    }
    if let Some((username, password)) = settings.credentials() {
        options.set_credentials(username, password);
    }
    options
}

fn qos5(qos: QoS) -> rumqttc::v5::mqttbytes::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

fn qos4(qos: rumqttc::v5::mqttbytes::QoS) -> QoS {
    match qos {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
        rumqttc::v5::mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

impl Client {
    /// Hands a publish to the event loop; `Err` only when the loop is gone.
    pub async fn publish(&self, topic: &str, qos: QoS, payload: Vec<u8>) -> Result<(), ()> {
        match self {
            Client::V4(client) => client
                .publish(topic, qos, false, payload)
                .await
                .map_err(drop),
            Client::V5(client) => {
                (client.publish(topic, qos5(qos), false, payload).await).map_err(drop)
            }
        }
    }

    pub async fn subscribe(&self, filters: Vec<String>, qos: QoS) -> Result<(), ()> {
        match self {
            Client::V4(client) => {
                let filters = filters.into_iter().map(|f| SubscribeFilter::new(f, qos));
                client.subscribe_many(filters).await.map_err(drop)
            }
            Client::V5(client) => {
                let filters = filters.into_iter().map(|f| p5::Filter::new(f, qos5(qos)));
                client.subscribe_many(filters).await.map_err(drop)
            }
        }
    }

    pub async fn unsubscribe(&self, filter: String) -> Result<(), ()> {
        match self {
            Client::V4(client) => client.unsubscribe(filter).await.map_err(drop),
            Client::V5(client) => client.unsubscribe(filter).await.map_err(drop),
        }
    }

    /// Acknowledges the message `pkid` received at `qos`.
    pub async fn ack(&self, qos: QoS, pkid: u16) -> Result<(), ()> {
        // Both acknowledge by QoS and packet id; the rest is not sent.
        match self {
            Client::V4(client) => {
                let mut publish = rumqttc::Publish::new("", qos, Vec::new());
                publish.pkid = pkid;
                client.ack(&publish).await.map_err(drop)
            }
            Client::V5(client) => {
                let mut publish = p5::Publish::new("", qos5(qos), Vec::new(), None);
                publish.pkid = pkid;
                client.ack(&publish).await.map_err(drop)
            }
        }
    }
}

impl Events {
    pub async fn poll(&mut self) -> Result<Event, Failure> {
        match self {
            Events::V4(events) => {
                use rumqttc::{Event as E, Packet as P};
                Ok(match events.poll().await.map_err(describe4)? {
                    E::Incoming(P::ConnAck(_)) => Event::ConnAck,
                    E::Incoming(P::Publish(publish)) => Event::Publish(Received {
                        qos: publish.qos,
                        pkid: publish.pkid,
                        payload: publish.payload.to_vec(),
                        topic: publish.topic,
                        headers: Vec::new(),
                    }),
                    E::Incoming(P::SubAck(suback))
                        if (suback.return_codes)
                            .contains(&rumqttc::SubscribeReasonCode::Failure) =>
                    {
                        Event::Refused
                    }
                    E::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
                    _ => Event::Other,
                })
            }
            Events::V5(events) => {
                use rumqttc::v5::Event as E;
                Ok(match events.poll().await.map_err(describe5)? {
                    E::Incoming(p5::Packet::ConnAck(_)) => Event::ConnAck,
                    E::Incoming(p5::Packet::Publish(publish)) => {
                        let properties = publish.properties.unwrap_or_default();
                        Event::Publish(Received {
                            topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                            payload: publish.payload.to_vec(),
                            qos: qos4(publish.qos),
                            pkid: publish.pkid,
                            headers: (properties.user_properties.into_iter())
                                .map(|(name, value)| (name, value.into_bytes()))
                                .collect(),
                        })
                    }
                    E::Incoming(p5::Packet::SubAck(suback))
                        if (suback.return_codes.iter())
                            .any(|code| !matches!(code, p5::SubscribeReasonCode::Success(_))) =>
                    {
                        Event::Refused
                    }
                    E::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
                    _ => Event::Other,
                })
            }
        }
    }

    /// Connects to `endpoint` as `client_id` on the next poll.
    pub fn retarget(&mut self, settings: &Settings, client_id: &str, endpoint: &Endpoint) {
        match self {
            Events::V4(events) => events.mqtt_options = options4(settings, client_id, endpoint),
            Events::V5(events) => events.options = options5(settings, client_id, endpoint),
        }
    }

    /// Queues a subscription ahead of everything users send.
    pub fn subscribe_first(&mut self, filters: Vec<String>, qos: QoS) {
        match self {
            Events::V4(events) => {
                let filters = filters.into_iter().map(|f| SubscribeFilter::new(f, qos));
                let subscribe = rumqttc::Subscribe::new_many(filters);
                events.pending.push_back(Request::Subscribe(subscribe));
            }
            Events::V5(events) => {
                let filters = filters.into_iter().map(|f| p5::Filter::new(f, qos5(qos)));
                let subscribe = p5::Subscribe::new_many(filters, None);
                (events.pending).push_back(rumqttc::v5::Request::Subscribe(subscribe));
            }
        }
    }

    /// Queues a DISCONNECT.
    pub fn disconnect(&mut self) {
        match self {
            Events::V4(events) => {
                (events.pending).push_back(Request::Disconnect(rumqttc::Disconnect))
            }
            Events::V5(events) => events.pending.push_back(rumqttc::v5::Request::Disconnect),
        }
    }
}

fn describe4(error: rumqttc::ConnectionError) -> Failure {
    use rumqttc::ConnectReturnCode as C;
    Failure(match error {
        rumqttc::ConnectionError::ConnectionRefused(code) => refused(match code {
            C::BadUserNamePassword => "bad username or password",
            C::NotAuthorized => "not authorized",
            C::BadClientId => "client id rejected",
            C::ServiceUnavailable => "service unavailable",
            C::RefusedProtocolVersion => "protocol version not supported",
            C::Success => "no reason given",
        }),
        rumqttc::ConnectionError::NetworkTimeout => TIMED_OUT.to_owned(),
        other => other.to_string(),
    })
}

fn describe5(error: rumqttc::v5::ConnectionError) -> Failure {
    use p5::ConnectReturnCode as C;
    Failure(match error {
        rumqttc::v5::ConnectionError::ConnectionRefused(code) => refused(match code {
            C::BadUserNamePassword => "bad username or password",
            C::NotAuthorized => "not authorized",
            C::BadClientId | C::ClientIdentifierNotValid => "client id rejected",
            C::ServiceUnavailable | C::ServerUnavailable | C::ServerBusy => "service unavailable",
            C::RefusedProtocolVersion | C::UnsupportedProtocolVersion => {
                "protocol version not supported (try protocolVersion 4)"
            }
            C::Banned => "banned",
            _ => "see the broker's log",
        }),
        rumqttc::v5::ConnectionError::Timeout(_) => TIMED_OUT.to_owned(),
        other => other.to_string(),
    })
}

const TIMED_OUT: &str = "no answer from the broker (timed out)";

fn refused(why: &str) -> String {
    format!("the broker refused the connection: {why}")
}
