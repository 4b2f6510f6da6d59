//! The log: numbered segment files of checksummed frames, grouped into
//! hash-chained commits. `docs/format.md` is the byte-level description.

pub mod frame;
pub mod header;
pub mod reader;
pub mod record;

use std::path::{Path, PathBuf};

/// A place in the log: segment number and byte offset, packed in a u64 so
/// index entries stay fixed-size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub segment: u32,
    pub offset: u32,
}

impl Loc {
    pub fn pack(self) -> u64 {
        (u64::from(self.segment) << 32) | u64::from(self.offset)
    }
    pub fn unpack(v: u64) -> Self {
        Loc { segment: (v >> 32) as u32, offset: v as u32 }
    }
    /// A location, or None when the offset does not fit in 32 bits.
    pub fn checked(segment: u32, offset: u64) -> Option<Self> {
        u32::try_from(offset).ok().map(|offset| Loc { segment, offset })
    }
}

/// `log/00000001.seg`: segment numbers start at 1.
pub fn segment_path(log_dir: &Path, segment: u32) -> PathBuf {
    log_dir.join(format!("{segment:08}.seg"))
}

/// The segment number a file name encodes, if it is a segment file.
pub fn parse_segment_name(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".seg")?;
    (stem.len() == 8 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_packs_round_trip() {
        let l = Loc { segment: 7, offset: u32::MAX - 3 };
        assert_eq!(Loc::unpack(l.pack()), l);
        assert_eq!(Loc::checked(7, u64::from(u32::MAX) - 3), Some(l));
        assert_eq!(Loc::checked(7, u64::from(u32::MAX) + 1), None);
    }

    #[test]
    fn segment_names_round_trip() {
        let p = segment_path(Path::new("/x/log"), 42);
        assert_eq!(parse_segment_name(&p), Some(42));
        assert_eq!(parse_segment_name(Path::new("00000001.seg.tmp")), None);
        assert_eq!(parse_segment_name(Path::new("1.seg")), None);
    }
}
