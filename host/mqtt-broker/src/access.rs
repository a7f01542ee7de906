//! Who may connect, and what a connected device may do.
//!
//! A device that sends a username is authenticated by the [`Gatekeeper`] (Switchyard's reads
//! `MQTTDevice` objects) and gets its tenant and topic filters from it. One without credentials
//! gets in only when authentication is [`AuthMode::Off`], into the default tenant with every
//! topic. Switchyard's own clients are in-process sessions and never pass through here.

use crate::router::BoxFuture;
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

    /// A device authenticated by this gatekeeper connected (`true`) or went away.
    fn presence(&self, identity: &Identity, connected: bool);
}

/// The broker's access rules.
#[derive(Clone)]
pub struct Access {
    pub mode: AuthMode,
    pub gatekeeper: Option<Arc<dyn Gatekeeper>>,
}

impl Default for Access {
    /// Open, as on loopback by default.
    fn default() -> Access {
        Access {
            mode: AuthMode::Off,
            gatekeeper: None,
        }
    }
}

impl Access {
    /// Lets a device in, or says why not.
    pub(crate) async fn admit(&self, login: Option<Login>) -> Result<Identity, Refused> {
        match (login, &self.gatekeeper, self.mode) {
            (Some(login), Some(gatekeeper), _) => gatekeeper.authenticate(login).await,
            (Some(_), None, AuthMode::Required) => Err(Refused::BadCredentials),
            (None, _, AuthMode::Required) => Err(Refused::NotAuthorized),
            (_, _, AuthMode::Off) => Ok(Identity::anonymous()),
        }
    }

    pub(crate) fn presence(&self, identity: &Identity, connected: bool) {
        if let (Some(gatekeeper), Some(_)) = (&self.gatekeeper, &identity.device) {
            gatekeeper.presence(identity, connected);
        }
    }
}
