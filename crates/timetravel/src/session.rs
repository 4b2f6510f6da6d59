//! Sessions: an incident handed over as one file. A session holds a
//! fork's definition, the events of a range of its timeline, the
//! projection sources with their hashes, and a hash chain over all of it:
//! the header (fork, range, sources, masks) seeds the chain and every
//! event extends it, so a changed byte anywhere is found, and named by
//! the position of the first event whose link no longer holds.
//!
//! Masked fields (`/data/email`, `/metadata/user`) are replaced before
//! hashing by a keyed BLAKE3 of their value under a salt drawn for the
//! export and never written: equal values stay equal (joins still work),
//! and the clear value is nowhere in the file.

use hindsight_store::{AppendPart, ExpectedVersion, NewEvent, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// The format this module writes and reads.
pub const FORMAT: &str = "hindsight-session/1";

/// A projection a session carries: its source and the source's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionProjection {
    pub name: String,
    pub source: String,
    pub hash: String,
}

/// One exported event and the chain hash through it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionEvent {
    pub position: u64,
    pub id: uuid::Uuid,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u64,
    pub timestamp_us: u64,
    pub data: Box<RawValue>,
    pub metadata: Box<RawValue>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub chain: String,
}

/// What the header covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub fork: Value,
    /// The range of the fork's positions exported: `[from, to)`.
    pub from: u64,
    pub to: u64,
    pub projections: Vec<SessionProjection>,
    pub masks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub format: String,
    pub created_at: String,
    pub header: Header,
    /// The chain's seed: the hash of the header.
    pub header_chain: String,
    pub events: Vec<SessionEvent>,
}

/// Why a session file is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("not a session file: {0}")]
    Unreadable(String),
    #[error("the session's header (fork, range, projections, masks) does not match its hash: it was altered")]
    Header,
    #[error("projection {0:?}'s source does not match its hash: it was altered")]
    Source(String),
    #[error("the event at position {0} does not match the hash chain: it (or the chain) was altered")]
    Chain(u64),
    #[error("{0}")]
    Invalid(String),
}

fn hex(h: blake3::Hash) -> String {
    h.to_hex().to_string()
}

fn seed(header: &Header) -> String {
    let mut h = blake3::Hasher::new();
    h.update(FORMAT.as_bytes());
    h.update(&serde_json::to_vec(header).unwrap_or_default());
    hex(h.finalize())
}

/// The chain hash through `e`, from the one before it.
fn link(prev: &str, e: &SessionEvent) -> String {
    let mut h = blake3::Hasher::new();
    h.update(prev.as_bytes());
    for field in [e.id.to_string().as_str(), &e.stream, &e.event_type, e.data.get(), e.metadata.get()] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    for n in [e.position, e.version, e.timestamp_us, e.tags.len() as u64] {
        h.update(&n.to_le_bytes());
    }
    for t in &e.tags {
        h.update(&(t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex(h.finalize())
}

/// Replaces the values at `masks` (pointers into an event: `/data/...` or
/// `/metadata/...`) by their keyed hash under `salt`.
fn masked(text: &str, part: &str, masks: &[String], salt: &[u8; 32]) -> Result<Box<RawValue>, SessionError> {
    let bad = |e: serde_json::Error| SessionError::Invalid(format!("an event's {part} is not JSON: {e}"));
    let prefix = format!("/{part}");
    let mine: Vec<&str> = masks.iter().filter_map(|m| m.strip_prefix(&prefix)).collect();
    if mine.is_empty() {
        return RawValue::from_string(text.to_string()).map_err(bad);
    }
    let mut value: Value = serde_json::from_str(text).map_err(bad)?;
    for pointer in mine {
        if let Some(v) = value.pointer_mut(pointer) {
            let digest = blake3::keyed_hash(salt, &serde_json::to_vec(v).unwrap_or_default());
            *v = Value::String(format!("masked:{}", &digest.to_hex()[..32]));
        }
    }
    serde_json::value::to_raw_value(&value).map_err(bad)
}

/// Checks that every mask points into an event's data or metadata.
pub fn check_masks(masks: &[String]) -> Result<(), SessionError> {
    match masks.iter().find(|m| !(m.starts_with("/data/") || m.starts_with("/metadata/"))) {
        Some(m) => {
            Err(SessionError::Invalid(format!("mask {m:?}: masks are JSON Pointers under /data/ or /metadata/")))
        }
        None => Ok(()),
    }
}

impl Session {
    /// A session of `events` (in order) under `header`, masked with a
    /// salt drawn now.
    pub fn new(header: Header, created_at: String, events: &[RecordedEvent]) -> Result<Session, SessionError> {
        check_masks(&header.masks)?;
        let mut salt = [0u8; 32];
        salt[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        salt[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let header_chain = seed(&header);
        let mut chain = header_chain.clone();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let mut s = SessionEvent {
                position: e.position,
                id: e.id,
                stream: e.stream.clone(),
                event_type: e.event_type.clone(),
                version: e.version,
                timestamp_us: e.timestamp_us,
                data: masked(&e.data, "data", &header.masks, &salt)?,
                metadata: masked(&e.metadata, "metadata", &header.masks, &salt)?,
                tags: e.tags.clone(),
                chain: String::new(),
            };
            chain = link(&chain, &s);
            s.chain = chain.clone();
            out.push(s);
        }
        Ok(Session { format: FORMAT.into(), created_at, header, header_chain, events: out })
    }

    /// Reads and checks a session file's bytes: its format, the header's
    /// hash, every source's hash and every link of the chain.
    pub fn read(bytes: &[u8]) -> Result<Session, SessionError> {
        let session: Session = serde_json::from_slice(bytes)
            .map_err(|e| SessionError::Unreadable(format!("line {} column {}: {e}", e.line(), e.column())))?;
        if session.format != FORMAT {
            return Err(SessionError::Unreadable(format!("format {:?}, expected {FORMAT:?}", session.format)));
        }
        session.verify()?;
        Ok(session)
    }

    pub fn verify(&self) -> Result<(), SessionError> {
        if seed(&self.header) != self.header_chain {
            return Err(SessionError::Header);
        }
        for p in &self.header.projections {
            if hex(blake3::hash(p.source.as_bytes())) != p.hash {
                return Err(SessionError::Source(p.name.clone()));
            }
        }
        let mut chain = self.header_chain.clone();
        for e in &self.events {
            chain = link(&chain, e);
            if chain != e.chain {
                return Err(SessionError::Chain(e.position));
            }
        }
        Ok(())
    }

    /// The events as appends in order, each at most `events_max` events:
    /// ids, types, tags, and data and metadata byte for byte as the
    /// session holds them. An append names a stream in one part only, so
    /// a stream seen again (not just next) starts the next append.
    pub fn appends(&self, events_max: usize) -> Vec<Vec<AppendPart>> {
        let mut out: Vec<Vec<AppendPart>> = Vec::new();
        let mut current: Vec<AppendPart> = Vec::new();
        let (mut streams, mut count) = (std::collections::HashSet::new(), 0);
        for e in &self.events {
            let event = NewEvent::new(e.event_type.clone(), e.data.clone())
                .with_id(e.id)
                .with_metadata(e.metadata.clone())
                .with_tags(e.tags.clone());
            if let Some(last) = current.last_mut().filter(|p| p.stream == e.stream && count < events_max) {
                last.events.push(event);
                count += 1;
                continue;
            }
            if count >= events_max || streams.contains(&e.stream) {
                out.push(std::mem::take(&mut current));
                (streams, count) = (Default::default(), 0);
            }
            streams.insert(e.stream.clone());
            current.push(AppendPart { stream: e.stream.clone(), expected: ExpectedVersion::Any, events: vec![event] });
            count += 1;
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// What it holds, for people and scripts.
    pub fn summary(&self) -> Value {
        json!({
            "format": self.format, "created_at": self.created_at,
            "fork": self.header.fork, "from": self.header.from, "to": self.header.to,
            "events": self.events.len(),
            "projections": self.header.projections.iter().map(|p| json!({ "name": p.name, "hash": p.hash })).collect::<Vec<_>>(),
            "masks": self.header.masks, "chain": self.events.last().map_or(&self.header_chain, |e| &e.chain),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64, data: Value) -> RecordedEvent {
        RecordedEvent {
            id: uuid::Uuid::from_u128(position as u128 + 1),
            stream: "user-1".into(),
            event_type: "Registered".into(),
            version: position,
            position,
            timestamp_us: 1_000 + position,
            data: data.to_string(),
            metadata: json!({ "user": "ann" }).to_string(),
            tags: vec![],
        }
    }

    fn header(masks: &[&str]) -> Header {
        Header {
            fork: json!({ "name": "f" }),
            from: 0,
            to: 3,
            projections: vec![],
            masks: masks.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn appends_keep_the_order_and_name_each_stream_once_per_append() {
        let mut events: Vec<_> = (0..5).map(|p| event(p, json!({ "n": p }))).collect();
        for (e, s) in events.iter_mut().zip(["a", "a", "b", "a", "c"]) {
            e.stream = s.into();
        }
        let s = Session::new(header(&[]), "now".into(), &events).unwrap();
        let shape = |max| -> Vec<Vec<(String, usize)>> {
            s.appends(max).iter().map(|a| a.iter().map(|p| (p.stream.clone(), p.events.len())).collect()).collect()
        };
        let named = |v: &[(&str, usize)]| v.iter().map(|(s, n)| (s.to_string(), *n)).collect::<Vec<_>>();
        assert_eq!(shape(10), vec![named(&[("a", 2), ("b", 1)]), named(&[("a", 1), ("c", 1)])]);
        assert_eq!(shape(2), vec![named(&[("a", 2)]), named(&[("b", 1), ("a", 1)]), named(&[("c", 1)])]);
    }

    #[test]
    fn a_session_round_trips_and_any_changed_byte_is_named() {
        let events: Vec<_> = (0..3).map(|p| event(p, json!({ "email": "ann@example.com", "n": p }))).collect();
        let s = Session::new(header(&["/data/email", "/metadata/user"]), "now".into(), &events).unwrap();
        let bytes = serde_json::to_vec_pretty(&s).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("ann@example.com") && !text.contains("\"ann\""), "masked values are not in clear");
        let back = Session::read(&bytes).unwrap();
        let masked: Vec<Value> = back.events.iter().map(|e| serde_json::from_str(e.data.get()).unwrap()).collect();
        assert_eq!(masked[0]["email"], masked[2]["email"], "equal values stay equal");
        assert_eq!(masked[1]["n"], 1);
        // A byte flipped in the second event's data names position 1.
        let at = text.find("\"n\":1").unwrap() + 4;
        let mut flipped = bytes.clone();
        flipped[at] = b'7';
        assert_eq!(Session::read(&flipped).unwrap_err(), SessionError::Chain(1));
        // In the header: refused as such.
        let at = text.find("\"name\": \"f\"").unwrap() + 9;
        let mut flipped = bytes.clone();
        flipped[at] = b'g';
        assert_eq!(Session::read(&flipped).unwrap_err(), SessionError::Header);
        // A byte that breaks the JSON: its line and column.
        let mut broken = bytes;
        broken[0] = b'x';
        assert!(
            matches!(Session::read(&broken).unwrap_err(), SessionError::Unreadable(m) if m.contains("line 1 column 1"))
        );
    }
}
