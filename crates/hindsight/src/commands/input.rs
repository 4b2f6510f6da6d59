//! Appends as JSON: the shapes `import` lines and `append` take.

use hindsight_store::{AppendPart, ExpectedVersion, NewEvent};
use serde_json::{Map, Value};
use uuid::Uuid;

/// An input line: the parts to append and whether it was an append across
/// streams (which shapes the output).
pub struct Line {
    pub parts: Vec<AppendPart>,
    pub across_streams: bool,
}

pub fn expected_version(v: Option<&Value>) -> Result<ExpectedVersion, String> {
    ExpectedVersion::from_json(v)
}

fn string_field<'a>(o: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match o.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("\"{name}\" must be a string")),
        None => Err(format!("\"{name}\" is missing")),
    }
}

pub fn event(o: &Map<String, Value>) -> Result<NewEvent, String> {
    let event_type = string_field(o, "type")?;
    let data = o.get("data").cloned().ok_or("\"data\" is missing")?;
    let mut e = NewEvent::new(event_type, data);
    if let Some(m) = o.get("metadata") {
        e.metadata = m.into();
    }
    if let Some(id) = o.get("id") {
        let s = id.as_str().ok_or("\"id\" must be a UUID string")?;
        e.id = Some(Uuid::parse_str(s).map_err(|err| format!("\"id\" is not a UUID: {err}"))?);
    }
    if let Some(tags) = o.get("tags") {
        let list = tags.as_array().ok_or("\"tags\" must be an array of strings")?;
        e.tags = list
            .iter()
            .map(|t| t.as_str().map(str::to_string).ok_or("\"tags\" must hold strings"))
            .collect::<Result<_, _>>()?;
    }
    Ok(e)
}

fn object(v: &Value) -> Result<&Map<String, Value>, String> {
    v.as_object().ok_or_else(|| "each append must be a JSON object".to_string())
}

/// Refuses fields a shape does not have, as the HTTP API does: a
/// misspelled `expected_versoin` must not silently mean "any".
fn only(o: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!("unknown field {k:?}; this shape takes {}", allowed.join(", "))),
    }
}

const EVENT_FIELDS: [&str; 5] = ["type", "data", "metadata", "id", "tags"];
const BATCH_FIELDS: [&str; 3] = ["stream", "expected_version", "events"];
const LINE_FIELDS: [&str; 7] = ["stream", "expected_version", "type", "data", "metadata", "id", "tags"];

fn batch(o: &Map<String, Value>) -> Result<AppendPart, String> {
    let stream = string_field(o, "stream")?.to_string();
    let expected = expected_version(o.get("expected_version"))?;
    let events = o.get("events").and_then(Value::as_array).ok_or("\"events\" must be an array")?;
    let events = events
        .iter()
        .map(|e| object(e).and_then(|o| only(o, &EVENT_FIELDS).and_then(|()| event(o))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AppendPart { stream, expected, events })
}

/// Parses one `import` line.
pub fn line(text: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let o = object(&v)?;
    if let Some(appends) = o.get("appends") {
        only(o, &["appends"])?;
        let list = appends.as_array().ok_or("\"appends\" must be an array")?;
        let parts = list
            .iter()
            .map(|p| object(p).and_then(|o| only(o, &BATCH_FIELDS).and_then(|()| batch(o))))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Line { parts, across_streams: true });
    }
    if o.contains_key("events") {
        only(o, &BATCH_FIELDS)?;
        return Ok(Line { parts: vec![batch(o)?], across_streams: false });
    }
    only(o, &LINE_FIELDS)?;
    let stream = string_field(o, "stream")?.to_string();
    let expected = expected_version(o.get("expected_version"))?;
    Ok(Line { parts: vec![AppendPart { stream, expected, events: vec![event(o)?] }], across_streams: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_shapes() {
        let one = line(r#"{"stream":"a-1","type":"T","data":{"x":1},"expected_version":"no_stream"}"#).unwrap();
        assert_eq!(one.parts.len(), 1);
        assert_eq!(one.parts[0].expected, ExpectedVersion::NoStream);
        let b = line(r#"{"stream":"a-1","expected_version":3,"events":[{"type":"T","data":1},{"type":"U","data":2}]}"#)
            .unwrap();
        assert_eq!(b.parts[0].events.len(), 2);
        assert_eq!(b.parts[0].expected, ExpectedVersion::Exact(3));
        let m = line(r#"{"appends":[{"stream":"a-1","events":[{"type":"T","data":1}]},{"stream":"b-1","events":[]}]}"#)
            .unwrap();
        assert!(m.across_streams);
        assert_eq!(m.parts.len(), 2);
    }

    #[test]
    fn rejects_malformed_lines_with_a_reason() {
        for bad in [
            "nope",
            "[1]",
            r#"{"type":"T","data":1}"#,
            r#"{"stream":"s","data":1}"#,
            r#"{"stream":"s","type":"T"}"#,
            r#"{"stream":"s","type":"T","data":1,"id":"x"}"#,
            r#"{"stream":"s","type":"T","data":1,"expected_version":-1}"#,
            r#"{"stream":"s","events":{}}"#,
            r#"{"stream":"s","type":"T","data":1,"expected_versoin":0}"#,
            r#"{"stream":"s","type":"T","data":1,"expected_version":null}"#,
            r#"{"stream":"s","events":[{"type":"T","data":1,"stream":"x"}]}"#,
            r#"{"appends":[],"stream":"s"}"#,
        ] {
            assert!(line(bad).is_err(), "{bad} accepted");
        }
    }
}
