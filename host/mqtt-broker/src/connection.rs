//! One device's connection: CONNECT, then a loop that reads packets, routes publishes, writes
//! what the device's subscriptions matched, and acknowledges each QoS 1/2 publish in order once
//! every in-process session it reached has kept it (see [`crate::ack`]).
//!
//! Everything between the socket and a callback is bounded: a device has at most
//! [`MAX_PENDING`] publishes waiting for their acknowledgement (MQTT 5's receive maximum);
//! past that, or while a session it published to is full, the broker stops reading its
//! publishes (and holds at most as many read ahead, so pings and acks still get through). What
//! its subscriptions match waits in a queue of [`DEVICE_QUEUE`] messages; a device that does
//! not keep up loses what does not fit, as QoS allows a broker to (counted and logged).

use crate::Shared;
use crate::access::Verdict;
use crate::access::{Identity, Login, Refused};
use crate::ack::{Ack, Acked};
use crate::codec::{CodecError, Reader, Version, Writer};
use crate::events::Who;
use crate::router::{BoxFuture, Message, Publisher, Router, SessionId, Sink, Via};
use crate::sessions::{self, Slot};
use crate::verdicts::Verdicts;
use futures::FutureExt;
use futures::stream::{FuturesOrdered, StreamExt};
use rumqttd::protocol::{
    ConnAck, ConnAckProperties, ConnectReturnCode, DisconnectReasonCode, LastWill, Packet,
    PingResp, PubAck, PubAckReason, PubComp, PubCompReason, PubRec, PubRecReason, PubRel,
    PubRelReason, Publish, PublishProperties, QoS, SubAck, Subscribe, SubscribeReasonCode,
    UnsubAck, UnsubAckReason, Unsubscribe,
};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedMutexGuard, mpsc, oneshot};
use tokio::time::Instant;

/// Publishes of one device waiting for their acknowledgement (and the receive maximum the
/// broker announces to MQTT 5 devices).
pub(crate) const MAX_PENDING: usize = 256;
/// Messages waiting to be written to one device.
const DEVICE_QUEUE: usize = 1000;
/// QoS 1/2 messages sent to a device and not yet acknowledged by it, unless it asks for fewer.
const DEVICE_INFLIGHT: usize = 100;
/// Time a new connection gets to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Topic aliases an MQTT 5 device may use.
const TOPIC_ALIASES: u16 = 64;

/// Serves one accepted connection until it ends.
pub(crate) async fn serve<S>(stream: S, shared: Arc<Shared>, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (read, write) = tokio::io::split(stream);
    let mut reader = Reader::new(read, shared.max_packet);
    let connect = match tokio::time::timeout(CONNECT_TIMEOUT, reader.read_connect()).await {
        Ok(Ok(Packet::Connect(connect, properties, will, _, login))) => {
            (connect, properties, will, login)
        }
        Ok(Ok(_)) => return,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "MQTT connection refused: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "MQTT connection closed: no CONNECT within {CONNECT_TIMEOUT:?}");
            return;
        }
    };
    let (connect, properties, will, login) = connect;
    let mut writer = Writer::new(write, reader.version());
    let v5 = reader.version() == Version::V5;
    let login = login.map(|login| Login {
        client_id: connect.client_id.clone(),
        username: login.username,
        password: login.password.into_bytes(),
    });
    let identity = match shared.access.admit(&connect.client_id, login).await {
        Ok(identity) => identity,
        Err(refused) => {
            tracing::info!(%peer, client = %connect.client_id, "MQTT device refused: {refused}");
            writer.queue(connack(refusal(refused, v5), None));
            let _ = writer.flush().await;
            return;
        }
    };
    let mut client_id = connect.client_id;
    let assigned = client_id.is_empty();
    if assigned {
        if !connect.clean_session && !v5 {
            writer.queue(connack(ConnectReturnCode::ClientIdentifierNotValid, None));
            let _ = writer.flush().await;
            return;
        }
        client_id = format!("switchyard-{}", SessionId::next().0);
    }
    let tenant = identity.tenant.clone();
    let inflight = (properties.as_ref())
        .and_then(|p| p.receive_maximum)
        .map_or(DEVICE_INFLIGHT, |max| {
            usize::from(max).clamp(1, DEVICE_INFLIGHT)
        });
    let keep_alive = Duration::from_secs(u64::from(connect.keep_alive));
    let (queue, outgoing) = mpsc::channel(DEVICE_QUEUE);
    let sink = Arc::new(DeviceSink {
        queue,
        dropped: AtomicU64::new(0),
        client: client_id.clone(),
    });
    let session = SessionId::next();
    let (slot, taken_over) = shared.register(&tenant, &client_id, session);
    let requested = properties.as_ref().and_then(|p| p.session_expiry_interval);
    let expiry = sessions::expiry(v5, connect.clean_session, requested);
    let held = shared
        .hold(slot, (&tenant, &client_id), connect.clean_session, expiry)
        .await;
    let (mut slot, resumed) = match held {
        Ok(held) => held,
        Err(refused) => {
            tracing::warn!(%peer, client = %client_id, "MQTT device refused: {refused:?}");
            writer.queue(connack(refused.code(v5), None));
            let _ = writer.flush().await;
            shared.unregister(&tenant, &client_id, session, false);
            return;
        }
    };
    let properties = v5.then(|| ConnAckProperties {
        receive_max: Some(MAX_PENDING as u16),
        // Absent means QoS 2; MQTT 5 allows only 0 or 1 here.
        retain_available: Some(1),
        max_packet_size: Some(shared.max_packet as u32),
        assigned_client_identifier: assigned.then(|| client_id.clone()),
        topic_alias_max: Some(TOPIC_ALIASES),
        wildcard_subscription_available: Some(1),
        subscription_identifiers_available: Some(0),
        shared_subscription_available: Some(0),
        ..ConnAckProperties::default()
    });
    writer.queue(connack_present(resumed, properties));
    if writer.flush().await.is_err() {
        let parked = shared
            .park(&mut slot, (&tenant, &client_id), Vec::new())
            .await;
        drop(slot);
        shared.unregister(&tenant, &client_id, session, parked);
        return;
    }
    let mut outgoing = outgoing;
    let mut preface = VecDeque::new();
    if resumed {
        let sink: Arc<dyn Sink> = sink.clone();
        let who = (tenant.as_str(), client_id.as_str());
        let queued = shared.resume(&mut slot, who, session, &sink).await;
        // What was queued while the device was away goes first; what its subscriptions
        // matched since they moved to this connection comes after (a message that arrived in
        // between may come twice, as QoS 1 allows).
        let since = std::iter::from_fn(|| outgoing.try_recv().ok());
        let queued = queued.into_iter().map(|(message, qos)| Outgoing {
            message,
            qos,
            via: Via::Subscription,
        });
        preface = queued.chain(since).collect();
    }
    tracing::debug!(%peer, client = %client_id, %tenant, "MQTT device connected");
    shared.access.presence(&identity, &client_id, true);
    let protocol = if v5 { "5" } else { "3.1.1" };
    let details = json!({"device": identity.device, "protocol": protocol, "cleanStart": connect.clean_session});
    shared.event(&who(&tenant, &identity, &client_id), "connected", details);
    let verdicts = Verdicts::new(shared.access.hooks.as_ref(), &identity, &client_id);
    let publisher = Arc::new(Publisher {
        client_id: client_id.clone(),
        device: identity.device.clone(),
    });
    let mut connection = Connection {
        shared: shared.clone(),
        client_id: client_id.clone(),
        tenant,
        identity,
        publisher,
        refused: 0,
        session,
        sink: sink.clone(),
        v5,
        reader,
        writer,
        will,
        pending: FuturesOrdered::new(),
        held: VecDeque::new(),
        room: None,
        received_qos2: HashSet::new(),
        routing_qos2: HashSet::new(),
        sent: HashMap::new(),
        inflight,
        next_pkid: 0,
        aliases: HashMap::new(),
        slot,
        preface,
        verdicts,
    };
    let end = connection.run(&mut outgoing, taken_over, keep_alive).await;
    tracing::debug!(%peer, client = %client_id, "MQTT device disconnected: {end}");
    // Out of the router first: what it routed here until now is in the queue.
    shared.router.remove_session(&connection.tenant, session);
    let unsent = connection.unsent(&mut outgoing);
    let Connection {
        tenant,
        will,
        identity,
        mut slot,
        ..
    } = connection;
    shared.access.presence(&identity, &client_id, false);
    let details = json!({
        "device": identity.device,
        "reason": end.to_string(),
        "sessionKept": slot.session.is_some(),
    });
    shared.event(
        &who(&tenant, &identity, &client_id),
        "disconnected",
        details,
    );
    let kept = unsent.iter().map(|o| (o.message.clone(), o.qos)).collect();
    let parked = shared.park(&mut slot, (&tenant, &client_id), kept).await;
    if !parked {
        hand_on(&shared.router, &tenant, unsent);
    }
    drop(slot);
    shared.unregister(&tenant, &client_id, session, parked);
    if let (Some(will), false) = (will, matches!(end, End::Disconnected)) {
        shared.publish_will(&tenant, will);
    }
}

fn who<'a>(tenant: &'a str, identity: &'a Identity, client_id: &'a str) -> Who<'a> {
    Who {
        tenant,
        username: identity.username.as_deref(),
        client_id,
    }
}

/// The CONNACK code of a refusal, in the device's protocol version.
fn refusal(refused: Refused, v5: bool) -> ConnectReturnCode {
    match (refused, v5) {
        (Refused::BadCredentials, _) => ConnectReturnCode::BadUserNamePassword,
        (Refused::NotAuthorized, _) => ConnectReturnCode::NotAuthorized,
        (Refused::Unavailable, true) => ConnectReturnCode::ServerUnavailable,
        (Refused::Unavailable, false) => ConnectReturnCode::ServiceUnavailable,
    }
}

fn connack(code: ConnectReturnCode, properties: Option<ConnAckProperties>) -> Packet {
    let ack = ConnAck {
        session_present: false,
        code,
    };
    Packet::ConnAck(ack, properties)
}

/// A successful CONNACK, saying whether the device's session was kept.
fn connack_present(session_present: bool, properties: Option<ConnAckProperties>) -> Packet {
    let ack = ConnAck {
        session_present,
        code: ConnectReturnCode::Success,
    };
    Packet::ConnAck(ack, properties)
}

/// How a connection ended.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("it disconnected")]
    Disconnected,
    #[error("another connection took its client id over")]
    TakenOver,
    #[error("no packet within its keep-alive")]
    KeepAlive,
    #[error("a message it published could not be kept")]
    NotKept,
    #[error("its session could not be kept")]
    SessionNotKept,
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error("writing failed: {0}")]
    Write(#[from] std::io::Error),
}

/// A publish waiting for its acknowledgement, or a SUBACK or UNSUBACK waiting for the
/// session's record to be in the store.
type Pending = BoxFuture<Reply>;

enum Reply {
    Publish(Ackable, Outcome),
    /// A SUBSCRIBE with the hooks' verdict on each of its filters.
    Subscribe(Box<Subscribe>, Vec<Verdict>),
    /// The packet to send, or `None` if the session could not be kept.
    Packet(Option<Box<Packet>>),
}

/// What became of a device's QoS 1/2 publish.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every session it reached kept it: acknowledged.
    Kept,
    /// Not kept: no acknowledgement, the connection ends and the device sends it again.
    NotKept,
    /// Outside the device's topics: dropped, and (MQTT 5) acknowledged as not authorized.
    Refused,
}

#[derive(Clone, Copy)]
enum Ackable {
    PubAck(u16),
    PubRec(u16),
}

/// A message sent to the device at QoS 1 or 2 and not yet acknowledged.
enum Sent {
    /// Sent; a persistent session keeps it if the device goes away now, or another member of
    /// its shared subscription takes it.
    Published(Outgoing),
    /// PUBREL sent: the device has it.
    Released,
}

struct Connection<R, W> {
    shared: Arc<Shared>,
    client_id: String,
    tenant: String,
    identity: Identity,
    /// Who this device is to the sessions its messages reach.
    publisher: Arc<Publisher>,
    /// Publishes refused because they were outside the device's topics.
    refused: u64,
    session: SessionId,
    sink: Arc<DeviceSink>,
    v5: bool,
    reader: Reader<R>,
    writer: Writer<W>,
    will: Option<LastWill>,
    pending: FuturesOrdered<Pending>,
    /// Publishes read while a session they would go to is full.
    held: VecDeque<(Publish, Option<PublishProperties>)>,
    /// Resolves when the sessions the last publish went to have room again.
    room: Option<BoxFuture<()>>,
    /// QoS 2 publishes acknowledged with PUBREC, waiting for their PUBREL.
    received_qos2: HashSet<u16>,
    /// QoS 2 publishes routed and not yet acknowledged.
    routing_qos2: HashSet<u16>,
    sent: HashMap<u16, Sent>,
    inflight: usize,
    next_pkid: u16,
    aliases: HashMap<u16, String>,
    /// The device's session, held while it is connected.
    slot: OwnedMutexGuard<Slot>,
    /// Messages to send before any in the queue: a resumed session's.
    preface: VecDeque<Outgoing>,
    /// What the hooks decided for this device.
    verdicts: Verdicts,
}

impl<R, W> Connection<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    async fn run(
        &mut self,
        outgoing: &mut mpsc::Receiver<Outgoing>,
        mut taken_over: oneshot::Receiver<()>,
        keep_alive: Duration,
    ) -> End {
        // A device gets one and a half keep-alive periods to send something.
        let grace = keep_alive + keep_alive / 2;
        let mut deadline = Instant::now() + grace;
        self.send_ready(outgoing);
        if let Err(e) = self.writer.flush().await {
            return End::Write(e);
        }
        loop {
            let reading = self.pending.len() + self.held.len() < MAX_PENDING;
            if !reading {
                // Its pings wait unread behind its publishes: the broker is the slow one.
                deadline = Instant::now() + grace;
            }
            let sending = self.sent.len() < self.inflight;
            let step = tokio::select! {
                biased;
                _ = &mut taken_over => return End::TakenOver,
                Some(reply) = self.pending.next(), if !self.pending.is_empty() => {
                    self.reply(reply)
                }
                () = async { self.room.as_mut().expect("checked").await }, if self.room.is_some() => {
                    self.room = None;
                    self.release_held()
                }
                Some(message) = outgoing.recv(), if sending && self.preface.is_empty() => {
                    self.send(message);
                    Ok(())
                }
                packet = self.reader.read(), if reading => {
                    deadline = Instant::now() + grace;
                    match packet {
                        Ok(packet) => self.received(packet),
                        Err(e) => Err(e.into()),
                    }
                }
                () = tokio::time::sleep_until(deadline), if !keep_alive.is_zero() => {
                    Err(End::KeepAlive)
                }
            };
            if let Err(end) = step {
                return end;
            }
            // Whatever else is ready goes out in the same write.
            while let Some(Some(reply)) = self.pending.next().now_or_never() {
                if let Err(end) = self.reply(reply) {
                    return end;
                }
            }
            self.send_ready(outgoing);
            if let Err(e) = self.writer.flush().await {
                return End::Write(e);
            }
        }
    }

    fn received(&mut self, packet: Packet) -> Result<(), End> {
        match packet {
            Packet::Publish(publish, properties) => {
                if self.room.is_some() || !self.held.is_empty() {
                    self.held.push_back((publish, properties));
                    Ok(())
                } else {
                    self.publish(publish, properties)
                }
            }
            Packet::PubAck(ack, _) => {
                self.sent.remove(&ack.pkid);
                Ok(())
            }
            Packet::PubRec(rec, _) => {
                if let Some(sent) = self.sent.get_mut(&rec.pkid) {
                    *sent = Sent::Released;
                }
                let rel = PubRel {
                    pkid: rec.pkid,
                    reason: PubRelReason::Success,
                };
                self.writer.queue(Packet::PubRel(rel, None));
                Ok(())
            }
            Packet::PubComp(comp, _) => {
                if let Some(Sent::Released) = self.sent.get(&comp.pkid) {
                    self.sent.remove(&comp.pkid);
                }
                Ok(())
            }
            Packet::PubRel(rel, _) => {
                let reason = if self.received_qos2.remove(&rel.pkid) {
                    PubCompReason::Success
                } else {
                    PubCompReason::PacketIdentifierNotFound
                };
                let comp = PubComp {
                    pkid: rel.pkid,
                    reason,
                };
                self.writer.queue(Packet::PubComp(comp, None));
                Ok(())
            }
            Packet::Subscribe(subscribe, _) => {
                self.subscribe(subscribe);
                Ok(())
            }
            Packet::Unsubscribe(unsubscribe, _) => {
                self.unsubscribe(unsubscribe);
                Ok(())
            }
            Packet::PingReq(_) => {
                self.writer.queue(Packet::PingResp(PingResp));
                Ok(())
            }
            Packet::Disconnect(disconnect, _) => {
                if disconnect.reason_code != DisconnectReasonCode::DisconnectWithWillMessage {
                    self.will = None;
                }
                Err(End::Disconnected)
            }
            Packet::Connect(..) => Err(End::Protocol("a second CONNECT")),
            _ => Err(End::Protocol("a packet only a broker sends")),
        }
    }

    /// Routes publishes held back while a session was full, until one fills a session again.
    fn release_held(&mut self) -> Result<(), End> {
        while self.room.is_none() {
            let Some((publish, properties)) = self.held.pop_front() else {
                break;
            };
            self.publish(publish, properties)?;
        }
        Ok(())
    }

    fn publish(
        &mut self,
        publish: Publish,
        properties: Option<PublishProperties>,
    ) -> Result<(), End> {
        let topic = self.topic(&publish, properties.as_ref())?;
        let verdict = match self.verdicts.publish(&topic, publish.qos) {
            Ok(verdict) => verdict,
            Err(asking) => {
                // This and every later publish wait for the hooks' answer, in order.
                self.held.push_front((publish, properties));
                self.room = Some(asking);
                return Ok(());
            }
        };
        if publish.qos == QoS::ExactlyOnce {
            if self.received_qos2.contains(&publish.pkid) {
                // A resent QoS 2 publish whose PUBREC got lost: it was routed already.
                self.acknowledge(Ackable::PubRec(publish.pkid), Outcome::Kept)?;
                return Ok(());
            }
            if !self.routing_qos2.insert(publish.pkid) {
                // Resent while the first copy waits for its PUBREC, which answers both.
                return Ok(());
            }
        }
        let allowed = match verdict {
            Verdict::Allow | Verdict::MaxQos(_) => !topic.starts_with('$'),
            Verdict::Deny => false,
            Verdict::Ignore | Verdict::Superuser => self.identity.may_publish(&topic),
        };
        if !allowed {
            self.refuse(&topic, &publish);
            return Ok(());
        }
        let message = Arc::new(Message {
            topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: properties.map(|p| p.user_properties).unwrap_or_default(),
            publisher: Some(self.publisher.clone()),
        });
        let (ack, acked) = match publish.qos {
            QoS::AtMostOnce => (Ack::none(), None),
            _ => {
                let (ack, acked) = Ack::new();
                (ack, Some(acked))
            }
        };
        let retained = message
            .retain
            .then(|| self.shared.retained.set(&self.tenant, &message));
        let waits = self.shared.router.route(&self.tenant, &message, &ack);
        drop(ack);
        if !waits.is_empty() {
            self.room = Some(Box::pin(futures::future::join_all(waits).map(|_| ())));
        }
        let ackable = match publish.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Ackable::PubAck(publish.pkid)),
            QoS::ExactlyOnce => Some(Ackable::PubRec(publish.pkid)),
        };
        if let (Some(ackable), Some(acked)) = (ackable, acked) {
            self.pending
                .push_back(Box::pin(kept(acked, retained, ackable)));
        } else if let Some(retained) = retained {
            tokio::spawn(async move {
                if let Err(e) = retained.await {
                    tracing::error!("cannot keep a retained message: {e}");
                }
            });
        }
        Ok(())
    }

    /// The topic of a publish, through MQTT 5 topic aliases.
    fn topic(
        &mut self,
        publish: &Publish,
        properties: Option<&PublishProperties>,
    ) -> Result<String, End> {
        let topic = std::str::from_utf8(&publish.topic)
            .map_err(|_| End::Protocol("a topic that is not UTF-8"))?;
        let alias = properties.and_then(|p| p.topic_alias);
        let topic = match alias {
            Some(0) => return Err(End::Protocol("topic alias 0")),
            Some(alias) if alias > TOPIC_ALIASES => {
                return Err(End::Protocol("a topic alias above the maximum"));
            }
            Some(alias) if topic.is_empty() => (self.aliases.get(&alias).cloned())
                .ok_or(End::Protocol("an unknown topic alias"))?,
            Some(alias) => {
                self.aliases.insert(alias, topic.to_owned());
                topic.to_owned()
            }
            None => topic.to_owned(),
        };
        if topic.is_empty() || topic.contains(['+', '#', '\0']) {
            return Err(End::Protocol("a publish to an invalid topic"));
        }
        Ok(topic)
    }

    /// Drops a publish outside the device's topics; a QoS 1/2 one is still acknowledged, in
    /// its turn (MQTT 5: as not authorized), or the device would send it again and again.
    fn refuse(&mut self, topic: &str, publish: &Publish) {
        self.refused += 1;
        // Logged at 1, 2, 4, 8, ... refusals: visible without flooding the log.
        if self.refused.is_power_of_two() {
            tracing::warn!(
                tenant = %self.tenant,
                device = ?self.identity.device,
                "an MQTT device published to `{topic}`, outside its publish filters or denied by the hooks: dropped \
                 ({} so far)",
                self.refused
            );
        }
        let ackable = match publish.qos {
            QoS::AtMostOnce => return,
            QoS::AtLeastOnce => Ackable::PubAck(publish.pkid),
            QoS::ExactlyOnce => Ackable::PubRec(publish.pkid),
        };
        let refused = Reply::Publish(ackable, Outcome::Refused);
        (self.pending).push_back(Box::pin(futures::future::ready(refused)));
    }

    fn reply(&mut self, reply: Reply) -> Result<(), End> {
        match reply {
            Reply::Publish(ackable, outcome) => self.acknowledge(ackable, outcome),
            Reply::Subscribe(subscribe, verdicts) => {
                self.apply_subscribe(*subscribe, verdicts);
                Ok(())
            }
            Reply::Packet(Some(packet)) => {
                self.writer.queue(*packet);
                Ok(())
            }
            Reply::Packet(None) => Err(End::SessionNotKept),
        }
    }

    fn acknowledge(&mut self, ackable: Ackable, outcome: Outcome) -> Result<(), End> {
        let refused = match outcome {
            // No acknowledgement: the device sends the message again when it reconnects.
            Outcome::NotKept => return Err(End::NotKept),
            Outcome::Kept => false,
            Outcome::Refused => self.v5,
        };
        match ackable {
            Ackable::PubAck(pkid) => {
                let reason = match refused {
                    true => PubAckReason::NotAuthorized,
                    false => PubAckReason::Success,
                };
                self.writer
                    .queue(Packet::PubAck(PubAck { pkid, reason }, None));
            }
            Ackable::PubRec(pkid) => {
                self.routing_qos2.remove(&pkid);
                let reason = match refused {
                    true => PubRecReason::NotAuthorized,
                    false => {
                        self.received_qos2.insert(pkid);
                        PubRecReason::Success
                    }
                };
                self.writer
                    .queue(Packet::PubRec(PubRec { pkid, reason }, None));
            }
        }
        Ok(())
    }

    /// Puts a SUBSCRIBE to the hooks, if any, and answers it in its turn.
    fn subscribe(&mut self, subscribe: Subscribe) {
        if !self.verdicts.asks() {
            let ignored = vec![Verdict::Ignore; subscribe.filters.len()];
            return self.apply_subscribe(subscribe, ignored);
        }
        let filters = (subscribe.filters.iter())
            .map(|filter| (filter.path.clone(), filter.qos))
            .collect();
        let asked = self.verdicts.subscribe(filters);
        let subscribe = Box::new(subscribe);
        (self.pending).push_back(Box::pin(
            async move { Reply::Subscribe(subscribe, asked.await) },
        ));
    }

    fn apply_subscribe(&mut self, subscribe: Subscribe, verdicts: Vec<Verdict>) {
        let sink: Arc<dyn Sink> = self.sink.clone();
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut retained = Vec::new();
        for (filter, verdict) in subscribe.filters.iter().zip(verdicts) {
            let allowed = match verdict {
                Verdict::Allow | Verdict::MaxQos(_) => true,
                Verdict::Deny => false,
                Verdict::Ignore | Verdict::Superuser => {
                    self.identity.may_subscribe(unshared(&filter.path))
                }
            };
            let refused = match () {
                () if !valid_filter(&filter.path) => Some(SubscribeReasonCode::TopicFilterInvalid),
                () if !allowed => {
                    tracing::info!(
                        tenant = %self.tenant,
                        device = ?self.identity.device,
                        "an MQTT device asked for `{}`, outside its subscribe filters or denied by the hooks: refused",
                        filter.path
                    );
                    Some(SubscribeReasonCode::NotAuthorized)
                }
                () => None,
            };
            if let Some(code) = refused {
                codes.push(if self.v5 {
                    code
                } else {
                    SubscribeReasonCode::Failure
                });
                continue;
            }
            let qos = match verdict {
                Verdict::MaxQos(most) => filter.qos.min(most),
                _ => filter.qos,
            };
            (self.shared.router).subscribe(&self.tenant, self.session, &filter.path, qos, &sink);
            codes.push(SubscribeReasonCode::Success(qos));
            if let Some(session) = &mut self.slot.session {
                session.subscriptions.insert(filter.path.clone(), qos);
            }
            let details = json!({"filter": filter.path, "qos": qos as u8});
            self.event("subscribed", details);
            // A shared subscription takes no retained messages (MQTT 5, 4.8.2).
            if switchyard_topic::shared(&filter.path).is_none() {
                for message in self.shared.retained.matching(&self.tenant, &filter.path) {
                    retained.push((message, qos));
                }
            }
        }
        let ack = SubAck {
            pkid: subscribe.pkid,
            return_codes: codes,
        };
        self.answer_when_saved(Packet::SubAck(ack, None));
        for (message, qos) in retained {
            let qos = qos.min(message.qos);
            self.sink
                .deliver(&message, qos, &Via::Retained, &Ack::none());
        }
    }

    fn unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let mut reasons = Vec::with_capacity(unsubscribe.filters.len());
        for filter in &unsubscribe.filters {
            let removed = (self.shared.router).unsubscribe(&self.tenant, self.session, filter);
            reasons.push(match removed {
                true => UnsubAckReason::Success,
                false => UnsubAckReason::NoSubscriptionExisted,
            });
            if removed {
                self.event("unsubscribed", json!({ "filter": filter }));
            }
            if let Some(session) = &mut self.slot.session {
                session.subscriptions.remove(filter);
            }
        }
        let ack = UnsubAck {
            pkid: unsubscribe.pkid,
            reasons,
        };
        self.answer_when_saved(Packet::UnsubAck(ack, None));
    }

    /// Sends a SUBACK or UNSUBACK; for a persistent session, in its turn once the session's
    /// subscriptions are in the store.
    fn answer_when_saved(&mut self, packet: Packet) {
        let Some(session) = &self.slot.session else {
            self.writer.queue(packet);
            return;
        };
        let who = (self.tenant.as_str(), self.client_id.as_str());
        let saved = self.shared.sessions.save(who, session, None);
        self.pending.push_back(Box::pin(async move {
            match saved.await {
                Ok(()) => Reply::Packet(Some(Box::new(packet))),
                Err(e) => {
                    tracing::error!("cannot keep an MQTT session's subscriptions: {e}");
                    Reply::Packet(None)
                }
            }
        }));
    }

    fn event(&self, event: &str, details: serde_json::Value) {
        let who = who(&self.tenant, &self.identity, &self.client_id);
        self.shared.event(&who, event, details);
    }

    /// Writes what waits for the device while its in-flight window has room: a resumed
    /// session's queue first, then what its subscriptions matched since.
    fn send_ready(&mut self, outgoing: &mut mpsc::Receiver<Outgoing>) {
        while self.sent.len() < self.inflight {
            let next = (self.preface.pop_front()).or_else(|| outgoing.try_recv().ok());
            match next {
                Some(message) => self.send(message),
                None => break,
            }
        }
    }

    /// What the device had not received when the connection ends: the QoS 1/2 messages sent
    /// and not acknowledged, then those not sent yet.
    fn unsent(&mut self, outgoing: &mut mpsc::Receiver<Outgoing>) -> Vec<Outgoing> {
        let mut sent: Vec<_> = self.sent.drain().collect();
        sent.sort_by_key(|(pkid, _)| *pkid);
        let mut unsent: Vec<_> = (sent.into_iter())
            .filter_map(|(_, sent)| match sent {
                Sent::Published(outgoing) => Some(outgoing),
                Sent::Released => None,
            })
            .collect();
        let waiting = self
            .preface
            .drain(..)
            .chain(std::iter::from_fn(|| outgoing.try_recv().ok()));
        unsent.extend(waiting);
        unsent
    }

    /// Writes one message the device's subscriptions matched.
    fn send(&mut self, outgoing: Outgoing) {
        let pkid = match outgoing.qos {
            QoS::AtMostOnce => 0,
            _ => self.free_pkid(),
        };
        let message = &outgoing.message;
        let publish = Publish {
            dup: false,
            qos: outgoing.qos,
            pkid,
            retain: outgoing.via == Via::Retained,
            topic: message.topic.clone().into(),
            payload: message.payload.clone(),
        };
        let properties = (self.v5 && !message.properties.is_empty()).then(|| PublishProperties {
            user_properties: message.properties.clone(),
            ..PublishProperties::default()
        });
        self.writer.queue(Packet::Publish(publish, properties));
        if pkid != 0 {
            self.sent.insert(pkid, Sent::Published(outgoing));
        }
    }

    fn free_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
            if !self.sent.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }
}

/// Waits for a publish to be kept by every session it reached (and, if retained, stored).
async fn kept(
    acked: Acked,
    retained: Option<impl Future<Output = switchyard_store::Result<()>>>,
    ackable: Ackable,
) -> Reply {
    let mut kept = acked.await;
    if let Some(retained) = retained
        && let Err(e) = retained.await
    {
        tracing::error!("cannot keep a retained message: {e}");
        kept = false;
    }
    Reply::Publish(
        ackable,
        if kept {
            Outcome::Kept
        } else {
            Outcome::NotKept
        },
    )
}

/// A valid MQTT topic filter, or shared subscription `$share/<group>/<filter>`.
fn valid_filter(filter: &str) -> bool {
    let shared = filter.starts_with("$share/");
    let inner = unshared(filter);
    rumqttd::protocol::valid_filter(inner) && !filter.contains('\0') && (!shared || inner != filter)
}

/// The filter a shared subscription matches with, or the filter itself.
fn unshared(filter: &str) -> &str {
    switchyard_topic::shared(filter).map_or(filter, |(_, inner)| inner)
}

/// What a session that ends with its connection took from shared subscriptions and the device
/// did not acknowledge goes to another member of each (MQTT 5, 4.8.2); the rest is dropped
/// with the session.
fn hand_on(router: &Router, tenant: &str, unsent: Vec<Outgoing>) {
    for outgoing in unsent {
        if let Via::Share(share) = &outgoing.via
            && !router.reshare(tenant, share, &outgoing.message)
        {
            tracing::debug!(%share, "a shared subscription's message left with its last member");
        }
    }
}

/// A message on its way to a device.
struct Outgoing {
    message: Arc<Message>,
    qos: QoS,
    via: Via,
}

/// A device's queue, as the router sees it.
struct DeviceSink {
    queue: mpsc::Sender<Outgoing>,
    dropped: AtomicU64,
    client: String,
}

impl Sink for DeviceSink {
    fn deliver(&self, message: &Arc<Message>, qos: QoS, via: &Via, _: &Ack) {
        let outgoing = Outgoing {
            message: message.clone(),
            qos,
            via: via.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(outgoing) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at 1, 2, 4, 8, ... drops: visible without flooding the log.
            if dropped.is_power_of_two() {
                tracing::warn!(
                    client = %self.client,
                    "an MQTT device is not keeping up: dropped a message for it ({dropped} so far)"
                );
            }
        }
    }

    fn room(&self) -> Option<BoxFuture<()>> {
        None
    }
}
