//! Lines in the server log, tagged by the host with the plugin and subscriber. Printing to
//! stdout or stderr also reaches the log; these functions add a level.

use crate::bindings::switchyard::plugin::logging::{Level, log};

/// Logs very detailed tracing.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message.as_ref());
}

/// Logs diagnostics for the plugin's author.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref());
}

/// Logs normal operation.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref());
}

/// Logs something unexpected that the plugin handled.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message.as_ref());
}

/// Logs a failure.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref());
}
