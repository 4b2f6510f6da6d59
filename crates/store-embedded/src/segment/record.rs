//! The payloads of frames: event records and commit records, and the
//! chain hash that links commits.
//!
//! Event payload (all integers little-endian):
//! ```text
//! position u64 | version u64 | timestamp_us u64 | id [16]
//! stream_len u16 | stream | type_len u16 | type
//! n_tags u16 | (tag_len u16 | tag)*
//! metadata_len u32 | metadata JSON | data_len u32 | data JSON
//! ```
//! Commit payload: `first_position u64 | n_events u32 | durable_end u64 | chain [32]`.

use uuid::Uuid;

use super::frame::{begin_frame, encode_frame, finish_frame, KIND_COMMIT, KIND_EVENT};

/// An event record as it lies in a buffer, borrowed so that filters can
/// look at the stream and type without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView<'a> {
    pub position: u64,
    pub version: u64,
    pub timestamp_us: u64,
    pub id: Uuid,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub tags: Vec<&'a str>,
    pub metadata: &'a str,
    pub data: &'a str,
}

impl EventView<'_> {
    pub fn to_owned_event(&self) -> hindsight_store::RecordedEvent {
        hindsight_store::RecordedEvent {
            id: self.id,
            stream: self.stream.to_string(),
            event_type: self.event_type.to_string(),
            version: self.version,
            position: self.position,
            timestamp_us: self.timestamp_us,
            data: self.data.to_string(),
            metadata: self.metadata.to_string(),
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
        }
    }
}

/// Appends one event frame to `out`.
pub fn encode_event(out: &mut Vec<u8>, e: &EventView<'_>) {
    let start = begin_frame(out, KIND_EVENT);
    out.extend_from_slice(&e.position.to_le_bytes());
    out.extend_from_slice(&e.version.to_le_bytes());
    out.extend_from_slice(&e.timestamp_us.to_le_bytes());
    out.extend_from_slice(e.id.as_bytes());
    put_str16(out, e.stream);
    put_str16(out, e.event_type);
    out.extend_from_slice(&(e.tags.len() as u16).to_le_bytes());
    for t in &e.tags {
        put_str16(out, t);
    }
    put_str32(out, e.metadata);
    put_str32(out, e.data);
    finish_frame(out, start);
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_str32(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("record shorter than its fields")?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self, n: usize) -> Result<&'a str, &'static str> {
        std::str::from_utf8(self.take(n)?).map_err(|_| "record text is not UTF-8")
    }
}

/// Decodes an event payload (the frame's checksum already held).
pub fn decode_event(payload: &[u8]) -> Result<EventView<'_>, &'static str> {
    let mut c = Cursor { buf: payload, at: 0 };
    let position = c.u64()?;
    let version = c.u64()?;
    let timestamp_us = c.u64()?;
    let mut id = [0u8; 16];
    id.copy_from_slice(c.take(16)?);
    let n = c.u16()? as usize;
    let stream = c.str(n)?;
    let n = c.u16()? as usize;
    let event_type = c.str(n)?;
    let n_tags = c.u16()? as usize;
    let mut tags = Vec::with_capacity(n_tags);
    for _ in 0..n_tags {
        let n = c.u16()? as usize;
        tags.push(c.str(n)?);
    }
    let n = c.u32()? as usize;
    let metadata = c.str(n)?;
    let n = c.u32()? as usize;
    let data = c.str(n)?;
    if c.at != payload.len() {
        return Err("event record has trailing bytes");
    }
    Ok(EventView {
        position,
        version,
        timestamp_us,
        id: Uuid::from_bytes(id),
        stream,
        event_type,
        tags,
        metadata,
        data,
    })
}

/// Reads only the position of an event payload.
pub fn event_position(payload: &[u8]) -> Option<u64> {
    payload.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// Closes a commit: how many events it holds, how far the log was known
/// to be durable when it was written, and the chain hash over it all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRecord {
    pub first_position: u64,
    pub n_events: u32,
    /// The offset in this segment up to which the writer knew the log to
    /// be fdatasynced when it wrote this commit (at least the header).
    /// Recovery uses it to tell an unfinished write from damage: bytes
    /// before a durable end some intact commit records were acknowledged.
    pub durable_end: u64,
    pub chain: [u8; 32],
}

pub const COMMIT_PAYLOAD_BYTES: usize = 8 + 4 + 8 + 32;
/// A whole commit frame, so the one that ends at a known offset can be
/// found by stepping back this many bytes.
pub const COMMIT_FRAME_BYTES: usize = COMMIT_PAYLOAD_BYTES + super::frame::FRAME_OVERHEAD_BYTES;

pub fn encode_commit(out: &mut Vec<u8>, c: &CommitRecord) {
    let mut p = [0u8; COMMIT_PAYLOAD_BYTES];
    p[0..8].copy_from_slice(&c.first_position.to_le_bytes());
    p[8..12].copy_from_slice(&c.n_events.to_le_bytes());
    p[12..20].copy_from_slice(&c.durable_end.to_le_bytes());
    p[20..52].copy_from_slice(&c.chain);
    encode_frame(out, KIND_COMMIT, &p);
}

pub fn decode_commit(payload: &[u8]) -> Result<CommitRecord, &'static str> {
    if payload.len() != COMMIT_PAYLOAD_BYTES {
        return Err("commit record has the wrong length");
    }
    let mut chain = [0u8; 32];
    chain.copy_from_slice(&payload[20..52]);
    Ok(CommitRecord {
        first_position: u64::from_le_bytes(payload[0..8].try_into().unwrap_or_default()),
        n_events: u32::from_le_bytes(payload[8..12].try_into().unwrap_or_default()),
        durable_end: u64::from_le_bytes(payload[12..20].try_into().unwrap_or_default()),
        chain,
    })
}

/// The exact size of an event's frame, so batches and limits count what
/// is really written (tags included).
pub fn event_frame_bytes(stream: &str, event_type: &str, tags: &[String], metadata: &str, data: &str) -> usize {
    super::frame::FRAME_OVERHEAD_BYTES
        + 8 * 3
        + 16
        + 2
        + stream.len()
        + 2
        + event_type.len()
        + 2
        + tags.iter().map(|t| 2 + t.len()).sum::<usize>()
        + 4
        + metadata.len()
        + 4
        + data.len()
}

/// The chain hash of a commit: BLAKE3 over the previous commit's chain
/// hash, every byte of the commit's event frames, and its first position,
/// event count and durable end. Changing any byte of any commit changes
/// every chain hash after it.
pub struct ChainHasher(blake3::Hasher);

impl ChainHasher {
    pub fn new(prev_chain: &[u8; 32]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(prev_chain);
        ChainHasher(h)
    }
    /// Feeds event frames: one call per frame, or one call for several
    /// consecutive frames (faster: BLAKE3 hashes whole chunks in parallel).
    pub fn event_frame(&mut self, frame_bytes: &[u8]) {
        self.0.update(frame_bytes);
    }
    pub fn finish(mut self, first_position: u64, n_events: u32, durable_end: u64) -> [u8; 32] {
        self.0.update(&first_position.to_le_bytes());
        self.0.update(&n_events.to_le_bytes());
        self.0.update(&durable_end.to_le_bytes());
        *self.0.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::frame::{parse_frame, Parsed};

    fn sample() -> EventView<'static> {
        EventView {
            position: 9,
            version: 3,
            timestamp_us: 1_700_000_000_000_000,
            id: Uuid::from_u128(0x1234),
            stream: "order-1",
            event_type: "Placed",
            tags: vec!["order:1", "vip"],
            metadata: r#"{"a":1}"#,
            data: r#"{"total":12.5}"#,
        }
    }

    #[test]
    fn event_round_trips_through_a_frame() {
        let mut buf = Vec::new();
        encode_event(&mut buf, &sample());
        let Parsed::Frame { kind, payload, .. } = parse_frame(&buf) else { panic!("frame") };
        assert_eq!(kind, KIND_EVENT);
        assert_eq!(decode_event(payload).unwrap(), sample());
        assert_eq!(event_position(payload), Some(9));
        for cut in 0..payload.len() {
            assert!(decode_event(&payload[..cut]).is_err());
        }
    }

    #[test]
    fn commit_round_trips() {
        let c = CommitRecord { first_position: 5, n_events: 2, durable_end: 64, chain: [3; 32] };
        let mut buf = Vec::new();
        encode_commit(&mut buf, &c);
        let Parsed::Frame { kind, payload, .. } = parse_frame(&buf) else { panic!("frame") };
        assert_eq!(kind, KIND_COMMIT);
        assert_eq!(decode_commit(payload), Ok(c));
        assert_eq!(buf.len(), COMMIT_FRAME_BYTES);
    }

    #[test]
    fn event_frame_bytes_is_exact() {
        let e = sample();
        let mut buf = Vec::new();
        encode_event(&mut buf, &e);
        let tags: Vec<String> = e.tags.iter().map(|t| t.to_string()).collect();
        assert_eq!(event_frame_bytes(e.stream, e.event_type, &tags, e.metadata, e.data), buf.len());
    }

    #[test]
    fn chain_depends_on_every_input() {
        let base = || ChainHasher::new(&[0; 32]);
        let mut h = base();
        h.event_frame(b"abc");
        let a = h.finish(0, 1, 64);
        let mut h = base();
        h.event_frame(b"abd");
        assert_ne!(a, h.finish(0, 1, 64));
        let mut h = ChainHasher::new(&[1; 32]);
        h.event_frame(b"abc");
        assert_ne!(a, h.finish(0, 1, 64));
        let mut h = base();
        h.event_frame(b"abc");
        assert_ne!(a, h.finish(1, 1, 64));
        let mut h = base();
        h.event_frame(b"abc");
        assert_ne!(a, h.finish(0, 1, 65));
    }
}
