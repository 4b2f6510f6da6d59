//! The flight recorder: a parked or faulted event of a live projection,
//! opened as a debugging case. The case holds what is needed to reproduce
//! the failure outside the live projection (the partition's state before
//! the event, the event, the error and where it was thrown), the handler
//! run once more on exactly that state in a scratch sandbox (timed, and
//! saying whether it still fails), and the requests that take the case on:
//! skip the event on a fork, try a candidate source on a fork, ask for its
//! impact, replay or discard it live.

use std::time::Instant;

use hindsight_store::{ReadAll, RecordedEvent};
use hindsight_timetravel::service::HistoryError;
use serde_json::{json, Value};

use crate::registry::Registry;
use crate::Status;

/// What failed, as the live projection recorded it.
struct Failed {
    partition: Option<String>,
    state_before: Option<Value>,
    error: String,
    stack: Option<String>,
    how: &'static str,
}

impl Registry {
    /// The case of the event at `position` that projection `name` parked
    /// or faulted at; NotFound when it did neither.
    pub async fn case(&self, name: &str, position: u64) -> Result<Value, HistoryError> {
        let mut failed = self.failed_at(name, position).await?;
        let slice = self.reader.read_all(&ReadAll::forward(position).limit(1)).await?;
        let event =
            slice.events.into_iter().find(|e| e.position == position).ok_or_else(|| {
                HistoryError::Failed(format!("the event at position {position} could not be read back"))
            })?;
        let source = self.live_source(name)?;
        if failed.partition.is_none() {
            // Faulted: stopped before the event, so the partition's state
            // now is the state before it.
            let (source, limits, ev) = (source.clone(), self.settings.limits, event.clone());
            let key = tokio::task::spawn_blocking(move || {
                let mut fold = crate::builtin::fold_for(&source, limits, 1).ok()?;
                fold.partition(&ev).ok().flatten().map(|k| k.into_owned())
            })
            .await
            .map_err(|e| HistoryError::Failed(format!("the scratch run failed: {e}")))?;
            if let Some(key) = key {
                let k = key.clone();
                let (state, _) = self.ask(name, |reply| crate::worker::Command::State { partition: k, reply }).await?;
                failed.state_before = state;
                failed.partition = Some(key);
            }
        }
        let (limits, partition, state) = (self.settings.limits, failed.partition.clone(), failed.state_before.clone());
        let ev = event.clone();
        let rerun = tokio::task::spawn_blocking(move || rerun(&source, limits, partition, state, &ev))
            .await
            .map_err(|e| HistoryError::Failed(format!("the scratch run failed: {e}")))?;
        let fork = format!("case-{name}-{position}");
        let step = |method: &str, path: String, body: Value| json!({ "method": method, "path": path, "body": body });
        let create = step("POST", "/v1/forks".into(), json!({ "name": fork, "base": "now" }));
        let put =
            step("PUT", format!("/v1/forks/{fork}/projections/{name}"), json!({ "source": "<the fixed source>" }));
        Ok(json!({
            "projection": name,
            "position": position,
            "how": failed.how,
            "partition": failed.partition,
            "state_before": failed.state_before,
            "event": serde_json::from_str::<Value>(&hindsight_wire::event_json(&event)).unwrap_or(Value::Null),
            "error": failed.error,
            "stack": failed.stack,
            "rerun": rerun,
            "actions": {
                "skip_on_a_fork": [create.clone(), step("POST", format!("/v1/forks/{fork}/skip"), json!({ "positions": [position] })),
                    step("PUT", format!("/v1/forks/{fork}/projections/{name}"), json!({}))],
                "retry_with_a_candidate_on_a_fork": [create, put],
                "impact_of_skipping": step("POST", "/v1/impact".into(), json!({ "skip": [position], "projections": [name] })),
                "replay": step("POST", format!("/v1/projections/{name}/parked/{position}/replay"), Value::Null),
                "discard": step("POST", format!("/v1/projections/{name}/parked/{position}/discard"), Value::Null),
            },
        }))
    }

    async fn failed_at(&self, name: &str, position: u64) -> Result<Failed, HistoryError> {
        let parked = self.ask(name, |reply| crate::worker::Command::Parked { reply }).await?;
        if let Some(p) = parked.into_iter().find(|p| p.position == position) {
            return Ok(Failed {
                partition: Some(p.partition),
                state_before: Some(p.state_before),
                error: p.error,
                stack: p.stack,
                how: "parked",
            });
        }
        let info = self.info(name)?;
        match info.status {
            Status::Faulted { position: at, error } if at == position => {
                Ok(Failed { partition: None, state_before: None, error, stack: None, how: "faulted" })
            }
            _ => Err(HistoryError::NotFound { kind: "parked event", name: format!("{name} at position {position}") }),
        }
    }
}

/// Runs the handler once more on `state` (None: the state the live
/// projection holds, unknown here: the initial one) in a scratch sandbox.
fn rerun(
    source: &str,
    limits: crate::js::Limits,
    partition: Option<String>,
    state: Option<Value>,
    event: &RecordedEvent,
) -> Value {
    let mut fold = match crate::builtin::fold_for(source, limits, 1) {
        Ok(f) => f,
        Err(e) => return json!({ "error": format!("the source does not load: {e}") }),
    };
    let partition = match partition {
        Some(p) => p,
        None => match fold.partition(event) {
            Ok(Some(p)) => p.into_owned(),
            Ok(None) => return json!({ "error": "the projection does not read this event" }),
            Err(e) => return json!({ "failed": true, "error": e.message, "stack": e.stack }),
        },
    };
    if let Some(state) = &state {
        let states = serde_json::value::to_raw_value(&json!({ &partition: state }));
        if let Err(e) = states.map_err(|e| e.to_string()).and_then(|s| fold.load(&s).map_err(|e| e.message)) {
            return json!({ "error": format!("loading the state before: {e}") });
        }
    }
    let started = Instant::now();
    let applied = fold.apply(&partition, event);
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    match applied {
        Ok(()) => {
            json!({ "partition": partition, "failed": false, "duration_ms": duration_ms, "state_after": fold.state(&partition, true) })
        }
        Err(e) => {
            json!({ "partition": partition, "failed": true, "duration_ms": duration_ms, "error": e.message, "stack": e.stack })
        }
    }
}
