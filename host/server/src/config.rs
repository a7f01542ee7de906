//! Server settings: each works as a flag and as an environment variable.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use switchyard_mqtt::{Access, AuthMode, BrokerConfig, Listeners, Tls};

#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// Directory of the data: the embedded database, and the MQTT clients' backlog files.
    /// With --store it keeps only this instance's own files.
    #[arg(long, env = "SWITCHYARD_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Keep the objects in PostgreSQL instead of the embedded database:
    /// `postgres://user:password@host:port/db` (`?host=/socket/dir` for a Unix socket).
    /// Several instances on one database share everything stored.
    #[arg(long, env = "SWITCHYARD_STORE", hide_env_values = true)]
    pub store: Option<String>,
    /// Memory the embedded database may keep, in MiB: its page cache, whatever the number of
    /// objects.
    #[arg(long, env = "SWITCHYARD_STORE_CACHE_MB", default_value_t = 64)]
    pub store_cache_mb: usize,
    /// Address of the REST/admin API.
    #[arg(long, env = "SWITCHYARD_HTTP", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Address of the embedded MQTT broker, or `off` for none.
    #[arg(long, env = "SWITCHYARD_MQTT", default_value = "127.0.0.1:1883", value_parser = parse_listener)]
    pub mqtt: Listener,
    /// Address of the embedded broker's MQTT-over-WebSocket listener, or `off`.
    #[arg(long, env = "SWITCHYARD_MQTT_WS", default_value = "off", value_parser = parse_listener)]
    pub mqtt_ws: Listener,
    /// Address of the embedded broker's MQTT-over-TLS listener, or `off` (needs --tls-cert
    /// and --tls-key).
    #[arg(long, env = "SWITCHYARD_MQTT_TLS", default_value = "off", value_parser = parse_listener)]
    pub mqtt_tls: Listener,
    /// Address of the embedded broker's MQTT-over-secure-WebSocket listener, or `off` (needs
    /// --tls-cert and --tls-key).
    #[arg(long, env = "SWITCHYARD_MQTT_WSS", default_value = "off", value_parser = parse_listener)]
    pub mqtt_wss: Listener,
    /// The certificate chain (PEM, the server's first) the TLS listeners serve.
    #[arg(long, env = "SWITCHYARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "SWITCHYARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Whether devices must authenticate as an MQTTDevice: `required` or `off`. By default
    /// `required` when a listener is bound to anything but loopback, `off` otherwise.
    #[arg(long, env = "SWITCHYARD_MQTT_AUTH")]
    pub mqtt_auth: Option<AuthMode>,
    /// A plugin of the default tenant, built for the `broker-hooks` world, that decides who
    /// may connect to the embedded broker and what they may do (a failing hook denies).
    #[arg(long, env = "SWITCHYARD_MQTT_HOOKS")]
    pub mqtt_hooks: Option<String>,
    /// API bearer token. Without it, one is generated at first start, printed once and
    /// stored hashed.
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Wall time a callback may run, in milliseconds (a plugin's default).
    #[arg(long, env = "SWITCHYARD_PLUGIN_TIMEOUT_MS", default_value_t = 5000)]
    pub plugin_timeout_ms: u64,
    /// Linear memory a callback instance may use, in MiB (a plugin's default).
    #[arg(long, env = "SWITCHYARD_PLUGIN_MEMORY_MB", default_value_t = 64)]
    pub plugin_memory_mb: usize,
    /// Host calls a callback may make per message (a plugin's default).
    #[arg(long, env = "SWITCHYARD_PLUGIN_HOST_CALLS", default_value_t = 10_000)]
    pub plugin_host_calls: u32,
    /// The most memory any plugin may be given, in MiB.
    #[arg(long, env = "SWITCHYARD_PLUGIN_MAX_MEMORY_MB", default_value_t = 256)]
    pub plugin_max_memory_mb: usize,
    /// How many callbacks may run at once; more wait their turn.
    #[arg(long, env = "SWITCHYARD_PLUGIN_INSTANCES", default_value_t = 256)]
    pub plugin_instances: u32,
    /// Serve `/metrics` without the token (for scrapers that cannot send one).
    #[arg(long, env = "SWITCHYARD_METRICS_PUBLIC")]
    pub metrics_public: bool,
    /// Log lines kept per plugin for `GET /api/logs` and the admin UI.
    #[arg(long, env = "SWITCHYARD_LOG_LINES", default_value_t = 1000)]
    pub log_lines: usize,
    /// How many FailedMessage records are kept; past it the oldest are dropped.
    #[arg(long, env = "SWITCHYARD_FAILED_MAX_COUNT", default_value_t = 10_000)]
    pub failed_max_count: usize,
    /// How many MiB FailedMessage records may take; past it the oldest are dropped.
    #[arg(long, env = "SWITCHYARD_FAILED_MAX_MB", default_value_t = 256)]
    pub failed_max_mb: u64,
    /// Each tenant's quotas, unless the tenant sets its own.
    #[command(flatten)]
    pub quotas: QuotaFlags,
}

/// The server's default quotas: a tenant's quota it does not set itself (none by default).
#[derive(clap::Args, Debug, Clone)]
pub struct QuotaFlags {
    /// Plugins a tenant may install.
    #[arg(long = "quota-plugins", env = "SWITCHYARD_QUOTA_PLUGINS")]
    pub plugins: Option<u64>,
    /// Bytes of one plugin upload of a tenant.
    #[arg(long = "quota-plugin-bytes", env = "SWITCHYARD_QUOTA_PLUGIN_BYTES")]
    pub plugin_bytes: Option<u64>,
    /// Objects a tenant may store, of every type.
    #[arg(long = "quota-objects", env = "SWITCHYARD_QUOTA_OBJECTS")]
    pub objects: Option<u64>,
    /// MiB of objects a tenant may store.
    #[arg(long = "quota-storage-mb", env = "SWITCHYARD_QUOTA_STORAGE_MB")]
    pub storage_mb: Option<u64>,
    /// Broker clients a tenant may have.
    #[arg(long = "quota-clients", env = "SWITCHYARD_QUOTA_CLIENTS")]
    pub clients: Option<u64>,
    /// Subscribers a tenant may have.
    #[arg(long = "quota-subscribers", env = "SWITCHYARD_QUOTA_SUBSCRIBERS")]
    pub subscribers: Option<u64>,
    /// Callbacks a tenant may start per second; more wait their turn.
    #[arg(
        long = "quota-invocations-per-second",
        env = "SWITCHYARD_QUOTA_INVOCATIONS_PER_SECOND"
    )]
    pub invocations_per_second: Option<u64>,
    /// The most memory, in MiB, a tenant's plugin may be given.
    #[arg(long = "quota-memory-mb", env = "SWITCHYARD_QUOTA_MEMORY_MB")]
    pub memory_mb: Option<u64>,
}

/// An optional listener address (`off` disables it).
#[derive(Debug, Clone, Copy)]
pub struct Listener(pub Option<SocketAddr>);

fn parse_listener(text: &str) -> Result<Listener, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(Listener(None));
    }
    (text.parse().map(|addr| Listener(Some(addr))))
        .map_err(|e| format!("`{text}` is neither `off` nor an address like 127.0.0.1:1883: {e}"))
}

impl Config {
    /// The embedded broker's settings, or `None` when every listener is off.
    pub fn mqtt(&self) -> anyhow::Result<Option<BrokerConfig>> {
        let listeners = Listeners {
            tcp: self.mqtt.0,
            tls: self.mqtt_tls.0,
            ws: self.mqtt_ws.0,
            wss: self.mqtt_wss.0,
        };
        if listeners == Listeners::default() {
            return Ok(None);
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Some(Tls::from_pem_files(cert, key).context("reading --tls-cert and --tls-key")?)
            }
            _ => None,
        };
        let exposed = listeners.exposed();
        let mode = match self.mqtt_auth {
            Some(mode) => mode,
            None if exposed.is_empty() => AuthMode::Off,
            None => AuthMode::Required,
        };
        if mode == AuthMode::Off && !exposed.is_empty() {
            tracing::warn!(
                ?exposed,
                "--mqtt-auth off: devices connect without credentials on addresses other than \
                 loopback, and may use every topic of the default tenant"
            );
        }
        Ok(Some(BrokerConfig {
            listeners,
            tls,
            access: Access {
                mode,
                ..Access::default()
            },
            max_packet: switchyard_mqtt::MAX_PACKET,
        }))
    }

    pub fn quotas(&self) -> switchyard_tenants::Quotas {
        let q = &self.quotas;
        switchyard_tenants::Quotas {
            plugins: q.plugins,
            plugin_bytes: q.plugin_bytes,
            objects: q.objects,
            storage_mb: q.storage_mb,
            clients: q.clients,
            subscribers: q.subscribers,
            invocations_per_second: q.invocations_per_second,
            memory_mb: q.memory_mb,
        }
    }

    pub fn retention(&self) -> switchyard_dispatch::Retention {
        switchyard_dispatch::Retention {
            max_count: self.failed_max_count,
            max_bytes: self.failed_max_mb << 20,
        }
    }

    pub fn limits(&self) -> switchyard_runtime::Limits {
        switchyard_runtime::Limits {
            plugin: switchyard_runtime::PluginLimits {
                timeout_ms: self.plugin_timeout_ms,
                memory_mb: self.plugin_memory_mb,
                host_calls: self.plugin_host_calls,
                ..Default::default()
            },
            max_instances: self.plugin_instances,
            max_memory_mb: self.plugin_max_memory_mb.max(self.plugin_memory_mb),
            log_lines: self.log_lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        config: Config,
    }

    fn mqtt(args: &[&str]) -> anyhow::Result<Option<BrokerConfig>> {
        let args = ["serve"].iter().chain(args);
        Serve::try_parse_from(args)?.config.mqtt()
    }

    #[test]
    fn devices_must_authenticate_once_a_listener_leaves_loopback() {
        let mode = |args: &[&str]| mqtt(args).unwrap().unwrap().access.mode;
        assert_eq!(mode(&[]), AuthMode::Off);
        assert_eq!(mode(&["--mqtt", "0.0.0.0:1883"]), AuthMode::Required);
        assert_eq!(mode(&["--mqtt-ws", "192.0.2.1:8083"]), AuthMode::Required);
        assert_eq!(mode(&["--mqtt-auth", "required"]), AuthMode::Required);
        let open = ["--mqtt", "0.0.0.0:1883", "--mqtt-auth", "off"];
        assert_eq!(mode(&open), AuthMode::Off);
        assert!(mqtt(&["--mqtt-auth", "maybe"]).is_err());
    }

    #[test]
    fn secure_listeners_need_a_certificate_and_every_listener_off_is_no_broker() {
        let off = ["--mqtt", "off"];
        assert!(mqtt(&off).unwrap().is_none());
        let config = mqtt(&["--mqtt-tls", "127.0.0.1:8883"]).unwrap().unwrap();
        assert!(
            config.tls.is_none(),
            "the broker refuses to start without one"
        );
        let missing = mqtt(&[
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ]);
        let message = format!("{:#}", missing.err().unwrap());
        assert!(message.contains("/nonexistent/cert.pem"), "{message}");
        assert!(
            mqtt(&["--tls-cert", "/x.pem"]).is_err(),
            "a certificate needs its key"
        );
    }
}
