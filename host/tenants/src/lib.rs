//! Tenants: the owners a hosted Switchyard serves, each in a sandbox of its own. A tenant has a
//! name, quotas ([`Quotas`]) and tokens ([`TokenInfo`]) that act in it as `admin` or
//! `viewer`; the server's own token is the operator's, who manages tenants. What a tenant owns
//! (objects, clients, subscribers, plugins, failed messages, logs) is kept apart by the parts
//! that keep it; this crate says who the tenants are and what they may use.
//!
//! Tenants live in the store's `tenants` space and tokens in its `tokens` space (keyed by the
//! token's hash). Tenants are read into memory at start and again when another instance
//! sharing the store changes them ([`Tenants::reload`]); tokens are read on every use. The tenant [`DEFAULT_TENANT`] always exists: it
//! holds what an installation had before tenants and what the operator does without naming a
//! tenant.

mod quotas;
mod tokens;

pub use quotas::{Quota, Quotas};
pub use switchyard_model::DEFAULT_TENANT;
pub use tokens::{Role, TokenInfo};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_store::{Space, SpaceChange, Store};

const TENANTS: &str = "tenants";
const TOKENS: &str = "tokens";

/// A tenant as it is kept: its quotas as the operator set them (unset ones come from the
/// server's defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub name: String,
    #[serde(default)]
    pub quotas: Quotas,
    pub created_at: String,
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The server's token: every tenant, and the tenants themselves.
    Operator,
    /// A tenant's token.
    Tenant { tenant: String, role: Role },
}

/// Why a tenant or token could not be made, changed or found.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("{0}")]
    Invalid(String),
    #[error("tenant `{0}` exists")]
    Exists(String),
    #[error("no tenant named `{0}`")]
    NotFound(String),
    #[error("the tenant store failed")]
    Storage(#[from] switchyard_store::Error),
}

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// The tenants and their tokens. Cheap to clone.
#[derive(Clone)]
pub struct Tenants {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tenants: Space,
    tokens: Space,
    /// The server's default quotas.
    defaults: Quotas,
    /// Every tenant kept, by name.
    known: RwLock<BTreeMap<String, Tenant>>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn decode<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        TenantError::Storage(switchyard_store::Error::Corrupt(format!(
            "a stored {what}: {e}"
        )))
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("tenants and tokens serialize")
}

impl Tenants {
    /// The tenants kept in `store`, with `defaults` for quotas they leave unset; tells the
    /// store what each may keep.
    pub fn open(store: &Store, defaults: Quotas) -> Result<Tenants> {
        let tenants = Tenants {
            inner: Arc::new(Inner {
                store: store.clone(),
                tenants: store.space(TENANTS),
                tokens: store.space(TOKENS),
                defaults,
                known: RwLock::default(),
            }),
        };
        tenants.reload_all()?;
        Ok(tenants)
    }

    /// Takes in another instance's change to the store's spaces; the tenants it changed.
    pub fn heard(&self, change: &SpaceChange) -> Result<Vec<String>> {
        match change {
            SpaceChange::Entry { space, key } if space == TENANTS => {
                self.reload(key)?;
                Ok(vec![key.clone()])
            }
            SpaceChange::Entry { .. } => Ok(Vec::new()),
            SpaceChange::Missed => {
                self.reload_all()?;
                Ok(self.list().into_iter().map(|tenant| tenant.name).collect())
            }
        }
    }

    /// Reads every tenant again.
    fn reload_all(&self) -> Result<()> {
        let mut known = BTreeMap::new();
        for (name, bytes) in self.inner.tenants.list("")? {
            known.insert(name, decode::<Tenant>("tenant", &bytes)?);
        }
        let gone: Vec<String> = (self.inner.known.read().keys())
            .filter(|name| !known.contains_key(*name))
            .cloned()
            .collect();
        *self.inner.known.write() = known;
        for name in gone {
            self.inner.store.set_quota(&name, Default::default());
        }
        for tenant in self.list() {
            self.apply(&tenant.name);
        }
        Ok(())
    }

    /// Reads tenant `name` again.
    fn reload(&self, name: &str) -> Result<()> {
        match self.inner.tenants.get(name)? {
            Some(bytes) => {
                let tenant = decode::<Tenant>("tenant", &bytes)?;
                self.inner.known.write().insert(name.to_owned(), tenant);
                self.apply(name);
            }
            None => {
                self.inner.known.write().remove(name);
                self.inner.store.set_quota(name, Default::default());
            }
        }
        Ok(())
    }

    /// Every tenant, by name, the default one included.
    pub fn list(&self) -> Vec<Tenant> {
        let known = self.inner.known.read();
        let default = (!known.contains_key(DEFAULT_TENANT)).then(|| Tenant {
            name: DEFAULT_TENANT.to_owned(),
            quotas: Quotas::default(),
            created_at: String::new(),
        });
        let mut all: Vec<Tenant> = default.into_iter().chain(known.values().cloned()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The tenant called `name`.
    pub fn get(&self, name: &str) -> Option<Tenant> {
        self.list().into_iter().find(|tenant| tenant.name == name)
    }

    /// Whether there is a tenant called `name`.
    pub fn exists(&self, name: &str) -> bool {
        name == DEFAULT_TENANT || self.inner.known.read().contains_key(name)
    }

    /// The quotas in effect for `name`: its own, and the defaults where it sets none.
    pub fn quotas(&self, name: &str) -> Quotas {
        let own = (self.inner.known.read().get(name)).map_or_else(Quotas::default, |t| t.quotas);
        own.or(&self.inner.defaults)
    }

    /// The server's default quotas.
    pub fn defaults(&self) -> Quotas {
        self.inner.defaults
    }

    /// Creates a tenant.
    pub fn create(&self, name: &str, quotas: Quotas) -> Result<Tenant> {
        if !switchyard_model::is_tenant_name(name) {
            return Err(TenantError::Invalid(format!(
                "invalid tenant name `{name}`: use 1 to 64 of a-z, 0-9 and `-`, starting with a \
                 letter"
            )));
        }
        if self.exists(name) {
            return Err(TenantError::Exists(name.to_owned()));
        }
        let tenant = Tenant {
            name: name.to_owned(),
            quotas,
            created_at: now(),
        };
        self.keep(&tenant)?;
        Ok(tenant)
    }

    /// Replaces the quotas of `name`.
    pub fn set_quotas(&self, name: &str, quotas: Quotas) -> Result<Tenant> {
        let mut tenant = self
            .get(name)
            .ok_or_else(|| TenantError::NotFound(name.to_owned()))?;
        tenant.quotas = quotas;
        if tenant.created_at.is_empty() {
            tenant.created_at = now();
        }
        self.keep(&tenant)?;
        Ok(tenant)
    }

    fn keep(&self, tenant: &Tenant) -> Result<()> {
        self.inner.tenants.put(&tenant.name, &encode(tenant))?;
        (self.inner.known.write()).insert(tenant.name.clone(), tenant.clone());
        self.apply(&tenant.name);
        Ok(())
    }

    /// Tells the store what `name` may keep now.
    fn apply(&self, name: &str) {
        let storage = self.quotas(name).storage();
        self.inner.store.set_quota(name, storage);
    }

    /// Forgets a tenant and revokes its tokens. What it owns is its owners' to remove first.
    pub fn delete(&self, name: &str) -> Result<()> {
        if name == DEFAULT_TENANT {
            return Err(TenantError::Invalid(format!(
                "the `{DEFAULT_TENANT}` tenant cannot be deleted"
            )));
        }
        if !self.exists(name) {
            return Err(TenantError::NotFound(name.to_owned()));
        }
        let keys: Vec<String> = (self.tokens_of(Some(name))?.into_iter())
            .map(|(key, _)| key)
            .collect();
        let removals: Vec<(&str, Option<&[u8]>)> =
            keys.iter().map(|key| (key.as_str(), None)).collect();
        self.inner.tokens.write(&removals)?;
        self.inner.tenants.write(&[(name, None)])?;
        self.inner.known.write().remove(name);
        self.inner.store.set_quota(name, Default::default());
        Ok(())
    }

    /// Issues a token of `role` in `tenant`; returns what is kept of it and the token itself,
    /// which is not kept and cannot be shown again.
    pub fn issue(
        &self,
        tenant: &str,
        role: Role,
        note: Option<String>,
        expires_at: Option<String>,
    ) -> Result<(TokenInfo, String)> {
        if !self.exists(tenant) {
            return Err(TenantError::NotFound(tenant.to_owned()));
        }
        if let Some(expires_at) = &expires_at {
            tokens::check_expiry(expires_at, Utc::now()).map_err(TenantError::Invalid)?;
        }
        let info = TokenInfo {
            id: uuid::Uuid::now_v7().to_string(),
            tenant: tenant.to_owned(),
            role,
            note,
            expires_at,
            created_at: now(),
        };
        let secret = tokens::secret();
        self.inner
            .tokens
            .put(&tokens::key(&secret), &encode(&info))?;
        Ok((info, secret))
    }

    /// The tokens of `tenant` (of every tenant with `None`), each with the key it is kept
    /// under, oldest first.
    fn tokens_of(&self, tenant: Option<&str>) -> Result<Vec<(String, TokenInfo)>> {
        let mut found = Vec::new();
        for (key, bytes) in self.inner.tokens.list("")? {
            let info: TokenInfo = decode("token", &bytes)?;
            if tenant.is_none_or(|tenant| info.tenant == tenant) {
                found.push((key, info));
            }
        }
        found.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at));
        Ok(found)
    }

    /// The tokens of `tenant`, without the tokens themselves.
    pub fn tokens(&self, tenant: &str) -> Result<Vec<TokenInfo>> {
        Ok(self
            .tokens_of(Some(tenant))?
            .into_iter()
            .map(|(_, info)| info)
            .collect())
    }

    /// Revokes token `id` of `tenant`: the next request with it is refused. Whether it existed.
    pub fn revoke(&self, tenant: &str, id: &str) -> Result<bool> {
        let found = self.tokens_of(Some(tenant))?.into_iter();
        let Some((key, _)) = found.into_iter().find(|(_, info)| info.id == id) else {
            return Ok(false);
        };
        self.inner.tokens.write(&[(&key, None)])?;
        Ok(true)
    }

    /// Who `token` is, if it is a live tenant token.
    pub fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        self.authenticate_at(token, Utc::now())
    }

    fn authenticate_at(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Principal>> {
        let Some(bytes) = self.inner.tokens.get(&tokens::key(token))? else {
            return Ok(None);
        };
        let info: TokenInfo = decode("token", &bytes)?;
        if !info.is_live(now) || !self.exists(&info.tenant) {
            return Ok(None);
        }
        Ok(Some(Principal::Tenant {
            tenant: info.tenant,
            role: info.role,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Store, Tenants) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let defaults = Quotas {
            plugins: Some(10),
            ..Quotas::default()
        };
        let tenants = Tenants::open(&store, defaults).unwrap();
        (dir, store, tenants)
    }

    #[test]
    fn tenants_are_kept_with_their_quotas_and_the_default_always_exists() {
        let (_dir, store, tenants) = open();
        assert_eq!(tenants.list()[0].name, DEFAULT_TENANT);
        let quotas = Quotas {
            objects: Some(5),
            ..Quotas::default()
        };
        tenants.create("acme", quotas).unwrap();
        assert!(matches!(
            tenants.create("acme", quotas),
            Err(TenantError::Exists(_))
        ));
        assert!(matches!(
            tenants.create("Acme!", quotas),
            Err(TenantError::Invalid(_))
        ));
        let reopened = Tenants::open(&store, Quotas::default()).unwrap();
        let names: Vec<String> = reopened.list().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["acme", "default"]);
        assert_eq!(tenants.quotas("acme").objects, Some(5));
        assert_eq!(
            tenants.quotas("acme").plugins,
            Some(10),
            "the server's default"
        );
        assert_eq!(
            reopened.quotas("acme").plugins,
            None,
            "no default on this one"
        );
        assert!(matches!(
            tenants.delete(DEFAULT_TENANT),
            Err(TenantError::Invalid(_))
        ));
    }

    #[test]
    fn a_token_acts_in_its_tenant_until_revoked_expired_or_its_tenant_is_gone() {
        let (_dir, _store, tenants) = open();
        tenants.create("acme", Quotas::default()).unwrap();
        let (info, token) = tenants.issue("acme", Role::Viewer, None, None).unwrap();
        let acme = Principal::Tenant {
            tenant: "acme".into(),
            role: Role::Viewer,
        };
        assert_eq!(tenants.authenticate(&token).unwrap(), Some(acme));
        assert_eq!(tenants.authenticate("a guess").unwrap(), None);
        assert_eq!(tenants.tokens("acme").unwrap(), std::slice::from_ref(&info));
        assert!(tenants.tokens(DEFAULT_TENANT).unwrap().is_empty());
        assert!(
            !tenants.revoke(DEFAULT_TENANT, &info.id).unwrap(),
            "not its tenant's"
        );
        assert!(tenants.revoke("acme", &info.id).unwrap());
        assert_eq!(tenants.authenticate(&token).unwrap(), None);

        let hour = chrono::Duration::hours(1);
        let soon = (Utc::now() + hour).to_rfc3339();
        let (_, short) = tenants
            .issue("acme", Role::Admin, None, Some(soon))
            .unwrap();
        assert!(tenants.authenticate(&short).unwrap().is_some());
        let later = Utc::now() + hour * 2;
        assert_eq!(
            tenants.authenticate_at(&short, later).unwrap(),
            None,
            "expired"
        );
        let past = "2020-01-01T00:00:00Z".to_owned();
        assert!(
            tenants
                .issue("acme", Role::Admin, None, Some(past))
                .is_err()
        );

        let (_, kept) = tenants.issue("acme", Role::Admin, None, None).unwrap();
        tenants.delete("acme").unwrap();
        assert_eq!(tenants.authenticate(&kept).unwrap(), None);
    }
}
