//! The API token: taken from configuration, or generated at first start, printed once, and
//! kept only as a sha256 hash in the store's `settings` space.

use rand::RngCore;
use sha2::{Digest, Sha256};
use switchyard_store::Store;

const KEY: &str = "api-token-sha256";

/// How the API token was obtained, for the startup banner.
pub enum Token {
    /// Set by `--token` / `SWITCHYARD_TOKEN`.
    Configured,
    /// Generated now; shown this once.
    Generated(String),
    /// Generated at an earlier start; only its hash is known.
    Stored,
}

/// Returns the token's sha256 and how it was obtained.
pub fn load(store: &Store, configured: Option<&str>) -> anyhow::Result<([u8; 32], Token)> {
    if let Some(token) = configured {
        anyhow::ensure!(!token.is_empty(), "the configured API token is empty");
        return Ok((Sha256::digest(token).into(), Token::Configured));
    }
    let settings = store.space("settings");
    if let Some(hash) = settings.get(KEY)? {
        let hash: [u8; 32] = hash.as_slice().try_into()?;
        return Ok((hash, Token::Stored));
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash: [u8; 32] = Sha256::digest(&token).into();
    settings.put(KEY, &hash)?;
    Ok((hash, Token::Generated(token)))
}
