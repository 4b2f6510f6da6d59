//! Derived indexes: event id → location and (stream, version) → location.
//!
//! Both map a 128-bit key to a packed [`crate::segment::Loc`]. Recent
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

pub fn id_key(id: &uuid::Uuid) -> u128 {
    id.as_u128()
}
