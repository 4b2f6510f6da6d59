//! Events as JSON, written by hand so that stored `data` and `metadata`
//! go out exactly as stored, never parsed and serialized again.

use hindsight_store::RecordedEvent;

/// A JSON string literal of `s`: as is between quotes when nothing in it
/// needs escaping (names and tags almost never do), else serde_json's.
pub fn json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// Appends one event as JSON to `out`: the shape of [`crate::EventOut`].
/// Written by hand, without `format!`: every event a read returns passes
/// through here.
pub fn write_event(out: &mut String, e: &RecordedEvent) {
    let mut id = uuid::Uuid::encode_buffer();
    let mut n = itoa::Buffer::new();
    out.push_str("{\"id\":\"");
    out.push_str(e.id.hyphenated().encode_lower(&mut id));
    out.push_str("\",\"stream\":");
    json_str(out, &e.stream);
    out.push_str(",\"type\":");
    json_str(out, &e.event_type);
    out.push_str(",\"version\":");
    out.push_str(n.format(e.version));
    out.push_str(",\"position\":");
    out.push_str(n.format(e.position));
    out.push_str(",\"timestamp\":\"");
    hindsight_store::timestamp::push_rfc3339(out, e.timestamp_us);
    out.push_str("\",\"data\":");
    out.push_str(&e.data);
    out.push_str(",\"metadata\":");
    out.push_str(&e.metadata);
    out.push_str(",\"tags\":[");
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

    #[test]
    fn names_and_tags_that_need_escaping_are_escaped() {
        let e = RecordedEvent {
            id: uuid::Uuid::nil(),
            stream: "a\\b\"c".into(),
            event_type: "T\u{1}".into(),
            version: 0,
            position: 0,
            timestamp_us: 0,
            data: "1".into(),
            metadata: "{}".into(),
            tags: vec!["q\"".into(), "ü".into()],
        };
        let back: EventOut = serde_json::from_str(&event_json(&e)).unwrap();
        assert_eq!((back.stream.as_str(), back.event_type.as_str()), ("a\\b\"c", "T\u{1}"));
        assert_eq!(back.tags, ["q\"", "ü"]);
    }
}
