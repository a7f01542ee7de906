//! Certificates for tests of TLS listeners: a certificate authority made for the test and a
//! server certificate it signed for `localhost` and 127.0.0.1, as PEM files.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// PEM files in a test's directory.
pub struct Certificates {
    /// The authority's certificate, which clients trust.
    pub ca: PathBuf,
    /// The server's certificate, signed by the authority.
    pub cert: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
}

impl Certificates {
    /// Makes a fresh authority and server certificate under `dir`.
    pub fn generate(dir: &Path) -> Certificates {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        (ca.distinguished_name).push(DnType::CommonName, "Switchyard test authority");
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca = ca.self_signed(&ca_key).expect("the CA certificate");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let mut server = CertificateParams::new(names).expect("server parameters");
        (server.distinguished_name).push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().expect("a server key");
        let cert = (server.signed_by(&key, &ca, &ca_key)).expect("the server certificate");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("writing a PEM file");
            path
        };
        Certificates {
            ca: write("ca.pem", ca.pem()),
            cert: write("server.pem", cert.pem()),
            key: write("server-key.pem", key.serialize_pem()),
        }
    }
}
