//! TLS for the `--mqtt-tls` and `--mqtt-wss` listeners: a certificate chain and its private
//! key from PEM files, served with rustls (ring).

use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What TLS listeners serve: the server's certificate chain and key.
#[derive(Clone)]
pub struct Tls(pub(crate) Arc<ServerConfig>);

impl Tls {
    /// Reads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, crate::Error> {
        let failed =
            |path: &Path, why: String| crate::Error::Tls(format!("{}: {why}", path.display()));
        let read = |path: &Path| std::fs::read(path).map_err(|e| failed(path, e.to_string()));
        let certs: Vec<CertificateDer<'static>> =
            rustls_pemfile::certs(&mut read(cert)?.as_slice())
                .collect::<Result<_, _>>()
                .map_err(|e| failed(cert, format!("not a PEM certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(failed(cert, "no certificate in it".into()));
        }
        let key_der: PrivateKeyDer<'static> =
            rustls_pemfile::private_key(&mut read(key)?.as_slice())
                .map_err(|e| failed(key, format!("not a PEM private key: {e}")))?
                .ok_or_else(|| failed(key, "no private key in it".into()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| crate::Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key_der)
            .map_err(|e| failed(cert, format!("does not go with the key: {e}")))?;
        Ok(Tls(Arc::new(config)))
    }
}
