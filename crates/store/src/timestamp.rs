//! Event timestamps as text: RFC 3339 in UTC with microseconds, the one
//! form every interface writes, and any RFC 3339 time read back.

use time::format_description::well_known::Rfc3339;

/// `2026-11-26T14:02:00.123456Z` for microseconds since the Unix epoch.
pub fn rfc3339(timestamp_us: u64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(timestamp_us.min(i64::MAX as u64) as i64);
    let (h, m, s, us) = t.time().as_hms_micro();
    format!("{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{us:06}Z", t.year(), u8::from(t.month()), t.day())
}

/// Microseconds since the Unix epoch of an RFC 3339 time (any offset;
/// times before the epoch are the epoch, sub-microseconds are dropped).
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let t = time::OffsetDateTime::parse(s, &Rfc3339).map_err(|e| e.to_string())?;
    let micros = (t.unix_timestamp_nanos() / 1000).max(0);
    Ok(u64::try_from(micros).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_utc_micros() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_764_167_040_123_456), "2025-11-26T14:24:00.123456Z");
        assert_eq!(parse_rfc3339("2025-11-26T14:24:00.123456Z"), Ok(1_764_167_040_123_456));
        assert_eq!(parse_rfc3339("2025-11-26T15:24:00.123456+01:00"), Ok(1_764_167_040_123_456));
        assert_eq!(parse_rfc3339("1960-01-01T00:00:00Z"), Ok(0));
        assert!(parse_rfc3339("2025-11-26").is_err());
    }
}
