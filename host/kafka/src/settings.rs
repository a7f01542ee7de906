//! What a `KafkaClient` object asks for, as librdkafka configuration.

use rdkafka::ClientConfig;
use serde_json::Value;
use switchyard_broker::Wanted;
use switchyard_store::Object;

/// librdkafka's default session timeout makes a group join take ~25 s; a shorter one with a
/// faster heartbeat lets a consumer join (and a dead one be noticed) within seconds.
const SESSION_TIMEOUT_MS: &str = "6000";
const HEARTBEAT_MS: &str = "1000";
/// The longest a fetch waits for new messages. Brokers that do not answer a waiting fetch as
/// soon as a message arrives (tansu) would otherwise add librdkafka's default 500 ms to every
/// quiet message's latency; an idle fetch every 50 ms per broker costs little.
const FETCH_WAIT_MS: &str = "50";
/// How often stored offsets are committed. Only offsets of settled, durable messages are ever
/// stored, so a crash between commits redelivers a second's worth, never loses it.
const COMMIT_INTERVAL_MS: &str = "1000";

/// The connection-relevant properties of an enabled `KafkaClient`.
#[derive(Clone, PartialEq)]
pub struct Settings {
    servers: String,
    group_id: String,
    start_offset: String,
    /// `security.protocol`, `sasl.*`, `ssl.*`, as the object gives them (secrets included).
    passed_on: Vec<(String, String)>,
}

impl std::fmt::Debug for Settings {
    /// Without the passed-on settings, which hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("servers", &self.servers)
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

/// Reads what the object (with its secrets; validated by the store) asks for.
pub(crate) fn wanted(object: &Object) -> Wanted<Settings> {
    if object.get("isEnabled") != Some(&Value::Bool(true)) {
        return Wanted::Off;
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let servers: Vec<&str> = (object.get("servers").and_then(Value::as_array))
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if servers.is_empty() {
        return Wanted::Invalid("KafkaClient.servers is empty".into());
    }
    let id = text("id").unwrap_or_default();
    Wanted::On(Settings {
        servers: servers.join(","),
        group_id: text("groupId").map_or_else(|| format!("switchyard-{id}"), str::to_owned),
        start_offset: text("startOffset").unwrap_or("earliest").to_owned(),
        passed_on: (object.iter())
            .filter(|(key, _)| key.contains('.'))
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect(),
    })
}

impl Settings {
    fn common(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.servers);
        for (key, value) in &self.passed_on {
            config.set(key, value);
        }
        config
    }

    /// A consumer in the client's group that commits only the offsets Switchyard stores.
    pub(crate) fn consumer(&self) -> ClientConfig {
        let mut config = self.common();
        config
            .set("group.id", &self.group_id)
            .set("auto.offset.reset", &self.start_offset)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", COMMIT_INTERVAL_MS)
            .set("enable.auto.offset.store", "false")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS)
            .set("heartbeat.interval.ms", HEARTBEAT_MS)
            .set("fetch.wait.max.ms", FETCH_WAIT_MS)
            .set("topic.metadata.refresh.interval.ms", "5000");
        config
    }

    /// A producer that waits for every in-sync replica, so a publish that succeeded is kept.
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut config = self.common();
        config.set("acks", "all").set("message.timeout.ms", "10000");
        config
    }
}
