//! Telling the other instances what changed: every transaction that writes objects, a space
//! or the index catalogue also sends `NOTIFY switchyard` with what it did, which PostgreSQL
//! delivers to every listening connection when (and only if) it commits. Each instance keeps
//! one connection listening and hands what it hears to the store, skipping its own. When that
//! connection drops, it connects again, listens, and only then says it missed changes, so
//! whatever happened in between is read again.
//!
//! A payload is JSON, `{"from": <instance>, "changes": [...]}`, each change one of
//! `["o", tenant, kind, type, id]` (an object; kind `c`, `u` or `d`), `["s", space, key]`,
//! `["i", tenant, type, property, declared]` and `["*"]` (anything may have changed: a tenant
//! was removed). PostgreSQL limits a payload to 8,000 bytes, so a large transaction sends
//! several.

use super::Catalogue;
use crate::backend::{Hear, Heard, Write};
use crate::{Change, ChangeKind, Error, Result, SpaceChange};
use parking_lot::RwLock;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, GenericClient, ToStatement};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const CHANNEL: &str = "switchyard";

/// Sends a notice of each payload on the channel.
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload";

/// The listening connection's `application_name`, as `pg_stat_activity` shows it.
const LISTENER: &str = "switchyard-listen";

/// Bytes of changes per payload, leaving room for the envelope under PostgreSQL's 8,000.
const PAYLOAD: usize = 7_000;

/// What a transaction tells the others.
pub(super) struct Changes {
    from: Arc<str>,
    changes: Vec<Value>,
}

impl Changes {
    pub(super) fn new(from: &Arc<str>) -> Changes {
        Changes {
            from: from.clone(),
            changes: Vec::new(),
        }
    }

    /// The changes of a committed write set's writes.
    pub(super) fn writes(&mut self, tenant: &str, writes: &[Write]) {
        for write in writes {
            let kind = match (write.existed, write.bytes.is_some()) {
                (false, true) => "c",
                (true, true) => "u",
                (true, false) => "d",
                (false, false) => continue,
            };
            self.object(tenant, kind, &write.type_name, &write.id);
        }
    }

    pub(super) fn object(&mut self, tenant: &str, kind: &str, type_name: &str, id: &str) {
        self.changes.push(json!(["o", tenant, kind, type_name, id]));
    }

    pub(super) fn space(&mut self, space: &str, key: &str) {
        self.changes.push(json!(["s", space, key]));
    }

    pub(super) fn index(&mut self, tenant: &str, type_name: &str, property: &str, declared: bool) {
        self.changes
            .push(json!(["i", tenant, type_name, property, declared]));
    }

    pub(super) fn anything(&mut self) {
        self.changes.push(json!(["*"]));
    }

    /// Sends the changes on `client`'s transaction (or at once, outside one).
    pub(super) fn send(
        self,
        client: &mut impl GenericClient,
        notify: &(impl ToStatement + ?Sized),
    ) -> Result<()> {
        if self.changes.is_empty() {
            return Ok(());
        }
        let mut payloads = Vec::new();
        let mut chunk = Vec::new();
        let mut size = 0;
        for change in self.changes {
            let length = change.to_string().len() + 1;
            if size + length > PAYLOAD && !chunk.is_empty() {
                payloads.push(payload(&self.from, &chunk));
                (chunk, size) = (Vec::new(), 0);
            }
            chunk.push(change);
            size += length;
        }
        payloads.push(payload(&self.from, &chunk));
        (client.query(notify, &[&CHANNEL, &payloads]))
            .map_err(|e| Error::storage("announcing a change", e))?;
        Ok(())
    }
}

/// A notice's text: the sender first, so a listener tells its own notices by their start.
fn payload(from: &str, changes: &[Value]) -> String {
    format!("{}{}}}", from_prefix(from), Value::from(changes))
}

/// How every notice `from` sends begins.
fn from_prefix(from: &str) -> String {
    format!("{{\"from\":{},\"changes\":", Value::from(from))
}

/// The listening side: a thread of its own until `closing`.
pub(super) struct Listener {
    pub config: Config,
    pub me: Arc<str>,
    pub hear: Arc<RwLock<Option<Hear>>>,
    pub catalogue: Arc<Catalogue>,
    pub closing: Arc<AtomicBool>,
}

impl Listener {
    /// Listens on a connection of its own from before it returns (so nothing committed after
    /// the store opened goes unheard), then on a thread until `closing` is set. The connection
    /// is made on that thread: the blocking client cannot start inside the caller's runtime.
    pub(super) fn start(self) -> Result<()> {
        let (listening, first) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("store-pg-listen".into())
            .spawn(move || match self.listen() {
                Ok(client) => {
                    let _ = listening.send(Ok(()));
                    self.run(client);
                }
                Err(e) => drop(listening.send(Err(e))),
            })
            .map_err(|e| Error::storage("starting the PostgreSQL listener", e))?;
        first.recv().map_err(|_| Error::Closing)?
    }

    fn listen(&self) -> Result<Client> {
        let mut config = self.config.clone();
        config.application_name(LISTENER);
        let mut client = super::pool::connect(&config)?;
        (client.batch_execute(&format!("LISTEN {CHANNEL}")))
            .map_err(|e| Error::storage("listening for other instances' changes", e))?;
        Ok(client)
    }

    fn run(self, mut client: Client) {
        loop {
            self.hear_all(&mut client);
            // The connection dropped: connect again, then everything is read again.
            client = loop {
                if self.closing.load(Ordering::Acquire) {
                    return;
                }
                match self.listen() {
                    Ok(client) => break client,
                    Err(e) => {
                        tracing::warn!("cannot listen for other instances' changes: {}", e);
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            };
            tracing::info!("listening for other instances' changes again; reading everything");
            if let Err(e) = self.catalogue.reload(&mut client) {
                tracing::warn!("cannot read the indexes: {e}");
            }
            self.tell(Heard::Missed);
        }
    }

    /// Hands on what `client` hears until it drops or the store closes.
    fn hear_all(&self, client: &mut Client) {
        while !self.closing.load(Ordering::Acquire) {
            let heard = (client.notifications())
                .timeout_iter(Duration::from_millis(250))
                .next();
            match heard {
                Ok(Some(notification)) => self.heard(notification.payload()),
                Ok(None) if client.is_closed() => return,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("stopped hearing other instances' changes: {e}");
                    return;
                }
            }
        }
    }

    fn heard(&self, payload: &str) {
        // This instance's own notices come back too: skipped unread.
        if payload.starts_with(&from_prefix(&self.me)) {
            return;
        }
        let Ok(Value::Object(payload)) = serde_json::from_str(payload) else {
            return;
        };
        let Some(Value::Array(changes)) = payload.get("changes") else {
            return;
        };
        for change in changes {
            let Some(fields) = change.as_array() else {
                continue;
            };
            let text = |i: usize| fields.get(i).and_then(Value::as_str).unwrap_or_default();
            let heard = match text(0) {
                "o" => Heard::Object(Change {
                    tenant: text(1).to_owned(),
                    kind: match text(2) {
                        "c" => ChangeKind::Created,
                        "d" => ChangeKind::Deleted,
                        _ => ChangeKind::Updated,
                    },
                    type_name: text(3).to_owned(),
                    id: text(4).to_owned(),
                }),
                "s" => Heard::Space(SpaceChange::Entry {
                    space: text(1).to_owned(),
                    key: text(2).to_owned(),
                }),
                "i" => {
                    let declared = fields.get(4).and_then(Value::as_bool).unwrap_or(false);
                    self.catalogue.set(text(1), text(2), text(3), declared);
                    continue;
                }
                _ => Heard::Missed,
            };
            self.tell(heard);
        }
    }

    fn tell(&self, heard: Heard) {
        if let Some(hear) = &*self.hear.read() {
            hear(heard);
        }
    }
}
