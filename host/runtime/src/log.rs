//! Plugin output in the server log: `log` calls and captured stdout/stderr, each line tagged
//! with the plugin and the subscriber it ran for.

use crate::bindings::logging::Level;
use crate::sandbox::Tag;

/// Writes one plugin log line at its level.
pub(crate) fn line(tag: &Tag, level: Level, message: &str) {
    let (plugin, subscriber) = (&*tag.plugin, tag.subscriber.as_str());
    match level {
        Level::Trace => tracing::trace!(target: "plugin", plugin, subscriber, "{message}"),
        Level::Debug => tracing::debug!(target: "plugin", plugin, subscriber, "{message}"),
        Level::Info => tracing::info!(target: "plugin", plugin, subscriber, "{message}"),
        Level::Warn => tracing::warn!(target: "plugin", plugin, subscriber, "{message}"),
        Level::Error => tracing::error!(target: "plugin", plugin, subscriber, "{message}"),
    }
}

/// Logs what the guest printed, one log line per printed line: stdout at info, stderr at warn.
pub(crate) fn stdio(tag: &Tag, stdout: &[u8], stderr: &[u8]) {
    for (bytes, level) in [(stdout, Level::Info), (stderr, Level::Warn)] {
        for text in String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.is_empty())
        {
            line(tag, level, text);
        }
    }
}
