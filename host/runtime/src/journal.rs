//! Plugin log lines kept for people to read: the latest lines of each plugin of each tenant in
//! a ring of a fixed size, and a live feed of new lines for followers (`GET /api/logs`, the
//! admin UI, the CLI's `logs --follow`). Beside what plugins log and print, the host adds a
//! line (stream `host`) for every invocation that failed and every call it denied, so the
//! reason is where people look. The server log keeps its own copy of every line.

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
    #[serde(skip)]
    pub tenant: String,
    pub plugin: String,
    pub subscriber: String,
    /// The topic of the message the invocation ran for.
    pub topic: String,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// `log` (a log call), `stdout`, `stderr`, or `host` (the host on the invocation).
    pub stream: &'static str,
    pub message: String,
}

/// Which lines a reader wants: always of one tenant.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub tenant: String,
    pub plugin: Option<String>,
    pub subscriber: Option<String>,
}

impl LogFilter {
    pub fn matches(&self, line: &LogLine) -> bool {
        line.tenant == self.tenant
            && self.plugin.as_ref().is_none_or(|p| *p == line.plugin)
            && (self.subscriber.as_ref()).is_none_or(|s| *s == line.subscriber)
    }
}

/// The invocation a line is about.
#[derive(Debug, Clone, Copy)]
pub struct LogSource<'a> {
    pub tenant: &'a str,
    pub plugin: &'a str,
    pub subscriber: &'a str,
    pub topic: &'a str,
}

/// The latest lines of each plugin of each tenant, by (tenant, plugin).
type Rings = HashMap<(String, String), VecDeque<Arc<LogLine>>>;

/// The rings and the feed. Cheap to share behind an `Arc`.
pub struct Journal {
    /// Lines kept per plugin.
    capacity: usize,
    rings: Mutex<Rings>,
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

    /// Keeps the host's line on an invocation of `source`: why it failed, or what it was
    /// denied.
    pub fn host(&self, source: &LogSource, level: &'static str, message: &str) {
        self.push(source, level, "host", message);
    }

    pub(crate) fn push(
        &self,
        source: &LogSource,
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
            tenant: source.tenant.to_owned(),
            plugin: source.plugin.to_owned(),
            subscriber: source.subscriber.to_owned(),
            topic: source.topic.to_owned(),
            level,
            stream,
            message: message.to_owned(),
        });
        let key = (source.tenant.to_owned(), source.plugin.to_owned());
        let ring = rings.entry(key).or_default();
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
            .filter(|((tenant, plugin), _)| {
                *tenant == filter.tenant && filter.plugin.as_ref().is_none_or(|p| p == plugin)
            })
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
    pub(crate) fn forget(&self, tenant: &str, plugin: &str) {
        (self.rings.lock()).remove(&(tenant.to_owned(), plugin.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plugin_keeps_its_latest_lines_in_order() {
        let journal = Journal::new(2);
        let lines = [
            ("t", "a", "1"),
            ("t", "b", "2"),
            ("t", "a", "3"),
            ("t", "a", "4"),
            ("u", "a", "5"),
        ];
        for (tenant, plugin, message) in lines {
            let source = LogSource {
                tenant,
                plugin,
                subscriber: "s",
                topic: "x",
            };
            journal.push(&source, "info", "log", message);
        }
        let text = |lines: Vec<Arc<LogLine>>| -> Vec<String> {
            lines.iter().map(|l| l.message.clone()).collect()
        };
        let tenant = |tenant: &str| LogFilter {
            tenant: tenant.into(),
            ..LogFilter::default()
        };
        assert_eq!(text(journal.recent(&tenant("t"), 10)), ["2", "3", "4"]);
        assert_eq!(text(journal.recent(&tenant("t"), 1)), ["4"]);
        assert_eq!(
            text(journal.recent(&tenant("u"), 10)),
            ["5"],
            "another tenant's own"
        );
        let only_a = LogFilter {
            plugin: Some("a".into()),
            ..tenant("t")
        };
        assert_eq!(
            text(journal.recent(&only_a, 10)),
            ["3", "4"],
            "a kept its last 2"
        );
        journal.forget("t", "a");
        assert_eq!(text(journal.recent(&tenant("t"), 10)), ["2"]);
        assert_eq!(text(journal.recent(&tenant("u"), 10)), ["5"]);
    }
}
