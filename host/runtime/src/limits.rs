//! What one invocation may use: memory, wall time, host calls and byte budgets. The server's
//! configuration sets the defaults; each plugin may override any of them over REST, and the
//! overrides are stored with the plugin.
//!
//! Overrides are kept as the JSON the operator sent, and the effective limits are that JSON
//! laid over the defaults and read back as [`PluginLimits`], so one struct names every limit,
//! and a misspelt or mistyped field is refused with serde's message naming it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// The limits of one plugin's invocations, as shown in its info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginLimits {
    /// Linear memory per instance, in MiB.
    pub memory_mb: usize,
    /// Wall time per invocation, in milliseconds, including time blocked in host or WASI calls.
    pub timeout_ms: u64,
    /// Host calls (objects, messaging, log) per invocation.
    pub host_calls: u32,
    /// Largest message payload handed to the plugin, in bytes.
    pub payload_bytes: usize,
    /// Bytes of object properties written (`create`, `update`) per invocation.
    pub write_bytes: usize,
    /// Bytes of objects read back (`get`, `find`) per invocation.
    pub read_bytes: usize,
    /// Bytes of payload published per invocation.
    pub publish_bytes: usize,
    /// Messages published per invocation.
    pub publishes: u32,
    /// Largest stored object, in bytes of JSON (the same cap as the REST body limit).
    pub object_bytes: usize,
    /// Bytes of log lines, and of stdout and stderr each, per invocation; the rest is cut off
    /// with a marker.
    pub log_bytes: usize,
    /// Rows a `find` without a `limit` returns.
    pub find_rows: usize,
    /// The largest `limit` a `find` may ask for.
    pub find_max_rows: usize,
    /// Whether one instance may serve several messages of a subscriber (off by default: a
    /// fresh instance per message).
    pub reuse: Option<Reuse>,
    /// The most messages of one subscriber's lane handed to the plugin's batch handler at once
    /// (1: one message per call). The budgets above are then per message of the batch; the
    /// timeout is per call. Absent from limits stored before batches came: 1.
    #[serde(default = "one_message")]
    pub batch: u32,
}

fn one_message() -> u32 {
    1
}

/// Instance reuse, opted into per plugin: an instance serves up to `messages` messages of one
/// subscriber, and is dropped once it has been idle for `idle_ms`. State a plugin keeps in its
/// memory then survives from one message to the next of that subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reuse {
    pub messages: u32,
    pub idle_ms: u64,
}

/// The most messages one instance may serve.
const MAX_REUSE_MESSAGES: u32 = 1_000_000;
/// The longest an idle instance may be kept, in milliseconds.
const MAX_REUSE_IDLE_MS: u64 = 600_000;
/// The most messages one batch may hold.
const MAX_BATCH: u32 = 256;

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_mb: 64,
            timeout_ms: 5_000,
            host_calls: 10_000,
            payload_bytes: 4 << 20,
            write_bytes: 16 << 20,
            read_bytes: 16 << 20,
            publish_bytes: 16 << 20,
            publishes: 1_000,
            object_bytes: 1 << 20,
            log_bytes: 64 << 10,
            find_rows: 100,
            find_max_rows: 1_000,
            reuse: None,
            batch: 1,
        }
    }
}

impl PluginLimits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn memory_bytes(&self) -> usize {
        self.memory_mb << 20
    }
}

impl Reuse {
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }
}

/// The server-wide settings: every plugin's default limits, and the sizes of the instance pool
/// that bound all plugins together.
#[derive(Debug, Clone)]
pub struct Limits {
    /// What a plugin gets unless its own limits say otherwise.
    pub plugin: PluginLimits,
    /// How many instances may run at once; invocations beyond it wait their turn.
    pub max_instances: u32,
    /// The most memory any plugin may be given, in MiB (the pool's slot size).
    pub max_memory_mb: usize,
    /// Log lines kept per plugin for reading back (`GET /api/logs`); 0 keeps none.
    pub log_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            plugin: PluginLimits::default(),
            max_instances: 256,
            max_memory_mb: 256,
            log_lines: 1000,
        }
    }
}

/// Why a plugin's limits or capabilities were refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl Limits {
    /// The effective limits of a plugin with these overrides.
    pub fn with_overrides(
        &self,
        overrides: &Map<String, Value>,
    ) -> Result<PluginLimits, SettingsError> {
        let Value::Object(mut merged) =
            serde_json::to_value(&self.plugin).expect("limits serialize")
        else {
            unreachable!("PluginLimits serializes to an object");
        };
        merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let limits: PluginLimits = serde_json::from_value(Value::Object(merged))
            .map_err(|e| SettingsError(format!("invalid limits: {e}")))?;
        self.check(&limits)?;
        Ok(limits)
    }

    fn check(&self, limits: &PluginLimits) -> Result<(), SettingsError> {
        let refuse = |what: String| Err(SettingsError(format!("invalid limits: {what}")));
        if limits.memory_mb == 0 || limits.memory_mb > self.max_memory_mb {
            return refuse(format!(
                "`memoryMb` must be between 1 and {} (the server's --plugin-max-memory-mb), not {}",
                self.max_memory_mb, limits.memory_mb
            ));
        }
        if limits.timeout_ms == 0 {
            return refuse("`timeoutMs` must be at least 1".into());
        }
        if limits.find_rows > limits.find_max_rows {
            return refuse(format!(
                "`findRows` ({}) must not be over `findMaxRows` ({})",
                limits.find_rows, limits.find_max_rows
            ));
        }
        if limits.batch == 0 || limits.batch > MAX_BATCH {
            return refuse(format!(
                "`batch` must be between 1 and {MAX_BATCH}, not {}",
                limits.batch
            ));
        }
        if let Some(reuse) = &limits.reuse {
            if reuse.messages == 0 || reuse.messages > MAX_REUSE_MESSAGES {
                return refuse(format!(
                    "`reuse.messages` must be between 1 and {MAX_REUSE_MESSAGES}, not {}",
                    reuse.messages
                ));
            }
            if reuse.idle_ms == 0 || reuse.idle_ms > MAX_REUSE_IDLE_MS {
                return refuse(format!(
                    "`reuse.idleMs` must be between 1 and {MAX_REUSE_IDLE_MS}, not {}",
                    reuse.idle_ms
                ));
            }
        }
        Ok(())
    }
}

/// Lays a PATCH of limit overrides over the stored ones: a `null` value removes an override.
pub fn merge_overrides(stored: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            stored.remove(key);
        } else {
            stored.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn overrides(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn overrides_replace_defaults_and_null_goes_back_to_the_default() {
        let limits = Limits::default();
        let mut stored = overrides(json!({"timeoutMs": 250, "publishes": 3}));
        let effective = limits.with_overrides(&stored).unwrap();
        assert_eq!((effective.timeout_ms, effective.publishes), (250, 3));
        assert_eq!(effective.host_calls, limits.plugin.host_calls);

        merge_overrides(&mut stored, &overrides(json!({"publishes": null})));
        let effective = limits.with_overrides(&stored).unwrap();
        assert_eq!(effective.publishes, limits.plugin.publishes);
    }

    #[test]
    fn bad_overrides_name_the_field() {
        let limits = Limits::default();
        let error = |v: Value| {
            limits
                .with_overrides(&overrides(v))
                .unwrap_err()
                .to_string()
        };
        assert!(error(json!({"timeout": 5})).contains("unknown field `timeout`"));
        assert!(error(json!({"hostCalls": "many"})).contains("invalid type"));
        assert!(error(json!({"memoryMb": 4096})).contains("`memoryMb` must be between 1 and 256"));
        assert!(error(json!({"findRows": 5000})).contains("`findRows`"));
        assert!(
            error(json!({"reuse": {"messages": 0, "idleMs": 10}})).contains("`reuse.messages`")
        );
        assert!(error(json!({"reuse": {"messages": 5}})).contains("missing field `idleMs`"));
        assert!(error(json!({"batch": 0})).contains("`batch` must be between 1 and 256, not 0"));
        assert!(error(json!({"batch": 257})).contains("not 257"));
        let batch = limits.with_overrides(&overrides(json!({"batch": 64})));
        assert_eq!(batch.unwrap().batch, 64);
        let reuse = json!({"reuse": {"messages": 100, "idleMs": 1000}});
        let effective = limits.with_overrides(&overrides(reuse)).unwrap();
        let expected = Reuse {
            messages: 100,
            idle_ms: 1000,
        };
        assert_eq!(effective.reuse, Some(expected));
    }

    #[test]
    fn limits_stored_before_batches_read_as_one_message_per_call() {
        let mut stored = serde_json::to_value(PluginLimits::default()).unwrap();
        stored.as_object_mut().unwrap().remove("batch");
        let limits: PluginLimits = serde_json::from_value(stored).unwrap();
        assert_eq!(limits, PluginLimits::default());
    }
}
