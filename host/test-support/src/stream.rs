//! A device that publishes a numbered stream at QoS 1 and remembers which messages its broker
//! acknowledged: the messages a user may count on, whatever happens to Switchyard afterwards.

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a publish waits for its PUBACK before it is sent again (after a broker restart the
/// unacknowledged publish is gone with the old connection).
const ACK_PATIENCE: Duration = Duration::from_secs(2);

pub struct Stream {
    acked: Arc<Mutex<BTreeSet<u64>>>,
    task: JoinHandle<()>,
}

enum Seen {
    Sent(u16),
    Acked(u16),
}

impl Stream {
    /// Publishes messages `0..count` one after another, at most `per_second` a second (as
    /// fast as acknowledgements allow when `None`), each to the topic and payload `message(i)`
    /// gives, waiting for each PUBACK.
    pub fn start(
        addr: SocketAddr,
        credentials: Option<(&str, &str)>,
        count: u64,
        per_second: Option<u64>,
        message: impl Fn(u64) -> (String, Vec<u8>) + Send + 'static,
    ) -> Stream {
        let id = format!("stream-{}", crate::free_port());
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let events = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        let _ = seen_tx.send(Seen::Sent(pkid));
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        let _ = seen_tx.send(Seen::Acked(ack.pkid));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let record = acked.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..count {
                if let Some(rate) = per_second {
                    let due = start + Duration::from_micros(i * 1_000_000 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let (topic, payload) = message(i);
                'publish: loop {
                    if client
                        .publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
                        .await
                        .is_err()
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    let mut pkid = None;
                    let deadline = tokio::time::Instant::now() + ACK_PATIENCE;
                    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, seen.recv()).await
                    {
                        match event {
                            Seen::Sent(id) => pkid = Some(id),
                            Seen::Acked(id) if Some(id) == pkid => {
                                record.lock().unwrap().insert(i);
                                break 'publish;
                            }
                            Seen::Acked(_) => {}
                        }
                    }
                }
            }
            events.abort();
        });
        Stream { acked, task }
    }

    /// How many messages the broker has acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until every message was published and acknowledged; returns their numbers.
    pub async fn finish(self) -> BTreeSet<u64> {
        tokio::time::timeout(Duration::from_secs(300), self.task)
            .await
            .expect("the stream finished within 5 minutes")
            .expect("the stream task");
        Arc::try_unwrap(self.acked)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|a| a.lock().unwrap().clone())
    }
}
