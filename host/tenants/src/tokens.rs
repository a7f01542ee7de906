//! Tenant tokens: a bearer token acts in its tenant with its role until it expires or is
//! revoked. Only the token's sha256 is kept (tokens are 192 random bits, so a fast hash is
//! enough), as the key it is found by on every request.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a tenant token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything inside its tenant.
    Admin,
    /// Reads only.
    Viewer,
}

impl Role {
    /// As the API names it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// A token as it is kept and listed: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub id: String,
    pub tenant: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// RFC 3339; the token is refused from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub created_at: String,
}

impl TokenInfo {
    /// Whether it is still good at `now`.
    pub(crate) fn is_live(&self, now: DateTime<Utc>) -> bool {
        let expires = self.expires_at.as_deref().map(DateTime::parse_from_rfc3339);
        match expires {
            None => true,
            Some(Ok(expires)) => now < expires,
            // Kept only after it parsed; unreadable means refused.
            Some(Err(_)) => false,
        }
    }
}

/// A new token: 24 random bytes, as hex.
pub(crate) fn secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The key a token is kept under: its sha256, as hex.
pub(crate) fn key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks an `expiresAt` as given: RFC 3339 and in the future.
pub(crate) fn check_expiry(expires_at: &str, now: DateTime<Utc>) -> Result<(), String> {
    let expires = DateTime::parse_from_rfc3339(expires_at)
        .map_err(|e| format!("expiresAt `{expires_at}` is not an RFC 3339 time: {e}"))?;
    if expires <= now {
        return Err(format!("expiresAt `{expires_at}` is not in the future"));
    }
    Ok(())
}
