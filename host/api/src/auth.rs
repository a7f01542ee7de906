//! Who a request comes from and what it may do, for every route but `/health`.
//!
//! The server's own token is the operator's: it acts in any tenant (`X-Tenant: <name>`, the
//! default tenant without it) and alone manages tenants and reads `/metrics` (which names
//! every tenant). A tenant's token acts in its
//! tenant only; an `admin` token does everything there, a `viewer` token only reads (`GET`,
//! and `POST .../query`). Another tenant named in `X-Tenant` answers 404, as its objects do.
//!
//! Only the operator token's sha256 is kept, so the server can store it hashed and a memory
//! dump does not reveal it; the comparison runs in constant time so response timing says
//! nothing about how much of a guess was right. Tenant tokens are found by their hash.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_tenants::{DEFAULT_TENANT, Principal, Role};

/// The header the operator names a tenant with.
pub const TENANT_HEADER: &str = "x-tenant";

/// The operator's API token, as its sha256 hash.
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

    /// Whether `token` is the operator's.
    pub fn verify(&self, token: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        hash.ct_eq(&self.hash).into()
    }
}

/// Who is asking, in which tenant: put on every authenticated request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant: String,
    pub operator: bool,
    pub role: Role,
}

impl Caller {
    /// Refuses what this caller's role may not do.
    pub fn may_write(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Viewer => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this token is a viewer's: it may read, not change anything",
            )),
        }
    }

    /// Refuses a caller that is not the operator.
    pub fn must_be_operator(&self, what: &str) -> Result<(), ApiError> {
        match self.operator {
            true => Ok(()),
            false => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{what} is the operator's: a tenant's token cannot use it"),
            )),
        }
    }
}

/// Who `token` is, acting in the tenant `asked` for (the operator's choice; a tenant token
/// may only name its own). `None` for a token nobody issued.
pub(crate) fn caller(
    state: &AppState,
    token: &str,
    asked: Option<&str>,
) -> Result<Option<Caller>, ApiError> {
    let (tenant, operator, role) = if state.auth.verify(token) {
        let tenant = asked.unwrap_or(DEFAULT_TENANT);
        (tenant.to_owned(), true, Role::Admin)
    } else {
        match state.tenants.authenticate(token)? {
            Some(Principal::Tenant { tenant, role }) => (tenant, false, role),
            Some(Principal::Operator) | None => return Ok(None),
        }
    };
    if asked.is_some_and(|asked| asked != tenant) || !state.tenants.exists(&tenant) {
        let asked = asked.unwrap_or(&tenant);
        return Err(ApiError::not_found(format!("no tenant named `{asked}`")));
    }
    Ok(Some(Caller {
        tenant,
        operator,
        role,
    }))
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether a request only reads: `GET`, `HEAD`, and queries sent as `POST .../query`.
pub(crate) fn only_reads(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        || (*method == Method::POST && path.ends_with("/query"))
}

/// The routes only the operator may use: what spans every tenant.
fn operators_only(path: &str) -> Option<&'static str> {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/api/tenants") {
        Some("managing tenants")
    } else if path == "/metrics" {
        Some("`/metrics`")
    } else {
        None
    }
}

/// Middleware: passes the request on with its [`Caller`], or refuses it (401 without a
/// token anybody issued, 403 for what the token may not do, 404 for another tenant).
pub(crate) async fn require_bearer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let asked = (req.headers().get(TENANT_HEADER)).and_then(|value| value.to_str().ok());
    let found = match bearer(req.headers()) {
        Some(token) => caller(&state, token, asked.map(str::trim)),
        None => Ok(None),
    };
    let checked = found.and_then(|caller| {
        let caller = caller.ok_or_else(ApiError::unauthorized)?;
        let path = req.uri().path();
        if let Some(what) = operators_only(path) {
            caller.must_be_operator(what)?;
        }
        if !only_reads(req.method(), path) {
            caller.may_write()?;
        }
        Ok(caller)
    });
    match checked {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(error) => unread_body(&req, error.into_response()),
    }
}

/// A refusal before the request's body was read (an upload, say) closes the connection, so
/// the client does not send its next request after the unread bytes.
fn unread_body(req: &Request, mut response: Response) -> Response {
    let has_body = (req.headers().get(header::CONTENT_LENGTH))
        .is_some_and(|length| length.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body {
        let close = axum::http::HeaderValue::from_static("close");
        response.headers_mut().insert(header::CONNECTION, close);
    }
    response
}
