//! An MQTT device for tests: connects, subscribes, publishes, collects what arrives.

use crate::free_port;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// An MQTT test client: connects, subscribes, collects what arrives.
pub struct MqttPeer {
    pub client: rumqttc::AsyncClient,
    received: tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    id: String,
}

impl MqttPeer {
    /// Connects to `addr` (optionally with credentials) and subscribes to `filters`, waiting
    /// for the broker to confirm the subscriptions.
    pub async fn connect(
        addr: SocketAddr,
        credentials: Option<(&str, &str)>,
        filters: &[&str],
    ) -> MqttPeer {
        let id = format!("peer-{}", free_port());
        let mut options = rumqttc::MqttOptions::new(id.clone(), addr.ip().to_string(), addr.port());
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(4 << 20, 4 << 20);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        // Like a device that cares about latency: no Nagle delay on its publishes.
        eventloop.network_options.set_tcp_nodelay(true);
        let (tx, received) = tokio::sync::mpsc::unbounded_channel();
        let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = acked_tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        for filter in filters {
            client
                .subscribe(*filter, rumqttc::QoS::AtLeastOnce)
                .await
                .expect("subscribing");
            tokio::time::timeout(Duration::from_secs(10), acked.recv())
                .await
                .expect("the broker confirms the subscription");
        }
        MqttPeer {
            id,
            client,
            received,
        }
    }

    /// The client id it connected with.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.into())
            .await
            .expect("publishing");
    }

    /// The next message, or panics after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> (String, Vec<u8>) {
        tokio::time::timeout(timeout, self.received.recv())
            .await
            .expect("timed out waiting for an MQTT message")
            .expect("peer event loop ended")
    }

    /// The median time, in milliseconds, from publishing the reading `n` of `readings` (its
    /// topic and payload) to the next message arriving, which must be on the topic
    /// `answer(n)`; over `count` readings from `from`.
    pub async fn p50_round_trip_ms(
        &mut self,
        (from, count): (usize, usize),
        readings: impl Fn(usize) -> (String, String),
        answer: impl Fn(usize) -> String,
    ) -> f64 {
        let mut samples = Vec::with_capacity(count);
        for n in from..from + count {
            let (topic, payload) = readings(n);
            let sent = Instant::now();
            self.publish(&topic, payload).await;
            let (arrived, _) = self.next(Duration::from_secs(20)).await;
            assert_eq!(arrived, answer(n), "the answer to {topic}");
            samples.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    }

    /// Publishes `payload` to `topic` every few hundred milliseconds until a message arrives
    /// (a subscription somewhere may still be settling); returns that message.
    pub async fn publish_until_received(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> (String, Vec<u8>) {
        let payload = payload.into();
        let start = Instant::now();
        loop {
            self.publish(topic, payload.clone()).await;
            if let Some(message) = self.nothing_within(Duration::from_millis(300)).await {
                return message;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nothing arrived after publishing to {topic}"
            );
        }
    }

    /// Whether nothing arrives within `quiet`.
    pub async fn nothing_within(&mut self, quiet: Duration) -> Option<(String, Vec<u8>)> {
        tokio::time::timeout(quiet, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}
