//! Bearer-token authentication for every route but `/health`.
//!
//! Only the token's sha256 is kept, so the server can store it hashed and a memory dump does
//! not reveal it; the comparison runs in constant time so response timing says nothing about
//! how much of a guess was right.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted API token, as its sha256 hash.
#[derive(Clone)]
pub struct Auth {
    hash: [u8; 32],
}

impl Auth {
    /// Accepts `token`.
    pub fn from_token(token: &str) -> Auth {
        Auth::from_hash(Sha256::digest(token.as_bytes()).into())
    }

    /// Accepts the token whose sha256 is `hash`.
    pub fn from_hash(hash: [u8; 32]) -> Auth {
        Auth { hash }
    }

    /// Accepts the token whose sha256 is `hex` (64 hex digits).
    pub fn from_hex(hex: &str) -> Result<Auth, hex::FromHexError> {
        let mut hash = [0; 32];
        hex::decode_to_slice(hex.trim(), &mut hash)?;
        Ok(Auth::from_hash(hash))
    }

    /// Whether `token` is the accepted one.
    pub fn verify(&self, token: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        hash.ct_eq(&self.hash).into()
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: passes the request on only with a valid bearer token.
pub(crate) async fn require_bearer(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    match bearer(req.headers()) {
        Some(token) if auth.verify(token) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}
