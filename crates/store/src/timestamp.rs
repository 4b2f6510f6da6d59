//! Event timestamps as text: RFC 3339 in UTC with microseconds, the one
//! form every interface writes, and any RFC 3339 time read back.

use time::format_description::well_known::Rfc3339;

/// `2026-11-26T14:02:00.123456Z` for microseconds since the Unix epoch.
pub fn rfc3339(timestamp_us: u64) -> String {
    let mut s = String::with_capacity(27);
    push_rfc3339(&mut s, timestamp_us);
    s
}

/// Appends [`rfc3339`] of `timestamp_us` to `out` without allocating:
/// every event a read returns is written with its timestamp, so this is
/// on the hot path of reads over HTTP. (Years past 9999 are clamped.)
pub fn push_rfc3339(out: &mut String, timestamp_us: u64) {
    let timestamp_us = timestamp_us.min(253_402_300_799_999_999); // 9999-12-31T23:59:59.999999Z
    let secs = timestamp_us / 1_000_000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, day_secs / 3600);
    put(14, 2, day_secs / 60 % 60);
    put(17, 2, day_secs % 60);
    put(20, 6, timestamp_us % 1_000_000);
    out.push_str(std::str::from_utf8(&b).unwrap_or("1970-01-01T00:00:00.000000Z"));
}

/// (year, month, day) of a count of days since 1970-01-01: Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
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
    fn the_fast_writer_agrees_with_the_time_crate() {
        let slow = |us: u64| {
            let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(us as i64);
            let (h, m, s, micro) = t.time().as_hms_micro();
            format!("{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{micro:06}Z", t.year(), u8::from(t.month()), t.day())
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases = vec![0, 1, 86_399_999_999, 86_400_000_000, 951_782_400_000_000, 4_107_542_399_999_999];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x % 253_402_300_799_999_999);
        }
        for us in cases {
            assert_eq!(rfc3339(us), slow(us), "{us}");
        }
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999999Z");
    }

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
