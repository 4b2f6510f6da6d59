//! Derived indexes: event id → location, (stream, version) → location,
//! and the postings (category or event type, position) → location that
//! serve filtered `$all` reads.
//!
//! All three map a 128-bit key to a packed [`crate::segment::Loc`]. Recent
//! entries live in a [`memtable::Memtable`]; when it fills it is frozen and
//! written out as sorted, immutable [`run::Run`] files, which are merged
//! so that their number stays logarithmic in the event count. The
//! [`checkpoint::Checkpoint`] records which runs exist and which log
//! position they cover; on start only the log past it is replayed.
//! Everything here can be deleted and rebuilt from the log.

pub mod checkpoint;
pub mod memtable;
pub mod run;

/// The 64-bit key of a stream name in the stream index: the first eight
/// bytes of its BLAKE3 hash. Readers confirm the name on the record, so a
/// collision costs a skipped record, never a wrong answer.
pub fn stream_key(stream: &str) -> u64 {
    let h = blake3::hash(stream.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// The index key of one stream version.
pub fn stream_version_key(stream_key: u64, version: u64) -> u128 {
    (u128::from(stream_key) << 64) | u128::from(version)
}

/// What a posting list lists: the events of one category, or of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    Category = 1,
    EventType = 2,
}

/// The 64-bit key of a posting list: the first eight bytes of the BLAKE3
/// hash of its kind and name. As with streams, readers confirm the record
/// matches, so a collision costs skipped records, never a wrong answer.
pub fn term_key(kind: TermKind, name: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&[kind as u8]);
    h.update(name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// The index key of one posting: the term, then the event's position, so
/// one term's postings are contiguous and in log order.
pub fn posting_key(term: u64, position: u64) -> u128 {
    (u128::from(term) << 64) | u128::from(position)
}

/// The posting lists an event belongs to: its stream's category's and its
/// type's.
pub fn terms_of(stream: &str, event_type: &str) -> [u64; 2] {
    [term_key(TermKind::Category, hindsight_store::category_of(stream)), term_key(TermKind::EventType, event_type)]
}

pub fn id_key(id: &uuid::Uuid) -> u128 {
    id.as_u128()
}
