//! Broker URLs as users write them in `mainBrokerURL` and `fallbackBrokerURLs`, turned into the
//! address and transport rumqttc connects with. `embedded` is not a URL: it names the broker
//! inside this process, which clients reach without a socket.

use std::sync::{Arc, OnceLock};

use rumqttc::tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use rumqttc::{TlsConfiguration, Transport};

/// The URL that means "the broker inside this process".
const EMBEDDED: &str = "embedded";

/// One place a client can connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL as the user wrote it, for status messages and logs (it never holds a password:
    /// [`Endpoint::parse`] rejects URLs that do).
    pub shown: String,
    kind: Kind,
    /// Host name, or the whole URL for WebSocket transports (rumqttc takes it as the address).
    address: String,
    port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Endpoint {
    /// Whether `url` names the embedded broker.
    pub fn is_embedded(url: &str) -> bool {
        url.trim().eq_ignore_ascii_case(EMBEDDED)
    }

    /// Parses one broker URL of an external broker.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        if Endpoint::is_embedded(url) {
            return Err("`embedded` can only be the main broker".into());
        }
        // The text is not echoed on a parse error: it may hold credentials.
        let parsed = url::Url::parse(url).map_err(|e| {
            format!(
                "not a URL ({e}); expected mqtt://, tcp://, mqtts://, ws://, wss:// or embedded"
            )
        })?;
        if parsed.password().is_some() {
            return Err(
                "the URL contains a password; set the username and password properties instead"
                    .into(),
            );
        }
        let (kind, default_port) = match parsed.scheme() {
            "mqtt" | "tcp" => (Kind::Tcp, 1883),
            "mqtts" | "ssl" => (Kind::Tls, 8883),
            "ws" => (Kind::Ws, 80),
            "wss" => (Kind::Wss, 443),
            other => {
                return Err(format!(
                    "unsupported scheme `{other}`; expected mqtt://, tcp://, mqtts://, ws://, wss:// or embedded"
                ));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if matches!(kind, Kind::Tls | Kind::Wss) {
            tls_config()?;
        }
        let address = match kind {
            Kind::Ws | Kind::Wss => url.to_owned(),
            Kind::Tcp | Kind::Tls => host.to_owned(),
        };
        Ok(Endpoint {
            shown: url.to_owned(),
            kind,
            address,
            port: parsed.port().unwrap_or(default_port),
        })
    }

    /// Connection options for this endpoint, to be completed with the client's settings.
    /// The host (or, over WebSocket, the URL) and port to connect to.
    pub fn address(&self) -> (String, u16) {
        (self.address.clone(), self.port)
    }

    /// How the connection's bytes are carried.
    pub fn transport(&self) -> Transport {
        let tls = || tls_config().expect("checked by Endpoint::parse");
        match self.kind {
            Kind::Tcp => Transport::Tcp,
            Kind::Tls => Transport::Tls(tls()),
            Kind::Ws => Transport::Ws,
            Kind::Wss => Transport::Wss(tls()),
        }
    }
}

fn tls_config() -> Result<TlsConfiguration, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                return Err("TLS: no trusted CA certificates found on this machine".to_owned());
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map(TlsConfiguration::Rustls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_follow_the_scheme() {
        let port = |url| Endpoint::parse(url).map(|e| e.port);
        assert_eq!(port("mqtt://broker"), Ok(1883));
        assert_eq!(port("tcp://broker:1884"), Ok(1884));
        assert_eq!(port("ws://broker/mqtt"), Ok(80));
    }

    #[test]
    fn bad_urls_are_explained_without_echoing_secrets() {
        let err = Endpoint::parse("http://broker").unwrap_err();
        assert!(err.contains("unsupported scheme `http`"), "{err}");
        let err = Endpoint::parse("mqtt://user:hunter2@broker").unwrap_err();
        assert!(
            err.contains("password") && !err.contains("hunter2"),
            "{err}"
        );
        let err = Endpoint::parse("hunter2 is not a url").unwrap_err();
        assert!(
            err.contains("not a URL") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
