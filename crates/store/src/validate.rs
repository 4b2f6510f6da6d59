//! Input checks shared by every backend, so every backend refuses the same
//! input with the same error before writing anything.

use std::collections::HashSet;

use uuid::Uuid;

use crate::limits::{APPEND_PARTS_MAX, NAME_BYTES_MAX, TAGS_PER_EVENT_MAX, TAG_BYTES_MAX};
use crate::{AppendPart, AppendResult, ExpectedVersion, InvalidInput, Limits, RecordedEvent, StoreError};

/// An event that passed validation, with its JSON already serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedEvent {
    pub id: Option<Uuid>,
    pub event_type: String,
    pub data: String,
    pub metadata: String,
    pub tags: Vec<String>,
}

/// A part of an append that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPart {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<ValidatedEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Stream,
    EventType,
}

impl NameKind {
    fn label(self) -> &'static str {
        match self {
            NameKind::Stream => "stream name",
            NameKind::EventType => "event type",
        }
    }
}

/// Why a name or tag is unacceptable: it must be 1..=`max` bytes of UTF-8
/// with no control characters.
fn text_fault(text: &str, max: usize) -> Option<&'static str> {
    if text.is_empty() {
        Some("must not be empty")
    } else if text.len() > max {
        Some("must be at most 255 bytes")
    } else if text.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

/// Why an event type cannot be selected by a `types` filter (a
/// comma-separated list whose items are trimmed).
fn type_fault(name: &str) -> Option<&'static str> {
    if name.contains(',') {
        Some("must not contain a comma (filters list types separated by commas)")
    } else if name.trim() != name {
        Some("must not start or end with whitespace")
    } else {
        None
    }
}

/// Names are 1..=255 bytes of UTF-8 with no control characters; event
/// types also hold no comma and no edge whitespace, so that every type
/// can be selected by a filter.
/// A name a resource (a projection, a fork) is known by: it is used in
/// URLs and as a file name as it is, so 1-100 ASCII letters, digits, '-',
/// '_' or '.', not starting with '.'. Err says what is wrong, naming `kind`.
pub fn check_resource_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("{kind} name {name:?}: use 1-100 ASCII letters, digits, '-', '_' or '.', not starting with '.'"))
    }
}

pub fn validate_name(kind: NameKind, name: &str) -> Result<(), InvalidInput> {
    let fault =
        text_fault(name, NAME_BYTES_MAX).or_else(|| (kind == NameKind::EventType).then(|| type_fault(name)).flatten());
    match fault {
        Some(reason) => Err(InvalidInput::Name { kind: kind.label(), name: name.to_string(), reason }),
        None => Ok(()),
    }
}

fn validate_tag(tag: &str) -> Result<(), InvalidInput> {
    match text_fault(tag, TAG_BYTES_MAX) {
        Some(reason) => Err(InvalidInput::Tag { tag: tag.to_string(), reason }),
        None => Ok(()),
    }
}

/// Checks an append against every limit and serializes its JSON once.
pub fn validate_append(parts: Vec<AppendPart>, limits: &Limits) -> Result<Vec<ValidatedPart>, InvalidInput> {
    if parts.is_empty() {
        return Err(InvalidInput::NoParts);
    }
    if parts.len() > APPEND_PARTS_MAX {
        return Err(InvalidInput::TooManyParts { n_parts: parts.len(), max: APPEND_PARTS_MAX });
    }
    let n_events: usize = parts.iter().map(|p| p.events.len()).sum();
    if n_events > limits.append_events_max {
        return Err(InvalidInput::TooManyEvents { n_events, max: limits.append_events_max });
    }
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    let mut size_bytes = 0usize;
    let mut out = Vec::with_capacity(parts.len());
    let mut index = 0usize;
    for part in parts {
        validate_name(NameKind::Stream, &part.stream)?;
        if !streams.insert(part.stream.clone()) {
            return Err(InvalidInput::StreamRepeated { stream: part.stream });
        }
        if part.events.is_empty() {
            return Err(InvalidInput::EmptyAppend);
        }
        let mut events = Vec::with_capacity(part.events.len());
        for event in part.events {
            validate_name(NameKind::EventType, &event.event_type)?;
            if event.tags.len() > TAGS_PER_EVENT_MAX {
                return Err(InvalidInput::TooManyTags { n_tags: event.tags.len(), max: TAGS_PER_EVENT_MAX });
            }
            for tag in &event.tags {
                validate_tag(tag)?;
            }
            if !event.metadata.is_object() {
                return Err(InvalidInput::MetadataNotObject);
            }
            if let Some(id) = event.id {
                if !ids.insert(id) {
                    return Err(InvalidInput::IdRepeated { id });
                }
            }
            let data = event.data.into_string();
            let metadata = event.metadata.into_string();
            let event_bytes = data.len() + metadata.len();
            if event_bytes > limits.event_size_bytes_max {
                return Err(InvalidInput::EventTooLarge {
                    index,
                    size_bytes: event_bytes,
                    max: limits.event_size_bytes_max,
                });
            }
            // Tags count too: a tag-heavy append is as large on disk as its text.
            let tags_bytes: usize = event.tags.iter().map(String::len).sum();
            size_bytes += event_bytes + event.event_type.len() + part.stream.len() + tags_bytes;
            if size_bytes > limits.append_size_bytes_max {
                return Err(InvalidInput::AppendTooLarge { size_bytes, max: limits.append_size_bytes_max });
            }
            events.push(ValidatedEvent {
                id: event.id,
                event_type: event.event_type,
                data,
                metadata,
                tags: event.tags,
            });
            index += 1;
        }
        out.push(ValidatedPart { stream: part.stream, expected: part.expected, events });
    }
    Ok(out)
}

/// Metadata keys a retry may carry anew (the server copies them from
/// request headers), so they do not make a retry a different event.
const PER_REQUEST_METADATA: [&str; 2] = ["traceparent", "correlation_id"];

/// Which field of a re-sent event differs from the stored one, if any.
/// JSON is compared as values (key order and spacing do not matter).
fn differing_field(new: &ValidatedEvent, stored: &RecordedEvent) -> Option<&'static str> {
    fn value(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
    }
    fn metadata(text: &str) -> serde_json::Value {
        let mut v = value(text);
        if let Some(map) = v.as_object_mut() {
            for key in PER_REQUEST_METADATA {
                map.remove(key);
            }
        }
        v
    }
    if new.event_type != stored.event_type {
        return Some("type");
    }
    if new.data != stored.data && value(&new.data) != value(&stored.data) {
        return Some("data");
    }
    if new.metadata != stored.metadata && metadata(&new.metadata) != metadata(&stored.metadata) {
        return Some("metadata");
    }
    (new.tags != stored.tags).then_some("tags")
}

/// What an append's ids say about it: Ok(None) when it is new,
/// Ok(Some(results)) when it is a retry of an append whose events are all
/// stored at the same places (the original results), an
/// [`StoreError::IdConflict`] when some id is stored elsewhere, or when
/// only some of its events are stored, and an [`StoreError::IdReused`]
/// when the events are in place but one differs from what is stored (its
/// type, data, metadata or tags): a new event sent with an old id would
/// otherwise be dropped silently. `lookup` finds a stored event by id.
pub fn check_retry(
    parts: &[ValidatedPart],
    mut lookup: impl FnMut(&Uuid) -> Option<RecordedEvent>,
) -> Result<Option<Vec<AppendResult>>, StoreError> {
    let mut results = Vec::with_capacity(parts.len());
    let mut first_conflict = None;
    let mut first_reuse = None;
    let mut all_in_place = true;
    let mut any_stored = false;
    for part in parts {
        let mut stored_versions = Vec::new();
        let mut first_version = None;
        for (i, event) in part.events.iter().enumerate() {
            let found = event.id.and_then(|id| lookup(&id));
            match found {
                None => all_in_place = false,
                Some(stored) => {
                    any_stored = true;
                    let v0 = *first_version.get_or_insert(stored.version.wrapping_sub(i as u64));
                    if stored.stream != part.stream || stored.version != v0.wrapping_add(i as u64) {
                        all_in_place = false;
                        first_conflict.get_or_insert(stored.clone());
                    } else if let Some(field) = differing_field(event, &stored) {
                        first_reuse.get_or_insert((stored.clone(), field));
                    }
                    stored_versions.push(stored);
                }
            }
        }
        if let (Some(first), Some(last)) = (stored_versions.first(), stored_versions.last()) {
            results.push(AppendResult {
                first_position: first.position,
                last_position: last.position,
                next_expected_version: last.version,
            });
        }
    }
    if !any_stored {
        return Ok(None);
    }
    if all_in_place {
        if let Some((e, field)) = first_reuse {
            return Err(StoreError::IdReused {
                id: e.id,
                stream: e.stream,
                version: e.version,
                position: e.position,
                field,
            });
        }
        return Ok(Some(results));
    }
    let clash = match first_conflict {
        Some(e) => e,
        None => {
            // Every stored id is in place, but some events are new: a retry
            // must resend exactly the same events.
            let id = parts.iter().flat_map(|p| &p.events).find_map(|e| e.id.and_then(|id| lookup(&id)));
            id.ok_or_else(|| StoreError::Backend("retry check lost an id".into()))?
        }
    };
    Err(StoreError::IdConflict { id: clash.id, stream: clash.stream, version: clash.version, position: clash.position })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;
    use serde_json::json;

    fn part(stream: &str, events: Vec<NewEvent>) -> AppendPart {
        AppendPart { stream: stream.into(), expected: ExpectedVersion::Any, events }
    }

    #[test]
    fn names_at_and_past_the_limit() {
        assert!(validate_name(NameKind::Stream, &"a".repeat(255)).is_ok());
        assert!(validate_name(NameKind::Stream, &"a".repeat(256)).is_err());
        assert!(validate_name(NameKind::Stream, "").is_err());
        assert!(validate_name(NameKind::EventType, "a\nb").is_err());
        assert!(validate_name(NameKind::EventType, "Über-é").is_ok());
        for bad in ["A,B", " Placed", "Placed ", "Placed\u{a0}"] {
            assert!(validate_name(NameKind::EventType, bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name(NameKind::EventType, "Order Placed").is_ok(), "inner spaces are fine");
        assert!(validate_name(NameKind::Stream, "a,b").is_ok(), "streams are not listed in filters");
    }

    #[test]
    fn event_size_at_and_past_the_limit() {
        let limits = Limits { event_size_bytes_max: 12, ..Limits::default() };
        // "\"1234567\"" is 9 bytes + "{}" 2 bytes = 11; one more byte is 12, then 13.
        let ok = NewEvent::new("t", json!("12345678"));
        let too_big = NewEvent::new("t", json!("123456789"));
        assert!(validate_append(vec![part("s", vec![ok])], &limits).is_ok());
        assert!(matches!(
            validate_append(vec![part("s", vec![too_big])], &limits),
            Err(InvalidInput::EventTooLarge { size_bytes: 13, max: 12, .. })
        ));
    }

    #[test]
    fn event_count_at_and_past_the_limit() {
        let limits = Limits { append_events_max: 3, ..Limits::default() };
        let events = |n| (0..n).map(|_| NewEvent::new("t", json!(1))).collect::<Vec<_>>();
        assert!(validate_append(vec![part("s", events(3))], &limits).is_ok());
        assert!(matches!(
            validate_append(vec![part("s", events(2)), part("u", events(2))], &limits),
            Err(InvalidInput::TooManyEvents { n_events: 4, max: 3 })
        ));
    }

    #[test]
    fn tags_count_towards_the_append_size() {
        let tagged = |tag_bytes: usize| {
            let mut e = NewEvent::new("t", json!(1));
            e.tags = vec!["x".repeat(tag_bytes)];
            e
        };
        // data "1" (1) + metadata "{}" (2) + type (1) + stream (1) = 5 bytes, plus the tag.
        let limits = Limits { append_size_bytes_max: 5 + 100, ..Limits::default() };
        assert!(validate_append(vec![part("s", vec![tagged(100)])], &limits).is_ok());
        assert!(matches!(
            validate_append(vec![part("s", vec![tagged(101)])], &limits),
            Err(InvalidInput::AppendTooLarge { size_bytes: 106, max: 105 })
        ));
    }
}
