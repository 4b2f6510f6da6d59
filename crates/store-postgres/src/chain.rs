//! The hash chain every row carries: BLAKE3 over the previous row's hash
//! and the event's fields, each length-prefixed, so a row changed behind
//! Hindsight's back (an `UPDATE` by hand) breaks the chain from it on.

use hindsight_store::RecordedEvent;

/// The hash before the first event.
pub const GENESIS: [u8; 32] = [0; 32];

pub fn link(previous: &[u8; 32], e: &RecordedEvent) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(previous);
    h.update(&e.position.to_le_bytes());
    h.update(&e.version.to_le_bytes());
    h.update(&e.timestamp_us.to_le_bytes());
    h.update(e.id.as_bytes());
    for field in [e.stream.as_str(), e.event_type.as_str(), e.data.as_str(), e.metadata.as_str()] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.update(&(e.tags.len() as u64).to_le_bytes());
    for t in &e.tags {
        h.update(&(t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> RecordedEvent {
        RecordedEvent {
            id: uuid::Uuid::from_u128(7),
            stream: "a-1".into(),
            event_type: "E".into(),
            version: 0,
            position: 0,
            timestamp_us: 1,
            data: "{}".into(),
            metadata: "{}".into(),
            tags: vec!["x".into()],
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_link() {
        let base = link(&GENESIS, &event());
        assert_ne!(link(&[1; 32], &event()), base);
        let changes: Vec<fn(&mut RecordedEvent)> = vec![
            |e| e.position = 1,
            |e| e.version = 1,
            |e| e.timestamp_us = 2,
            |e| e.id = uuid::Uuid::from_u128(8),
            |e| e.stream = "a-2".into(),
            |e| e.event_type = "F".into(),
            |e| e.data = "{ }".into(),
            |e| e.metadata = "{\"k\":1}".into(),
            |e| e.tags = vec!["y".into()],
            // Field boundaries count: "x" + "" is not "" + "x".
            |e| e.tags = vec!["x".into(), String::new()],
        ];
        for change in changes {
            let mut e = event();
            change(&mut e);
            assert_ne!(link(&GENESIS, &e), base, "{e:?}");
        }
    }
}
