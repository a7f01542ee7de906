//! Received messages the consumer's queue cannot take yet, in arrival order: the first few in
//! memory, the rest spilled to a file of their own.
//!
//! The connection must keep reading while callbacks run (a connection that stops reading
//! misses its keep-alive and, with a clean session, loses the broker's backlog on reconnect),
//! and brokers do not reliably hold QoS 1 messages back until earlier ones are acknowledged
//! (Mosquitto 2.0 keeps sending once acknowledgements flow). So whatever arrives ahead of the
//! callbacks waits here: memory stays bounded by [`MEMORY_MESSAGES`] and [`MEMORY_BYTES`],
//! and a longer backlog costs disk instead (an append-only file, emptied whenever the backlog
//! is). Nothing here is acknowledged yet: after a crash the broker delivers it again, so the
//! file starts empty with every connection.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

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
    /// MQTT 5 user properties.
    pub headers: Vec<(String, Vec<u8>)>,
}

pub(crate) struct Backlog {
    memory: VecDeque<Held>,
    memory_bytes: usize,
    spill: Spill,
}

/// The spill file: records are appended at the end and read from the front.
struct Spill {
    writer: BufWriter<File>,
    reader: BufReader<File>,
    /// Records written and not read yet.
    records: u64,
}

impl Backlog {
    /// A backlog spilling into the file at `path`, which is emptied first.
    pub fn open(path: &Path) -> io::Result<Backlog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Opened twice, so reading and writing each keep their own position.
        let writer = File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        let reader = File::open(path)?;
        Ok(Backlog {
            memory: VecDeque::new(),
            memory_bytes: 0,
            spill: Spill {
                writer: BufWriter::new(writer),
                reader: BufReader::new(reader),
                records: 0,
            },
        })
    }

    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.spill.records == 0
    }

    /// Queues a message at the end.
    pub fn push(&mut self, held: Held) -> io::Result<()> {
        let spilling = self.spill.records > 0
            || self.memory.len() >= MEMORY_MESSAGES
            || self.memory_bytes + held.payload.len() > MEMORY_BYTES;
        if spilling {
            self.spill.append(&held)
        } else {
            self.memory_bytes += held.payload.len();
            self.memory.push_back(held);
            Ok(())
        }
    }

    /// Takes the oldest message.
    pub fn pop(&mut self) -> io::Result<Option<Held>> {
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
    fn unspill(&mut self) -> io::Result<()> {
        while self.spill.records > 0
            && self.memory.len() < MEMORY_MESSAGES
            && self.memory_bytes < MEMORY_BYTES
        {
            let held = self.spill.take()?;
            self.memory_bytes += held.payload.len();
            self.memory.push_back(held);
        }
        Ok(())
    }
}

impl Spill {
    fn append(&mut self, held: &Held) -> io::Result<()> {
        let topic = held.topic.as_bytes();
        let mut headers = (held.headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in &held.headers {
            for bytes in [name.as_bytes(), value] {
                headers.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                headers.extend_from_slice(bytes);
            }
        }
        let length = 8 + 8 + 2 + 1 + 4 + topic.len() + headers.len() + held.payload.len();
        self.writer.write_all(&(length as u64).to_be_bytes())?;
        self.writer.write_all(&held.generation.to_be_bytes())?;
        self.writer.write_all(&held.received_at_ms.to_be_bytes())?;
        self.writer.write_all(&held.pkid.to_be_bytes())?;
        self.writer.write_all(&[held.qos])?;
        self.writer.write_all(&(topic.len() as u32).to_be_bytes())?;
        self.writer.write_all(topic)?;
        self.writer.write_all(&headers)?;
        self.writer.write_all(&held.payload)?;
        self.records += 1;
        Ok(())
    }

    /// Reads the oldest record; the file is emptied once the last one is read.
    fn take(&mut self) -> io::Result<Held> {
        self.writer.flush()?;
        let mut length = [0; 8];
        self.reader.read_exact(&mut length)?;
        let mut record = vec![0; u64::from_be_bytes(length) as usize];
        self.reader.read_exact(&mut record)?;
        self.records -= 1;
        if self.records == 0 {
            self.writer.get_ref().set_len(0)?;
            self.writer.seek(SeekFrom::Start(0))?;
            // Seeking also drops what the reader had buffered.
            self.reader.seek(SeekFrom::Start(0))?;
        }
        decode(&record).ok_or_else(|| io::Error::other("a corrupt record in the backlog file"))
    }
}

/// A record: generation, receipt time, packet id, QoS, the topic and the headers (each with its
/// length first), then the payload.
fn decode(bytes: &[u8]) -> Option<Held> {
    let u64_at = |at: usize| Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let mut fields = Fields { bytes, at: 19 };
    let topic = String::from_utf8(fields.next()?.to_vec()).ok()?;
    let count = fields.length()?;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let name = String::from_utf8(fields.next()?.to_vec()).ok()?;
        headers.push((name, fields.next()?.to_vec()));
    }
    Some(Held {
        generation: u64_at(0)?,
        received_at_ms: u64_at(8)?,
        pkid: u16::from_be_bytes(bytes.get(16..18)?.try_into().ok()?),
        qos: *bytes.get(18)?,
        topic,
        headers,
        payload: bytes.get(fields.at..)?.to_vec(),
    })
}

/// The length-prefixed fields of a record, read in turn.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn length(&mut self) -> Option<usize> {
        let length = self.bytes.get(self.at..self.at + 4)?.try_into().ok()?;
        self.at += 4;
        Some(u32::from_be_bytes(length) as usize)
    }

    fn next(&mut self) -> Option<&'a [u8]> {
        let length = self.length()?;
        let field = self.bytes.get(self.at..self.at + length)?;
        self.at += length;
        Some(field)
    }
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
            headers: vec![("trace".into(), format!("{n}").into_bytes())],
        }
    }

    #[test]
    fn a_long_backlog_spills_and_comes_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backlog/client.spill");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"stale bytes from a crash").unwrap();
        let mut backlog = Backlog::open(&path).unwrap();
        assert!(backlog.is_empty());
        for n in 0..1000 {
            backlog.push(held(n, 100)).unwrap();
        }
        assert_eq!(backlog.memory.len(), MEMORY_MESSAGES);
        assert_eq!(backlog.spill.records, 1000 - MEMORY_MESSAGES as u64);
        let first = backlog.pop().unwrap().unwrap();
        backlog.unpop(first);
        // Taking and adding at once keeps the order across memory and file.
        for n in 0..1000 {
            assert_eq!(backlog.pop().unwrap(), Some(held(n, 100)));
            backlog.push(held(1000 + n, 100)).unwrap();
        }
        for n in 1000..2000 {
            assert_eq!(backlog.pop().unwrap(), Some(held(n, 100)));
        }
        assert!(backlog.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "emptied");
        // And it spills again from the start.
        for n in 0..300 {
            backlog.push(held(n, 10)).unwrap();
        }
        for n in 0..300 {
            assert_eq!(backlog.pop().unwrap(), Some(held(n, 10)));
        }
    }

    #[test]
    fn large_messages_spill_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut backlog = Backlog::open(&dir.path().join("spill")).unwrap();
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
