//! Events as JSON, written by hand so that stored `data` and `metadata`
//! go out exactly as stored, never parsed and serialized again.

use std::fmt::Write;

use hindsight_store::RecordedEvent;

use crate::rfc3339;

fn json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// Appends one event as JSON to `out`: the shape of [`crate::EventOut`].
pub fn write_event(out: &mut String, e: &RecordedEvent) {
    let _ = write!(out, "{{\"id\":\"{}\",\"stream\":", e.id);
    json_str(out, &e.stream);
    out.push_str(",\"type\":");
    json_str(out, &e.event_type);
    let _ = write!(
        out,
        ",\"version\":{},\"position\":{},\"timestamp\":\"{}\",\"data\":{},\"metadata\":{},\"tags\":[",
        e.version,
        e.position,
        rfc3339(e.timestamp_us),
        e.data,
        e.metadata
    );
    for (i, t) in e.tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, t);
    }
    out.push_str("]}");
}

/// One event as a JSON string.
pub fn event_json(e: &RecordedEvent) -> String {
    let mut s = String::with_capacity(256 + e.data.len() + e.metadata.len());
    write_event(&mut s, e);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventOut;

    #[test]
    fn events_are_written_as_stored_and_read_back_as_event_out() {
        let e = RecordedEvent {
            id: uuid::Uuid::nil(),
            stream: "a\"b".into(),
            event_type: "T".into(),
            version: 1,
            position: 2,
            timestamp_us: 1_764_167_040_123_456,
            data: "{\"x\":[1,2]}".into(),
            metadata: "{}".into(),
            tags: vec!["t:1".into(), "u".into()],
        };
        let json = event_json(&e);
        assert!(json.contains("\"data\":{\"x\":[1,2]}"), "{json}");
        let back: EventOut = serde_json::from_str(&json).unwrap();
        assert_eq!(back.stream, "a\"b");
        assert_eq!(back.timestamp, "2025-11-26T14:24:00.123456Z");
        assert_eq!(back.data["x"][1], 2);
        assert_eq!(back.tags, ["t:1", "u"]);
    }
}
