//! Errors as they travel: a status, a stable code, a message and details
//! by code, mapped from the store's errors in one place.

use hindsight_store::{ExpectedVersion, InvalidInput, StoreError};
use serde_json::{json, Value};

/// One error as the API answers it: `{"error": code, "message": text,
/// ...details}` with an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// An object whose fields join the body.
    pub details: Value,
    /// Seconds for a `Retry-After` header.
    pub retry_after_secs: Option<u64>,
}

fn expected_json(e: ExpectedVersion) -> Value {
    match e {
        ExpectedVersion::Exact(v) => json!(v),
        other => json!(other.to_string()),
    }
}

impl WireError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        WireError { status, code, message: message.into(), details: json!({}), retry_after_secs: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The whole error, details and all (the CLI prints it so; the server
    /// sends [`WireError::for_clients`]).
    pub fn from_store(err: &StoreError) -> Self {
        let e = WireError::new(status_of(err), err.code(), err.to_string());
        match err {
            StoreError::Overloaded | StoreError::Unavailable { .. } => WireError { retry_after_secs: Some(1), ..e },
            _ => e.with_details(details_of(err)),
        }
    }

    /// What a remote client may see: a server-side failure's detail stays
    /// in the server's log (the caller logs it) and the client is told
    /// where to look.
    pub fn for_clients(self) -> Self {
        match (self.status, self.code) {
            (503, "store_poisoned" | "store_closed") => {
                WireError { message: "the store is not accepting writes".into(), details: json!({}), ..self }
            }
            (500..=599, _) if self.is_internal() => {
                WireError::new(500, "internal_error", "internal error; see the server log")
            }
            _ => self,
        }
    }

    /// A failure of the server or its disk rather than of the request.
    pub fn is_internal(&self) -> bool {
        self.status == 500
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let (Some(obj), Value::Object(details)) = (body.as_object_mut(), &self.details) {
            obj.extend(details.clone());
        }
        body
    }
}

fn status_of(err: &StoreError) -> u16 {
    match err {
        StoreError::Invalid(
            InvalidInput::EventTooLarge { .. }
            | InvalidInput::TooManyEvents { .. }
            | InvalidInput::AppendTooLarge { .. },
        ) => 413,
        StoreError::Invalid(_) | StoreError::AsOfBeyondHead { .. } => 400,
        StoreError::WrongExpectedVersion(_) | StoreError::IdConflict { .. } | StoreError::IdReused { .. } => 409,
        StoreError::Poisoned { .. } | StoreError::Closed | StoreError::Overloaded | StoreError::Unavailable { .. } => {
            503
        }
        StoreError::StorageFull => 507,
        _ => 500,
    }
}

fn details_of(err: &StoreError) -> Value {
    match err {
        StoreError::Invalid(InvalidInput::EventTooLarge { index, size_bytes, max }) => {
            json!({ "index": index, "size_bytes": size_bytes, "max": max })
        }
        StoreError::Invalid(InvalidInput::AppendTooLarge { size_bytes, max }) => {
            json!({ "size_bytes": size_bytes, "max": max })
        }
        StoreError::Invalid(InvalidInput::TooManyEvents { n_events, max }) => {
            json!({ "n_events": n_events, "max": max })
        }
        StoreError::WrongExpectedVersion(conflicts) => {
            let list: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({ "part": c.part, "stream": c.stream, "expected": expected_json(c.expected), "actual": c.actual }))
                .collect();
            let mut details = json!({ "conflicts": list });
            if let [one] = conflicts.as_slice() {
                details["stream"] = json!(one.stream);
                details["expected"] = expected_json(one.expected);
                details["actual"] = json!(one.actual);
            }
            details
        }
        StoreError::IdConflict { id, stream, version, position } => {
            json!({ "id": id.to_string(), "stream": stream, "version": version, "position": position })
        }
        StoreError::IdReused { id, stream, version, position, field } => json!({
            "id": id.to_string(), "stream": stream, "version": version, "position": position, "field": field,
        }),
        StoreError::AsOfBeyondHead { as_of, .. } => json!({ "as_of": as_of }),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hindsight_store::VersionConflict;

    #[test]
    fn conflicts_carry_their_details_and_internal_errors_are_redacted() {
        let conflict = StoreError::WrongExpectedVersion(vec![VersionConflict {
            part: 0,
            stream: "s-1".into(),
            expected: ExpectedVersion::Exact(3),
            actual: Some(5),
        }]);
        let e = WireError::from_store(&conflict);
        assert_eq!((e.status, e.code), (409, "wrong_expected_version"));
        let body = e.clone().for_clients().body();
        assert_eq!(body["expected"], 3);
        assert_eq!(body["actual"], 5);
        assert_eq!(body["conflicts"][0]["stream"], "s-1");
        let io = WireError::from_store(&StoreError::io("reading x", std::io::Error::other("EIO")));
        assert!(io.message.contains("EIO"));
        let public = io.for_clients();
        assert_eq!((public.status, public.code), (500, "internal_error"));
        assert!(!public.message.contains("EIO"));
        let busy = WireError::from_store(&StoreError::Overloaded);
        assert_eq!((busy.status, busy.retry_after_secs), (503, Some(1)));
    }
}
