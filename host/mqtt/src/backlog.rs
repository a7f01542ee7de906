//! Received messages the consumer's queue cannot take yet, in arrival order: the first few in
//! memory, the rest spilled to a sled tree of their own.
//!
//! The connection must keep reading while callbacks run (a connection that stops reading
//! misses its keep-alive and, with a clean session, loses the broker's backlog on reconnect),
//! and brokers do not reliably hold QoS 1 messages back until earlier ones are acknowledged
//! (Mosquitto 2.0 keeps sending once acknowledgements flow). So whatever arrives ahead of the
//! callbacks waits here: memory stays bounded by [`MEMORY_MESSAGES`] and [`MEMORY_BYTES`],
//! and a longer backlog costs disk instead. Nothing here is acknowledged yet: after a crash
//! the broker delivers it again, so the spill is emptied when a connection starts.

use std::collections::VecDeque;

/// Messages kept in memory before spilling.
const MEMORY_MESSAGES: usize = 256;
/// Payload bytes kept in memory before spilling.
const MEMORY_BYTES: usize = 8 << 20;

/// A received, unacknowledged message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Held {
    pub generation: u64,
    pub received_at_ms: u64,
    pub pkid: u16,
    pub qos: u8,
    pub topic: String,
    pub payload: Vec<u8>,
}

pub(crate) struct Backlog {
    memory: VecDeque<Held>,
    memory_bytes: usize,
    spill: sled::Tree,
    /// Keys of the spilled messages are `first..next`, oldest first.
    first: u64,
    next: u64,
}

impl Backlog {
    /// A backlog spilling into `spill`, which is emptied first.
    pub fn new(spill: sled::Tree) -> sled::Result<Backlog> {
        spill.clear()?;
        Ok(Backlog {
            memory: VecDeque::new(),
            memory_bytes: 0,
            spill,
            first: 0,
            next: 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.first == self.next
    }

    /// Queues a message at the end.
    pub fn push(&mut self, held: Held) -> sled::Result<()> {
        let spilling = self.first != self.next
            || self.memory.len() >= MEMORY_MESSAGES
            || self.memory_bytes + held.payload.len() > MEMORY_BYTES;
        if spilling {
            self.spill.insert(self.next.to_be_bytes(), encode(&held))?;
            self.next += 1;
        } else {
            self.memory_bytes += held.payload.len();
            self.memory.push_back(held);
        }
        Ok(())
    }

    /// Takes the oldest message.
    pub fn pop(&mut self) -> sled::Result<Option<Held>> {
        if self.memory.is_empty() {
            self.unspill()?;
        }
        let held = self.memory.pop_front();
        if let Some(held) = &held {
            self.memory_bytes -= held.payload.len();
        }
        Ok(held)
    }

    /// Puts back the message just taken, as the oldest again.
    pub fn unpop(&mut self, held: Held) {
        self.memory_bytes += held.payload.len();
        self.memory.push_front(held);
    }

    /// Moves the oldest spilled messages back into memory, as many as fit.
    fn unspill(&mut self) -> sled::Result<()> {
        while self.first < self.next && self.memory.len() < MEMORY_MESSAGES {
            let key = self.first.to_be_bytes();
            let Some(bytes) = self.spill.remove(&key[..])? else {
                break;
            };
            self.first += 1;
            if let Some(held) = decode(&bytes) {
                self.memory_bytes += held.payload.len();
                self.memory.push_back(held);
            }
            if self.memory_bytes >= MEMORY_BYTES {
                break;
            }
        }
        Ok(())
    }
}

/// generation, received_at_ms (8 bytes each), pkid (2), qos (1), topic length (4), topic,
/// payload.
fn encode(held: &Held) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(23 + held.topic.len() + held.payload.len());
    bytes.extend_from_slice(&held.generation.to_be_bytes());
    bytes.extend_from_slice(&held.received_at_ms.to_be_bytes());
    bytes.extend_from_slice(&held.pkid.to_be_bytes());
    bytes.push(held.qos);
    bytes.extend_from_slice(&(held.topic.len() as u32).to_be_bytes());
    bytes.extend_from_slice(held.topic.as_bytes());
    bytes.extend_from_slice(&held.payload);
    bytes
}

fn decode(bytes: &[u8]) -> Option<Held> {
    let u64_at = |at: usize| Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let topic_len = u32::from_be_bytes(bytes.get(19..23)?.try_into().ok()?) as usize;
    Some(Held {
        generation: u64_at(0)?,
        received_at_ms: u64_at(8)?,
        pkid: u16::from_be_bytes(bytes.get(16..18)?.try_into().ok()?),
        qos: *bytes.get(18)?,
        topic: String::from_utf8(bytes.get(23..23 + topic_len)?.to_vec()).ok()?,
        payload: bytes.get(23 + topic_len..)?.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(n: u64, size: usize) -> Held {
        Held {
            generation: 1,
            received_at_ms: n,
            pkid: n as u16,
            qos: 1,
            topic: format!("t/{n}"),
            payload: vec![n as u8; size],
        }
    }

    #[test]
    fn a_long_backlog_spills_and_comes_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("spill").unwrap();
        tree.insert("stale", "from a crash").unwrap();
        let mut backlog = Backlog::new(tree.clone()).unwrap();
        assert!(backlog.is_empty());
        for n in 0..1000 {
            backlog.push(held(n, 100)).unwrap();
        }
        assert_eq!(backlog.memory.len(), MEMORY_MESSAGES);
        assert_eq!(tree.len(), 1000 - MEMORY_MESSAGES);
        let first = backlog.pop().unwrap().unwrap();
        backlog.unpop(first);
        // Taking and adding at once keeps the order across memory and spill.
        for n in 0..1000 {
            assert_eq!(backlog.pop().unwrap(), Some(held(n, 100)));
            backlog.push(held(1000 + n, 100)).unwrap();
        }
        for n in 1000..2000 {
            assert_eq!(backlog.pop().unwrap(), Some(held(n, 100)));
        }
        assert!(backlog.is_empty() && tree.is_empty());
    }

    #[test]
    fn large_messages_spill_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let mut backlog = Backlog::new(db.open_tree("spill").unwrap()).unwrap();
        for n in 0..10 {
            backlog.push(held(n, 1 << 20)).unwrap();
        }
        assert!(
            backlog.memory_bytes <= MEMORY_BYTES,
            "{}",
            backlog.memory_bytes
        );
        for n in 0..10 {
            assert_eq!(backlog.pop().unwrap(), Some(held(n, 1 << 20)));
        }
    }
}
