//! Decide for Switchyard's embedded MQTT broker: a plugin of the `broker-hooks` world says who
//! may connect and which subscriptions and publishes go ahead. The operator uploads it to the
//! default tenant and names it with `--mqtt-hooks`. Implement [`Hooks`] (every method defaults
//! to [`Authentication::Ignore`] or [`Authorization::Ignore`]: the device objects decide) and
//! export it with [`hooks!`](crate::hooks!):
//!
//! ```no_run
//! use switchyard_sdk::hooks::{Authentication, Authorization, Device, Hooks};
//!
//! struct Gate;
//!
//! impl Hooks for Gate {
//!     fn authenticate(device: &Device, _password: &[u8]) -> Result<Authentication, String> {
//!         Ok(match device.username.as_str() {
//!             "admin" => Authentication::Superuser,
//!             _ => Authentication::Ignore,
//!         })
//!     }
//!
//!     fn authorize_publish(_: &Device, topic: &str, _qos: u8) -> Result<Authorization, String> {
//!         Ok(match topic.starts_with("firmware/") {
//!             true => Authorization::Deny,
//!             false => Authorization::Ignore,
//!         })
//!     }
//! }
//!
//! switchyard_sdk::hooks!(Gate);
//! ```
//!
//! An `Err`, a panic or running out of time denies. A hooks plugin logs with [`log`], not
//! with the message plugins' [`crate::log`].

/// Bindings generated from the `broker-hooks` world of `wit/plugin.wit`: public for
/// [`hooks!`](crate::hooks!) to expand in the plugin's crate.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "broker-hooks",
        pub_export_macro: true,
        default_bindings_module: "switchyard_sdk::hooks::bindings",
    });
}

pub use bindings::exports::switchyard::plugin::hooks::{Authentication, Authorization, Device};

/// What a hooks plugin decides; each method is asked once per device connection and filter or
/// topic.
pub trait Hooks {
    /// A device connecting with `password`.
    fn authenticate(device: &Device, password: &[u8]) -> Result<Authentication, String> {
        let _ = (device, password);
        Ok(Authentication::Ignore)
    }

    /// A device subscribing to `filter` at `qos`.
    fn authorize_subscribe(
        device: &Device,
        filter: &str,
        qos: u8,
    ) -> Result<Authorization, String> {
        let _ = (device, filter, qos);
        Ok(Authorization::Ignore)
    }

    /// A device publishing to `topic` at `qos`.
    fn authorize_publish(device: &Device, topic: &str, qos: u8) -> Result<Authorization, String> {
        let _ = (device, topic, qos);
        Ok(Authorization::Ignore)
    }
}

/// Lines in the server log from a hooks plugin.
pub mod log {
    use super::bindings::switchyard::plugin::logging::{Level, log};

    /// Logs normal operation.
    pub fn info(message: impl AsRef<str>) {
        log(Level::Info, message.as_ref());
    }

    /// Logs something unexpected that the plugin handled.
    pub fn warn(message: impl AsRef<str>) {
        log(Level::Warn, message.as_ref());
    }
}

/// What [`hooks!`](crate::hooks!) expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use super::bindings::export;
    pub use super::bindings::exports::switchyard::plugin::hooks::Guest;
}

/// Exports a type implementing [`hooks::Hooks`](crate::hooks::Hooks) as the plugin's broker
/// hooks. Use it once per plugin crate, instead of [`handler!`](crate::handler!).
#[macro_export]
macro_rules! hooks {
    ($hooks:ty) => {
        const _: () = {
            use $crate::hooks::{Authentication, Authorization, Device, Hooks};
            struct SwitchyardHooks;

            impl $crate::hooks::__private::Guest for SwitchyardHooks {
                fn authenticate(
                    device: Device,
                    password: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<Authentication, ::std::string::String> {
                    <$hooks as Hooks>::authenticate(&device, &password)
                }

                fn authorize_subscribe(
                    device: Device,
                    filter: ::std::string::String,
                    qos: u8,
                ) -> ::core::result::Result<Authorization, ::std::string::String> {
                    <$hooks as Hooks>::authorize_subscribe(&device, &filter, qos)
                }

                fn authorize_publish(
                    device: Device,
                    topic: ::std::string::String,
                    qos: u8,
                ) -> ::core::result::Result<Authorization, ::std::string::String> {
                    <$hooks as Hooks>::authorize_publish(&device, &topic, qos)
                }
            }

            $crate::hooks::__private::export!(SwitchyardHooks with_types_in $crate::hooks::bindings);
        };
    };
}
