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

impl ExpectedVersion {
    /// The expectation as JSON sends it (the HTTP API and `import` lines
    /// alike): absent means `any`; `"any"`, `"no_stream"`, `"exists"`, or a
    /// version as a number or a string. Anything else, `null` included (a
    /// null from a buggy client must not silently turn the check off), is
    /// refused with a message that says what to send.
    pub fn from_json(v: Option<&serde_json::Value>) -> Result<ExpectedVersion, String> {
        use serde_json::Value;
        const HOW: &str = r#"send "any" (no check), "no_stream" (the stream must not exist), "exists", or the version of the stream's last event (0 or more), or leave expected_version out for "any""#;
        match v {
            None => Ok(ExpectedVersion::Any),
            Some(Value::Null) => Err(format!("expected_version is null: {HOW}")),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
                (Some(v), _) => Ok(ExpectedVersion::Exact(v)),
                (None, Some(neg)) => Err(format!(
                    "expected_version {neg} is not a version (versions start at 0; -1 and -2 are not used here): {HOW}"
                )),
                _ => Err(format!("expected_version {n} is not a version: {HOW}")),
            },
            Some(Value::String(s)) => {
                s.parse().map_err(|_| format!("expected_version {s:?} is not one of these: {HOW}"))
            }
            Some(other) => Err(format!("expected_version {other} is not one of these: {HOW}")),
        }
    }
}

/// Checks every part's expectation against its stream's last version
/// (`current`: None when the stream does not exist): the one
/// optimistic-concurrency check every backend runs, so that every backend
/// refuses the same appends with the same conflicts.
pub fn check_expectations(
    parts: &[crate::ValidatedPart],
    mut current: impl FnMut(&str) -> Option<u64>,
) -> Result<(), crate::StoreError> {
    let conflicts: Vec<crate::VersionConflict> = parts
        .iter()
        .enumerate()
        .filter_map(|(part, p)| {
            let actual = current(&p.stream);
            (!p.expected.admits(actual)).then(|| crate::VersionConflict {
                part,
                stream: p.stream.clone(),
                expected: p.expected,
                actual,
            })
        })
        .collect();
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(crate::StoreError::WrongExpectedVersion(conflicts))
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

    #[test]
    fn json_forms() {
        use serde_json::json;
        let parse = |v: serde_json::Value| ExpectedVersion::from_json(Some(&v));
        assert_eq!(ExpectedVersion::from_json(None), Ok(Any));
        assert_eq!(parse(json!("no_stream")), Ok(NoStream));
        assert_eq!(parse(json!(3)), Ok(Exact(3)));
        assert_eq!(parse(json!("3")), Ok(Exact(3)));
        for (bad, says) in [
            (json!(null), "is null"),
            (json!(-1), "-1 is not a version"),
            (json!(-2), "-2 is not a version"),
            (json!(1.5), "1.5 is not a version"),
            (json!("latest"), "\"latest\" is not one of these"),
            (json!({}), "{} is not one of these"),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert!(err.contains(says) && err.contains("no_stream"), "{bad}: {err}");
        }
    }
}
