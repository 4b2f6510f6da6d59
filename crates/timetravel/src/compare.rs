//! Two timelines side by side: one stream's document on the live log and
//! on a fork (or on two forks). The answer is the patch from the first
//! document to the second and the first divergence: the first version at
//! which the two documents differ, with the event each timeline has there.

use hindsight_store::{EventReader, ReadStream, RecordedEvent, StoreError};
use serde_json::{json, Value};

use crate::document;
use crate::service::HistoryError;

/// Reads a stream a page at a time.
struct Pages<'a> {
    reader: &'a dyn EventReader,
    stream: &'a str,
    page: std::vec::IntoIter<RecordedEvent>,
    next: Option<u64>,
}

impl<'a> Pages<'a> {
    fn new(reader: &'a dyn EventReader, stream: &'a str) -> Self {
        Pages { reader, stream, page: Vec::new().into_iter(), next: Some(0) }
    }

    async fn next(&mut self) -> Result<Option<RecordedEvent>, StoreError> {
        if let Some(e) = self.page.next() {
            return Ok(Some(e));
        }
        let Some(from) = self.next else { return Ok(None) };
        let page = self.reader.read_stream(&ReadStream::forward(self.stream).from(from).limit(1000)).await?;
        self.next = page.last().map(|e| e.version + 1).filter(|_| page.len() == 1000);
        self.page = page.into_iter();
        Ok(self.page.next())
    }
}

fn apply(doc: &mut Value, e: &Option<RecordedEvent>) -> Result<(), HistoryError> {
    if let Some(e) = e {
        let data: Value = serde_json::from_str(&e.data).map_err(|err| {
            StoreError::Backend(format!("event at position {} holds data that is not JSON: {err}", e.position))
        })?;
        document::apply(doc, &data);
    }
    Ok(())
}

fn summary(e: &Option<RecordedEvent>) -> Value {
    match e {
        Some(e) => json!({ "position": e.position, "version": e.version, "type": e.event_type, "id": e.id }),
        None => Value::Null,
    }
}

/// Compares `stream`'s document on timelines `a` and `b` (named in the
/// answer by `names`), folding both in step.
pub async fn compare_stream(
    a: &dyn EventReader,
    b: &dyn EventReader,
    stream: &str,
    names: (&str, &str),
) -> Result<Value, HistoryError> {
    let (mut pa, mut pb) = (Pages::new(a, stream), Pages::new(b, stream));
    let (mut da, mut db) = (document::init(), document::init());
    let mut first = None;
    let mut seen = false;
    loop {
        let (ea, eb) = (pa.next().await?, pb.next().await?);
        if ea.is_none() && eb.is_none() {
            break;
        }
        seen = true;
        apply(&mut da, &ea)?;
        apply(&mut db, &eb)?;
        if first.is_none() && da != db {
            let version = ea.as_ref().or(eb.as_ref()).map(|e| e.version);
            first = Some(json!({ "version": version, names.0: summary(&ea), names.1: summary(&eb) }));
        }
    }
    if !seen {
        return Err(HistoryError::NotFound { kind: "stream", name: stream.to_string() });
    }
    Ok(json!({
        "stream": stream, "from": names.0, "to": names.1,
        "patch": json_patch::diff(&da, &db), "first_divergence": first,
    }))
}
