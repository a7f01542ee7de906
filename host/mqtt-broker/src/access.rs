//! Who may connect, and what a connected device may do.
//!
//! A device that sends a username is authenticated by the [`Gatekeeper`] (Switchyard's reads
//! `MQTTDevice` objects) and gets its tenant and topic filters from it. One without credentials
//! gets in only when authentication is [`AuthMode::Off`], into the default tenant with every
//! topic. Switchyard's own clients are in-process sessions and never pass through here.
//!
//! [`Hooks`] (a broker-hooks plugin) are asked first and may decide instead: let a device in,
//! refuse it, make it a superuser, and allow, deny or lower the QoS of its subscriptions and
//! publishes. A hook that fails denies.

use crate::router::BoxFuture;
use rumqttd::protocol::QoS;
use std::fmt;
use std::sync::Arc;

/// Whether devices must authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Every device needs a username and password.
    Required,
    /// Devices without credentials get in (loopback by default; see the README).
    Off,
}

impl std::str::FromStr for AuthMode {
    type Err = String;

    fn from_str(text: &str) -> Result<AuthMode, String> {
        match text {
            "required" => Ok(AuthMode::Required),
            "off" => Ok(AuthMode::Off),
            other => Err(format!("`{other}` is neither `required` nor `off`")),
        }
    }
}

/// What a device presents when it connects.
#[derive(Clone)]
pub struct Login {
    pub client_id: String,
    pub username: String,
    pub password: Vec<u8>,
}

impl fmt::Debug for Login {
    // Without the password: a login may end up in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (f.debug_struct("Login"))
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Topics a device may use.
#[derive(Clone, Debug, PartialEq)]
pub enum Rights {
    All,
    /// Only within these MQTT topic filters.
    Within(Vec<String>),
}

impl Rights {
    fn allows_topic(&self, topic: &str) -> bool {
        match self {
            Rights::All => true,
            Rights::Within(filters) => filters.iter().any(|f| switchyard_topic::matches(f, topic)),
        }
    }

    fn allows_filter(&self, filter: &str) -> bool {
        match self {
            Rights::All => true,
            Rights::Within(filters) => filters.iter().any(|f| switchyard_topic::covers(f, filter)),
        }
    }
}

/// A connected device: the tenant whose namespace it lives in, and what it may do there.
#[derive(Clone, Debug)]
pub struct Identity {
    pub tenant: String,
    /// The device object it authenticated as, if it did.
    pub device: Option<String>,
    /// The username it authenticated with, if it did.
    pub username: Option<String>,
    pub publish: Rights,
    pub subscribe: Rights,
    /// Whether its subscriptions and publishes are put to the hooks (not for a superuser).
    pub hooked: bool,
}

impl Identity {
    /// A device without credentials, where authentication is off.
    pub fn anonymous() -> Identity {
        Identity {
            tenant: switchyard_model::DEFAULT_TENANT.to_owned(),
            device: None,
            username: None,
            publish: Rights::All,
            subscribe: Rights::All,
            hooked: false,
        }
    }

    /// What the hooks are told about the device.
    pub fn hook_device(&self, client_id: &str) -> HookDevice {
        HookDevice {
            client_id: client_id.to_owned(),
            username: self.username.clone().unwrap_or_default(),
            tenant: self.device.as_ref().map(|_| self.tenant.clone()),
        }
    }

    /// Whether the device may publish to `topic`: within its rights, and never to a `$`
    /// topic (the broker's own, such as `$events/...`).
    pub fn may_publish(&self, topic: &str) -> bool {
        !topic.starts_with('$') && self.publish.allows_topic(topic)
    }

    pub fn may_subscribe(&self, filter: &str) -> bool {
        self.subscribe.allows_filter(filter)
    }
}

/// Why a device was not let in; the CONNACK says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("bad username or password")]
    BadCredentials,
    #[error("not authorized")]
    NotAuthorized,
    #[error("the device store cannot be read")]
    Unavailable,
}

/// Authenticates devices and hears when they come and go.
pub trait Gatekeeper: Send + Sync + 'static {
    fn authenticate(&self, login: Login) -> BoxFuture<Result<Identity, Refused>>;

    /// The device `username` names, without its password (a hook vouched for it).
    fn lookup(&self, username: String) -> BoxFuture<Result<Option<Identity>, Refused>>;

    /// A device authenticated by this gatekeeper connected (`true`) or went away.
    fn presence(&self, identity: &Identity, connected: bool);
}

/// The device a hook is asked about.
#[derive(Clone, Debug)]
pub struct HookDevice {
    pub client_id: String,
    /// Empty if it gave none.
    pub username: String,
    /// The tenant of the `MQTTDevice` it signed in as, once it has.
    pub tenant: Option<String>,
}

/// What a hook decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Decide as without the hook.
    Ignore,
    Allow,
    Deny,
    /// Connect only: every topic, and no more hooks.
    Superuser,
    /// Subscribe only: allowed at no more than this QoS.
    MaxQos(QoS),
}

/// Decisions of a broker-hooks plugin. An implementation turns a hook that fails into
/// [`Verdict::Deny`].
pub trait Hooks: Send + Sync + 'static {
    fn authenticate(&self, device: HookDevice, password: Vec<u8>) -> BoxFuture<Verdict>;
    fn subscribe(&self, device: HookDevice, filter: String, qos: QoS) -> BoxFuture<Verdict>;
    fn publish(&self, device: HookDevice, topic: String, qos: QoS) -> BoxFuture<Verdict>;
}

/// A tenant's own rules on its devices coming and going (its lifecycle hooks), asked once a
/// device's tenant is known. Unlike [`Hooks`] (the operator's, for the whole broker), these
/// belong to the tenant the device signed in to.
pub trait Arrivals: Send + Sync + 'static {
    /// Whether the device `client_id` (empty if the broker assigns one) may connect; `false`
    /// refuses it (not authorized).
    fn connect(&self, identity: &Identity, client_id: &str) -> BoxFuture<bool>;
    /// The device connected (`true`, after its CONNACK) or left; nothing waits for the
    /// answer.
    fn presence(&self, identity: &Identity, client_id: &str, connected: bool);
}

/// The broker's access rules.
#[derive(Clone)]
pub struct Access {
    pub mode: AuthMode,
    pub gatekeeper: Option<Arc<dyn Gatekeeper>>,
    pub hooks: Option<Arc<dyn Hooks>>,
    pub arrivals: Option<Arc<dyn Arrivals>>,
}

impl Default for Access {
    /// Open, as on loopback by default.
    fn default() -> Access {
        Access {
            mode: AuthMode::Off,
            gatekeeper: None,
            hooks: None,
            arrivals: None,
        }
    }
}

impl Access {
    /// Lets a device in, or says why not: the operator's hooks first, if there are any, then
    /// its credentials, then its tenant's rules.
    pub(crate) async fn admit(
        &self,
        client_id: &str,
        login: Option<Login>,
    ) -> Result<Identity, Refused> {
        let identity = self.identify(client_id, login).await?;
        match &self.arrivals {
            Some(arrivals) if !arrivals.connect(&identity, client_id).await => {
                Err(Refused::NotAuthorized)
            }
            _ => Ok(identity),
        }
    }

    /// Who a device is, asking the operator's hooks first, if there are any.
    async fn identify(&self, client_id: &str, login: Option<Login>) -> Result<Identity, Refused> {
        let Some(hooks) = &self.hooks else {
            return self.check(login).await;
        };
        let (username, password) = match &login {
            Some(login) => (login.username.clone(), login.password.clone()),
            None => (String::new(), Vec::new()),
        };
        let device = HookDevice {
            client_id: client_id.to_owned(),
            username: username.clone(),
            tenant: None,
        };
        let vouched = match hooks.authenticate(device, password).await {
            Verdict::Ignore => {
                let mut identity = self.check(login).await?;
                identity.hooked = true;
                return Ok(identity);
            }
            Verdict::Allow => false,
            Verdict::Superuser => true,
            Verdict::Deny | Verdict::MaxQos(_) => return Err(Refused::NotAuthorized),
        };
        let known = match (&self.gatekeeper, username.is_empty()) {
            (Some(gatekeeper), false) => gatekeeper.lookup(username.clone()).await?,
            _ => None,
        };
        let mut identity = known.unwrap_or_else(|| Identity {
            username: (!username.is_empty()).then_some(username),
            publish: Rights::Within(Vec::new()),
            subscribe: Rights::Within(Vec::new()),
            ..Identity::anonymous()
        });
        identity.hooked = !vouched;
        if vouched {
            (identity.publish, identity.subscribe) = (Rights::All, Rights::All);
        }
        Ok(identity)
    }

    /// Lets a device in by its credentials alone.
    async fn check(&self, login: Option<Login>) -> Result<Identity, Refused> {
        match (login, &self.gatekeeper, self.mode) {
            (Some(login), Some(gatekeeper), _) => gatekeeper.authenticate(login).await,
            (Some(_), None, AuthMode::Required) => Err(Refused::BadCredentials),
            (None, _, AuthMode::Required) => Err(Refused::NotAuthorized),
            (_, _, AuthMode::Off) => Ok(Identity::anonymous()),
        }
    }

    pub(crate) fn presence(&self, identity: &Identity, client_id: &str, connected: bool) {
        if let (Some(gatekeeper), Some(_)) = (&self.gatekeeper, &identity.device) {
            gatekeeper.presence(identity, connected);
        }
        if let Some(arrivals) = &self.arrivals {
            arrivals.presence(identity, client_id, connected);
        }
    }
}
