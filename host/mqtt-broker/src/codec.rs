//! MQTT packets on a byte stream in both protocol versions a device may speak, 3.1.1 and 5,
//! through the packet codec vendored with rumqttd. The version is the CONNECT's protocol level;
//! every later packet of the connection is read and written in it.

use bytes::BytesMut;
use rumqttd::protocol::{self, Packet, Protocol, v4::V4, v5::V5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How much the read buffer grows by when it needs more.
const READ_CHUNK: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V4,
    V5,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("the connection closed")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed packet: {0}")]
    Protocol(protocol::Error),
    #[error("the first packet is not a CONNECT")]
    NotConnect,
    #[error("unsupported protocol level {0} (3.1.1 and 5 are supported)")]
    Level(u8),
}

/// The reading half of a connection.
pub(crate) struct Reader<R> {
    stream: R,
    buffer: BytesMut,
    version: Version,
    max_packet: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(stream: R, max_packet: usize) -> Reader<R> {
        Reader {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            version: Version::V4,
            max_packet,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// Reads the first packet, which must be a CONNECT, and takes the connection's protocol
    /// version from it.
    pub async fn read_connect(&mut self) -> Result<Packet, CodecError> {
        self.version = loop {
            if let Some(level) = protocol_level(&self.buffer)? {
                break match level {
                    4 => Version::V4,
                    5 => Version::V5,
                    other => return Err(CodecError::Level(other)),
                };
            }
            self.fill().await?;
        };
        self.read().await
    }

    /// Reads the next packet. Cancel-safe: what was read stays in the buffer.
    pub async fn read(&mut self) -> Result<Packet, CodecError> {
        loop {
            let read = match self.version {
                Version::V4 => V4.read_mut(&mut self.buffer, self.max_packet),
                Version::V5 => V5.read_mut(&mut self.buffer, self.max_packet),
            };
            match read {
                Ok(packet) => return Ok(packet),
                Err(protocol::Error::InsufficientBytes(_)) => self.fill().await?,
                Err(e) => return Err(CodecError::Protocol(e)),
            }
        }
    }

    async fn fill(&mut self) -> Result<(), CodecError> {
        self.buffer.reserve(READ_CHUNK);
        match self.stream.read_buf(&mut self.buffer).await? {
            0 => Err(CodecError::Closed),
            _ => Ok(()),
        }
    }
}

/// The writing half of a connection: packets are encoded into a buffer and sent together.
pub(crate) struct Writer<W> {
    stream: W,
    buffer: BytesMut,
    version: Version,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub fn new(stream: W, version: Version) -> Writer<W> {
        Writer {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            version,
        }
    }

    /// Encodes a packet for the next [`Writer::flush`]. Properties are MQTT 5's: they are left
    /// out for 3.1.1.
    pub fn queue(&mut self, packet: Packet) {
        let written = match self.version {
            Version::V4 => V4.write(without_properties(packet), &mut self.buffer),
            Version::V5 => V5.write(packet, &mut self.buffer),
        };
        if let Err(e) = written {
            // Only packets this broker builds are written; a failure is a bug, not input.
            tracing::error!("cannot encode an MQTT packet: {e}");
        }
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.buffer).await?;
        self.buffer.clear();
        self.stream.flush().await
    }
}

/// 3.1.1 packets carry no properties.
fn without_properties(packet: Packet) -> Packet {
    match packet {
        Packet::ConnAck(a, _) => Packet::ConnAck(a, None),
        Packet::Publish(p, _) => Packet::Publish(p, None),
        Packet::PubAck(a, _) => Packet::PubAck(a, None),
        Packet::PubRec(a, _) => Packet::PubRec(a, None),
        Packet::PubRel(a, _) => Packet::PubRel(a, None),
        Packet::PubComp(a, _) => Packet::PubComp(a, None),
        Packet::SubAck(a, _) => Packet::SubAck(a, None),
        Packet::UnsubAck(a, _) => Packet::UnsubAck(a, None),
        other => other,
    }
}

/// The protocol level of the CONNECT at the start of `buffer`, once enough of it is there.
fn protocol_level(buffer: &[u8]) -> Result<Option<u8>, CodecError> {
    let Some(&first) = buffer.first() else {
        return Ok(None);
    };
    if first != 0x10 {
        return Err(CodecError::NotConnect);
    }
    // The remaining length: 1 to 4 bytes of 7 bits each.
    let mut at = 1;
    loop {
        let Some(&byte) = buffer.get(at) else {
            return Ok(None);
        };
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Err(CodecError::Protocol(
                protocol::Error::MalformedRemainingLength,
            ));
        }
    }
    // The protocol name (a length and the name), then the level.
    let (Some(&high), Some(&low)) = (buffer.get(at), buffer.get(at + 1)) else {
        return Ok(None);
    };
    let name_len = usize::from(u16::from_be_bytes([high, low]));
    Ok(buffer.get(at + 2 + name_len).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_read_from_a_partial_connect() {
        // CONNECT, remaining length 16, "MQTT", level 5.
        let connect = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60];
        for end in 0..9 {
            assert_eq!(protocol_level(&connect[..end]).unwrap(), None, "{end}");
        }
        assert_eq!(protocol_level(&connect).unwrap(), Some(5));
        assert!(matches!(
            protocol_level(&[0x30, 0]),
            Err(CodecError::NotConnect)
        ));
    }
}
