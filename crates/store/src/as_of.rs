//! "As of" selectors: the point in history a read answers for.
//!
//! A read as of a point answers exactly what the same read answered when
//! that point was the head: every backend resolves the selector to an
//! exclusive end position with [`end_position`] and reads below it.

use std::fmt;

use crate::{EventReader, InvalidInput, ReadStream, StoreError};

/// One syntax everywhere (HTTP `as_of=`, CLI `--as-of`): `position:N`,
/// `time:<RFC 3339>` or `version:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsOf {
    /// The log as it was when position N was the last one committed.
    Position(u64),
    /// The log as it was after the last event stamped at or before this
    /// time (microseconds since the Unix epoch).
    Time(u64),
    /// A stream as it was at its version N (stream reads and stream info
    /// only: it names a point in one stream).
    Version(u64),
}

const HOW: &str = "use position:N, time:<RFC 3339 time> or version:N (version only on a stream)";

impl std::str::FromStr for AsOf {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| InvalidInput::AsOf { reason };
        let (kind, value) = s.split_once(':').ok_or_else(|| bad(format!("{s:?} has no kind: {HOW}")))?;
        let number = |what: &str| {
            value.parse::<u64>().map_err(|_| bad(format!("{what} {value:?} is not a whole number of 0 or more: {HOW}")))
        };
        match kind {
            "position" => number("position").map(AsOf::Position),
            "version" => number("version").map(AsOf::Version),
            "time" => crate::timestamp::parse_rfc3339(value)
                .map(AsOf::Time)
                .map_err(|e| bad(format!("time {value:?} is not an RFC 3339 time ({e}): {HOW}"))),
            other => Err(bad(format!("{other:?} is not a kind of as_of: {HOW}"))),
        }
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Position(p) => write!(f, "position:{p}"),
            AsOf::Time(t) => write!(f, "time:{}", crate::timestamp::rfc3339(*t)),
            AsOf::Version(v) => write!(f, "version:{v}"),
        }
    }
}

fn beyond(as_of: AsOf, reason: String) -> StoreError {
    StoreError::AsOfBeyondHead { as_of: as_of.to_string(), reason }
}

/// The exclusive end position a read as of `as_of` stops at: events below
/// it are visible, none at or above it. `stream` names the stream of a
/// stream read (`version:` needs one). A point the store has not reached
/// yet is refused (`as_of_beyond_head`): its answer could still change.
pub async fn end_position<R: EventReader + ?Sized>(
    reader: &R,
    as_of: AsOf,
    stream: Option<&str>,
) -> Result<u64, StoreError> {
    let head = reader.next_position();
    match as_of {
        AsOf::Position(p) if p < head => Ok(p + 1),
        AsOf::Position(p) => Err(beyond(
            as_of,
            match head {
                0 => format!("position {p} is not committed yet: the log is empty"),
                _ => format!("position {p} is not committed yet: the last committed position is {}", head - 1),
            },
        )),
        AsOf::Time(t) => {
            let now = reader.clock_us();
            if t >= now {
                return Err(beyond(
                    as_of,
                    format!(
                        "{} is not in the past yet for this store (its clock reads {}): events may still be stamped at or before it",
                        crate::timestamp::rfc3339(t),
                        crate::timestamp::rfc3339(now)
                    ),
                ));
            }
            // Events appended from here on are stamped after `t`.
            Ok(reader.position_at(t.saturating_add(1)).await?.unwrap_or(head).min(head))
        }
        AsOf::Version(v) => {
            let Some(stream) = stream else {
                return Err(InvalidInput::AsOf {
                    reason: format!(
                        "version:{v} names a point in one stream; $all takes position:N or time:<RFC 3339>"
                    ),
                }
                .into());
            };
            let last = reader.stream_info(stream, None).await?.map(|i| i.last_version);
            if last.is_none_or(|last| v > last) {
                let now = last
                    .map_or_else(|| "the stream does not exist".to_string(), |l| format!("its last version is {l}"));
                return Err(beyond(as_of, format!("stream {stream:?} has no version {v} yet: {now}")));
            }
            let at = reader.read_stream(&ReadStream::forward(stream).from(v).limit(1)).await?;
            match at.first() {
                Some(e) if e.version == v => Ok(e.position + 1),
                _ => Err(StoreError::Backend(format!("version {v} of stream {stream:?} could not be read back"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AsOf;

    #[test]
    fn parses_each_kind_and_prints_it_back() {
        for s in ["position:0", "position:42", "version:7", "time:2026-11-26T14:02:00.123456Z"] {
            let a: AsOf = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert_eq!(
            "time:2026-11-26T14:02:00Z".parse::<AsOf>().unwrap().to_string(),
            "time:2026-11-26T14:02:00.000000Z"
        );
        assert_eq!("time:2026-11-26T15:02:00+01:00".parse::<AsOf>(), "time:2026-11-26T14:02:00Z".parse::<AsOf>());
    }

    #[test]
    fn refuses_malformed_selectors_saying_what_to_send() {
        for bad in
            ["", "42", "position:", "position:-1", "position:1.5", "pos:3", "time:yesterday", "version:x", "time:"]
        {
            let err = bad.parse::<AsOf>().unwrap_err();
            assert_eq!(err.code(), "invalid_as_of", "{bad}");
            assert!(err.to_string().contains("position:N"), "{bad}: {err}");
        }
    }
}
