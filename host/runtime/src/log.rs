//! Plugin output in the server log: `log` calls and captured stdout/stderr, each line tagged
//! with the plugin and the subscriber it ran for.

use crate::bindings::logging::Level;
use crate::imports::TRUNCATED;
use crate::output::CappedOutput;
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

/// Logs what the guest printed, one log line per printed line: stdout at info, stderr at warn,
/// each followed by a marker if some of it was dropped over the log limit.
pub(crate) fn stdio(tag: &Tag, stdout: &CappedOutput, stderr: &CappedOutput) {
    for (output, level) in [(stdout, Level::Info), (stderr, Level::Warn)] {
        let (bytes, dropped) = output.contents();
        for text in String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.is_empty())
        {
            line(tag, level, text);
        }
        if dropped > 0 {
            line(tag, level, &format!("… {dropped} more bytes {TRUNCATED}"));
        }
    }
}
