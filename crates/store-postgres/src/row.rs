//! Rows of `hs_events` as events.

use hindsight_store::{RecordedEvent, StoreError};
use tokio_postgres::Row;

/// The columns every event read selects, in the order [`event`] reads them.
pub const COLUMNS: &str = "position, stream, version, id, type, timestamp_us, data, metadata, tags";

/// Tags as stored: a JSON array of strings.
pub fn tags_text(tags: &[String]) -> String {
    if tags.is_empty() {
        return "[]".into();
    }
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

pub fn event(row: &Row) -> Result<RecordedEvent, StoreError> {
    let tags: &str = row.get(8);
    let tags: Vec<String> = if tags == "[]" {
        Vec::new()
    } else {
        serde_json::from_str(tags).map_err(|e| {
            StoreError::Backend(format!(
                "the tags of the event at position {} are not a JSON array: {e}",
                row.get::<_, i64>(0)
            ))
        })?
    };
    Ok(RecordedEvent {
        position: row.get::<_, i64>(0) as u64,
        stream: row.get(1),
        version: row.get::<_, i64>(2) as u64,
        id: row.get(3),
        event_type: row.get(4),
        timestamp_us: row.get::<_, i64>(5) as u64,
        data: row.get(6),
        metadata: row.get(7),
        tags,
    })
}

pub fn events(rows: &[Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter().map(event).collect()
}
