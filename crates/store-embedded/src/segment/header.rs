//! The 64-byte header at the start of every segment file.

/// Bytes 0..8 of every segment.
pub const MAGIC: [u8; 8] = *b"HINDSLOG";
/// 2 added `durable_end` to the commit record.
pub const FORMAT_VERSION: u32 = 2;
pub const HEADER_BYTES: usize = 64;

/// What a segment header records: which segment this is, the position of
/// its first event, and the chain hash of the commit before it, so each
/// segment can be verified on its own and linked to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment: u32,
    pub first_position: u64,
    pub prev_chain: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("segment header is {0} bytes long; it needs {HEADER_BYTES}")]
    Short(usize),
    #[error("segment header has the wrong magic bytes")]
    Magic,
    #[error("segment header checksum mismatch")]
    Checksum,
    #[error("segment format version {0} is not supported (this build reads version {FORMAT_VERSION})")]
    Version(u32),
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.segment.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_position.to_le_bytes());
        b[24..56].copy_from_slice(&self.prev_chain);
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        if b.len() < HEADER_BYTES {
            return Err(HeaderError::Short(b.len()));
        }
        if b[0..8] != MAGIC {
            return Err(HeaderError::Magic);
        }
        if crc32c::crc32c(&b[..60]).to_le_bytes() != b[60..64] {
            return Err(HeaderError::Checksum);
        }
        let version = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let mut prev_chain = [0u8; 32];
        prev_chain.copy_from_slice(&b[24..56]);
        Ok(SegmentHeader {
            segment: u32::from_le_bytes(b[12..16].try_into().unwrap_or_default()),
            first_position: u64::from_le_bytes(b[16..24].try_into().unwrap_or_default()),
            prev_chain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_every_flipped_byte() {
        let h = SegmentHeader { segment: 3, first_position: 1234, prev_chain: [7; 32] };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        for i in 0..HEADER_BYTES {
            let mut bad = b;
            bad[i] ^= 0x40;
            assert!(SegmentHeader::decode(&bad).is_err(), "flip at {i} undetected");
        }
        assert_eq!(SegmentHeader::decode(&b[..10]), Err(HeaderError::Short(10)));
    }
}
