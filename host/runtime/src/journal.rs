//! Plugin log lines kept for people to read: the latest lines of each plugin in a ring of a
//! fixed size, and a live feed of new lines for followers (`GET /api/logs`, the admin UI, the
//! CLI's `logs --follow`). The server log keeps its own copy of every line, as before.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Lines a follower may fall behind before it is told it missed some.
const FEED_CAPACITY: usize = 1024;

/// One line a plugin logged or printed during an invocation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Increases by one per line across all plugins, so followers can tell what they missed.
    pub seq: u64,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub plugin: String,
    pub subscriber: String,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// `log` (a log call), `stdout` or `stderr`.
    pub stream: &'static str,
    pub message: String,
}

/// Which lines a reader wants.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub plugin: Option<String>,
    pub subscriber: Option<String>,
}

impl LogFilter {
    pub fn matches(&self, line: &LogLine) -> bool {
        self.plugin.as_ref().is_none_or(|p| *p == line.plugin)
            && (self.subscriber.as_ref()).is_none_or(|s| *s == line.subscriber)
    }
}

/// The rings and the feed. Cheap to share behind an `Arc`.
pub struct Journal {
    /// Lines kept per plugin.
    capacity: usize,
    rings: Mutex<HashMap<String, VecDeque<Arc<LogLine>>>>,
    feed: broadcast::Sender<Arc<LogLine>>,
    next: AtomicU64,
}

impl Journal {
    pub fn new(capacity: usize) -> Journal {
        Journal {
            capacity,
            rings: Mutex::default(),
            feed: broadcast::channel(FEED_CAPACITY).0,
            next: AtomicU64::new(1),
        }
    }

    pub(crate) fn push(
        &self,
        plugin: &str,
        subscriber: &str,
        level: &'static str,
        stream: &'static str,
        message: &str,
    ) {
        if self.capacity == 0 {
            return;
        }
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut rings = self.rings.lock();
        // Numbered under the lock, so the rings and the feed keep the same order.
        let line = Arc::new(LogLine {
            seq: self.next.fetch_add(1, Ordering::Relaxed),
            time_ms,
            plugin: plugin.to_owned(),
            subscriber: subscriber.to_owned(),
            level,
            stream,
            message: message.to_owned(),
        });
        let ring = match rings.get_mut(plugin) {
            Some(ring) => ring,
            None => rings.entry(plugin.to_owned()).or_default(),
        };
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(line.clone());
        // Nobody following is the usual case, not an error.
        let _ = self.feed.send(line);
    }

    /// The latest `limit` lines that match, oldest first.
    pub fn recent(&self, filter: &LogFilter, limit: usize) -> Vec<Arc<LogLine>> {
        let rings = self.rings.lock();
        let mut lines: Vec<Arc<LogLine>> = (rings.iter())
            .filter(|(plugin, _)| filter.plugin.as_ref().is_none_or(|p| p == *plugin))
            .flat_map(|(_, ring)| ring.iter().filter(|line| filter.matches(line)).cloned())
            .collect();
        lines.sort_by_key(|line| line.seq);
        lines.split_off(lines.len().saturating_sub(limit))
    }

    /// The lines logged from now on (every plugin's: filter them with [`LogFilter::matches`]).
    pub fn follow(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.feed.subscribe()
    }

    /// Drops the lines of a deleted plugin.
    pub(crate) fn forget(&self, plugin: &str) {
        self.rings.lock().remove(plugin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plugin_keeps_its_latest_lines_in_order() {
        let journal = Journal::new(2);
        for (plugin, message) in [("a", "1"), ("b", "2"), ("a", "3"), ("a", "4")] {
            journal.push(plugin, "s", "info", "log", message);
        }
        let text = |lines: Vec<Arc<LogLine>>| -> Vec<String> {
            lines.iter().map(|l| l.message.clone()).collect()
        };
        assert_eq!(
            text(journal.recent(&LogFilter::default(), 10)),
            ["2", "3", "4"]
        );
        assert_eq!(text(journal.recent(&LogFilter::default(), 1)), ["4"]);
        let only_a = LogFilter {
            plugin: Some("a".into()),
            ..LogFilter::default()
        };
        assert_eq!(
            text(journal.recent(&only_a, 10)),
            ["3", "4"],
            "a kept its last 2"
        );
        journal.forget("a");
        assert_eq!(text(journal.recent(&LogFilter::default(), 10)), ["2"]);
    }
}
