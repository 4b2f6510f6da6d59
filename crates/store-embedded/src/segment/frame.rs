//! Frames: the unit of checksumming. Every record in the log is one frame:
//!
//! ```text
//! len: u32 LE | kind: u8 | payload: len bytes | crc32c(len, kind, payload): u32 LE
//! ```
//!
//! The checksum trails the payload so that a frame torn anywhere fails it.

/// Bytes a frame adds around its payload.
pub const FRAME_OVERHEAD_BYTES: usize = 9;
/// Largest payload a frame may carry; anything larger is corruption.
pub const FRAME_PAYLOAD_BYTES_MAX: usize = 64 << 20;

/// An event record (see `record::EventRecord`).
pub const KIND_EVENT: u8 = 1;
/// The record that closes a commit (see `record::CommitRecord`).
pub const KIND_COMMIT: u8 = 2;

/// Appends one frame around `payload` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Writes a frame whose payload the caller builds in place: call
/// [`begin_frame`], push the payload, then [`finish_frame`].
pub fn begin_frame(out: &mut Vec<u8>, kind: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, kind]);
    start
}

pub fn finish_frame(out: &mut Vec<u8>, start: usize) {
    let len = (out.len() - start - 5) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// What the bytes at some offset hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole, intact frame of `total_bytes` bytes.
    Frame { kind: u8, payload: &'a [u8], total_bytes: usize },
    /// The bytes end before the frame does.
    Truncated { needed_bytes: usize },
    /// Not a valid frame.
    Invalid(&'static str),
}

pub fn parse_frame(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < 5 {
        return Parsed::Truncated { needed_bytes: FRAME_OVERHEAD_BYTES };
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let kind = buf[4];
    if kind != KIND_EVENT && kind != KIND_COMMIT {
        return Parsed::Invalid("unknown frame kind");
    }
    if len > FRAME_PAYLOAD_BYTES_MAX {
        return Parsed::Invalid("frame length beyond the maximum");
    }
    let total_bytes = len + FRAME_OVERHEAD_BYTES;
    if buf.len() < total_bytes {
        return Parsed::Truncated { needed_bytes: total_bytes };
    }
    let body = &buf[..5 + len];
    let stored = u32::from_le_bytes([buf[5 + len], buf[6 + len], buf[7 + len], buf[8 + len]]);
    if crc32c::crc32c(body) != stored {
        return Parsed::Invalid("frame checksum mismatch");
    }
    Parsed::Frame { kind, payload: &buf[5..5 + len], total_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_and_flip() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, KIND_EVENT, b"hello frame");
        match parse_frame(&buf) {
            Parsed::Frame { kind, payload, total_bytes } => {
                assert_eq!((kind, payload, total_bytes), (KIND_EVENT, &b"hello frame"[..], buf.len()))
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..buf.len() {
            assert!(!matches!(parse_frame(&buf[..cut]), Parsed::Frame { .. }), "prefix {cut} parsed");
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                assert!(!matches!(parse_frame(&bad), Parsed::Frame { .. }), "flip {i}.{bit} undetected");
            }
        }
    }

    #[test]
    fn in_place_frames_match_encoded_ones() {
        let mut a = Vec::new();
        encode_frame(&mut a, KIND_COMMIT, b"xyz");
        let mut b = Vec::new();
        let start = begin_frame(&mut b, KIND_COMMIT);
        b.extend_from_slice(b"xyz");
        finish_frame(&mut b, start);
        assert_eq!(a, b);
    }
}
