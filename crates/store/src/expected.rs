//! Optimistic concurrency: what an append expects of its stream.

use std::fmt;

/// What the writer believes about a stream's current version when it
/// appends: the optimistic-concurrency check of event sourcing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist (hold at least one event).
    Exists,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Does a stream whose last version is `current` (None: no stream)
    /// satisfy this expectation?
    pub fn admits(self, current: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::Exists => current.is_some(),
            ExpectedVersion::Exact(v) => current == Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no_stream"),
            ExpectedVersion::Exists => f.write_str("exists"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

impl std::str::FromStr for ExpectedVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "any" => Ok(ExpectedVersion::Any),
            "no_stream" => Ok(ExpectedVersion::NoStream),
            "exists" => Ok(ExpectedVersion::Exists),
            n => n
                .parse::<u64>()
                .map(ExpectedVersion::Exact)
                .map_err(|_| format!("expected version must be any, no_stream, exists or a version number, not {s:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExpectedVersion::{self, *};

    #[test]
    fn admits_matches_the_definition() {
        let check =
            |e: ExpectedVersion, cur: Option<u64>, want: bool| assert_eq!(e.admits(cur), want, "{e} vs {cur:?}");
        check(Any, None, true);
        check(Any, Some(3), true);
        check(NoStream, None, true);
        check(NoStream, Some(0), false);
        check(Exists, None, false);
        check(Exists, Some(0), true);
        check(Exact(0), None, false);
        check(Exact(2), Some(2), true);
        check(Exact(2), Some(3), false);
    }

    #[test]
    fn parses_and_prints_round_trip() {
        for e in [Any, NoStream, Exists, Exact(0), Exact(42)] {
            assert_eq!(e.to_string().parse::<ExpectedVersion>().unwrap(), e);
        }
        assert!("-1".parse::<ExpectedVersion>().is_err());
        assert!("".parse::<ExpectedVersion>().is_err());
    }
}
