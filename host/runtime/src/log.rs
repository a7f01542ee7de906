//! Plugin output in the server log and the plugin's journal: `log` calls and captured
//! stdout/stderr, each line tagged with the plugin and the subscriber it ran for.

use crate::bindings::logging::Level;
use crate::output::CappedOutput;
use crate::sandbox::{Budget, Tag};

/// Marks where a plugin's log output was cut off.
const TRUNCATED: &str = "[truncated: the plugin's log limit for this invocation]";

/// Writes one line of a `log` call at its level, within what is left of the invocation's log
/// budget: a line over it is cut there, with a marker, and nothing is logged after that.
pub(crate) fn budgeted(tag: &Tag, level: Level, message: &str, budget: &mut Budget) {
    if budget.log_truncated {
        return;
    }
    if message.len() <= budget.log_bytes {
        budget.log_bytes -= message.len();
        write(tag, level, "log", message);
        return;
    }
    let mut cut = budget.log_bytes;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    budget.log_bytes = 0;
    budget.log_truncated = true;
    write(
        tag,
        level,
        "log",
        &format!("{}… {TRUNCATED}", &message[..cut]),
    );
}

fn write(tag: &Tag, level: Level, stream: &'static str, message: &str) {
    tag.journal
        .push(&tag.source(), name(level), stream, message);
    let (tenant, plugin, subscriber) = (&*tag.tenant, &*tag.plugin, tag.subscriber.as_str());
    match level {
        Level::Trace => tracing::trace!(target: "plugin", tenant, plugin, subscriber, "{message}"),
        Level::Debug => tracing::debug!(target: "plugin", tenant, plugin, subscriber, "{message}"),
        Level::Info => tracing::info!(target: "plugin", tenant, plugin, subscriber, "{message}"),
        Level::Warn => tracing::warn!(target: "plugin", tenant, plugin, subscriber, "{message}"),
        Level::Error => tracing::error!(target: "plugin", tenant, plugin, subscriber, "{message}"),
    }
}

/// Logs what the guest printed, one log line per printed line: stdout at info, stderr at warn,
/// each followed by a marker if some of it was dropped over the log limit.
pub(crate) fn stdio(tag: &Tag, stdout: &CappedOutput, stderr: &CappedOutput) {
    for (output, level, stream) in [
        (stdout, Level::Info, "stdout"),
        (stderr, Level::Warn, "stderr"),
    ] {
        let (bytes, dropped) = output.take();
        for text in String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.is_empty())
        {
            write(tag, level, stream, text);
        }
        if dropped > 0 {
            let marker = format!("… {dropped} more bytes {TRUNCATED}");
            write(tag, level, stream, &marker);
        }
    }
}

fn name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}
