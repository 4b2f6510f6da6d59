//! `hindsight at|history|diff|blame|watch`: time travel over a stream's
//! document or a projection partition's state, through a running server or, when none answers at the
//! default address, on the data directory with the same code the server
//! runs (`hindsight-timetravel`). Text for people by default, the API's JSON
//! with `--json`.

use std::process::ExitCode;
use std::sync::Arc;

use hindsight_client::{encode_path, Client};
use hindsight_store::{AsOf, StoreError};
use hindsight_timetravel::service::{Feed, Histories, HistoryError};
use hindsight_timetravel::snapshots::Snapshots;
use hindsight_timetravel::streams::{self, Streams};
use hindsight_timetravel::Predicate;
use serde_json::Value;

use super::target::Target;

use super::projection::{is_unreachable, DEFAULT_SERVER};
use crate::cli::TimeTarget;

/// What is asked, with the points as given (parsed where answered).
#[derive(Clone)]
pub enum Question {
    At { as_of: Option<String> },
    History { from: Option<String>, until: Option<String>, limit: usize },
    Diff { from: String, to: Option<String>, side_by_side: bool },
    Blame { pointer: String, as_of: Option<String>, limit: usize },
    Watch { pointer: String, op: String, value: Option<String>, forward: bool, from: Option<String> },
}

pub async fn run(at: Target<'_>, target: &TimeTarget, q: Question) -> anyhow::Result<ExitCode> {
    let answer = match &target.server {
        Some(url) => over_http(&Client::new(url), target, &q).await?,
        None => match over_http(&Client::new(DEFAULT_SERVER), target, &q).await {
            Err(e) if is_unreachable(&e) => local(at, target, q.clone()).await?,
            other => other?,
        },
    };
    if target.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", text(&q, &answer));
    }
    // A watch that finds nothing fails, as grep does.
    Ok(if answer["found"] == Value::Bool(false) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `&name=value` for each given value, encoded.
fn params(pairs: &[(&str, Option<&str>)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if let Some(v) = value {
            out.push(if out.is_empty() { '?' } else { '&' });
            out.push_str(&format!("{name}={}", encode_path(v)));
        }
    }
    out
}

/// The route's path and the question's parameters.
fn route(target: &TimeTarget, q: &Question) -> (String, Vec<(&'static str, Option<String>)>) {
    let (base, mut pairs) = match (&target.stream, &target.projection) {
        (Some(stream), _) => (format!("/v1/streams/{}", encode_path(stream)), Vec::new()),
        (None, name) => {
            let base = format!("/v1/projections/{}", encode_path(name.as_deref().unwrap_or_default()));
            (base, vec![("partition", target.partition.clone()), ("version", target.version.map(|v| v.to_string()))])
        }
    };
    let (what, more): (&str, Vec<(&'static str, Option<String>)>) = match q {
        Question::At { as_of } => ("state", vec![("as_of", as_of.clone())]),
        Question::History { from, until, limit } => {
            ("history", vec![("from", from.clone()), ("until", until.clone()), ("limit", Some(limit.to_string()))])
        }
        Question::Diff { from, to, side_by_side } => {
            let format = side_by_side.then(|| "side-by-side".to_string());
            ("diff", vec![("from", Some(from.clone())), ("to", to.clone()), ("format", format)])
        }
        Question::Blame { pointer, as_of, limit } => (
            "blame",
            vec![("pointer", Some(pointer.clone())), ("as_of", as_of.clone()), ("limit", Some(limit.to_string()))],
        ),
        Question::Watch { pointer, op, value, forward, from } => {
            let direction = if *forward { "forward" } else { "backward" };
            let pairs = vec![
                ("pointer", Some(pointer.clone())),
                ("op", Some(op.clone())),
                ("value", value.clone()),
                ("direction", Some(direction.to_string())),
                ("from", from.clone()),
            ];
            ("watch", pairs)
        }
    };
    pairs.extend(more);
    (format!("{base}/{what}"), pairs)
}

async fn over_http(client: &Client, target: &TimeTarget, q: &Question) -> anyhow::Result<Value> {
    let (path, pairs) = route(target, q);
    let pairs: Vec<(&str, Option<&str>)> = pairs.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    Ok(client.get_json(&format!("{path}{}", params(&pairs))).await?)
}

type Ask = Box<dyn FnOnce(&Histories, &str, &dyn Feed) -> Result<Value, HistoryError> + Send>;

/// The question as a call into the history code, and the point whose
/// live version folds a projection partition.
fn ask(q: Question) -> Result<(Option<AsOf>, Ask), HistoryError> {
    Ok(match q {
        Question::At { as_of } => {
            let at = streams::point(as_of.as_deref())?;
            (at, Box::new(move |h, key, feed| h.state(key, feed, at)))
        }
        Question::History { from, until, limit } => {
            let (from, until) = (streams::point(from.as_deref())?, streams::point(until.as_deref())?);
            (until, Box::new(move |h, key, feed| h.history(key, feed, from, until, limit)))
        }
        Question::Diff { from, to, side_by_side } => {
            let from: AsOf = from.parse().map_err(|e: hindsight_store::InvalidInput| StoreError::from(e))?;
            let to = streams::point(to.as_deref())?;
            (to, Box::new(move |h, key, feed| h.diff(key, feed, from, to, side_by_side)))
        }
        Question::Blame { pointer, as_of, limit } => {
            let at = streams::point(as_of.as_deref())?;
            (at, Box::new(move |h, key, feed| h.blame(key, feed, &pointer, at, limit)))
        }
        Question::Watch { pointer, op, value, forward, from } => {
            let predicate = Predicate::parse(&op, value.as_deref()).map_err(HistoryError::Invalid)?;
            let from = streams::point(from.as_deref())?;
            (from, Box::new(move |h, key, feed| h.watch(key, feed, &pointer, &predicate, from, !forward)))
        }
    })
}

impl Question {
    /// The same question with each `snapshot:ID` point replaced by its position.
    fn resolved(self, snapshots: &Snapshots) -> Result<Question, HistoryError> {
        let one = |p: String| snapshots.resolve(&p);
        let opt = |p: Option<String>| p.map(|p| snapshots.resolve(&p)).transpose();
        Ok(match self {
            Question::At { as_of } => Question::At { as_of: opt(as_of)? },
            Question::History { from, until, limit } => {
                Question::History { from: opt(from)?, until: opt(until)?, limit }
            }
            Question::Diff { from, to, side_by_side } => {
                Question::Diff { from: one(from)?, to: opt(to)?, side_by_side }
            }
            Question::Blame { pointer, as_of, limit } => Question::Blame { pointer, as_of: opt(as_of)?, limit },
            Question::Watch { pointer, op, value, forward, from } => {
                Question::Watch { pointer, op, value, forward, from: opt(from)? }
            }
        })
    }
}

/// The same on the data directory, with no server.
async fn local(at: Target<'_>, target: &TimeTarget, q: Question) -> anyhow::Result<Value> {
    let (store, dir) = (at.open(true).await?, at.dir);
    let q = q.resolved(&Snapshots::open(dir.join("snapshots.json"))?)?;
    let (point, f) = ask(q)?;
    let answer = match (&target.stream, &target.projection) {
        (Some(stream), _) => {
            let reader: Arc<dyn hindsight_store::EventReader> = store.clone();
            Streams::new(Default::default(), 1).ask(reader, stream, f).await
        }
        (None, name) => {
            let registry = at.projections(store.clone())?;
            let (name, partition) =
                (name.as_deref().unwrap_or_default(), target.partition.as_deref().unwrap_or_default());
            let answer = registry.time(name, partition, target.version, point, f).await;
            registry.shutdown().await;
            answer
        }
    };
    store.shutdown()?;
    Ok(answer?)
}

/// One line about an event: `Closed  position 5  version 4  <time>`.
fn event_line(e: &Value) -> String {
    let mut line = format!(
        "{}  position {}  version {}  {}",
        e["type"].as_str().unwrap_or("?"),
        e["position"],
        e["version"],
        e["timestamp"].as_str().unwrap_or("")
    );
    for key in ["correlation_id", "causation_id", "traceparent"] {
        if let Some(v) = e["metadata"].get(key) {
            line.push_str(&format!("  {key} {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)));
        }
    }
    line
}

fn shown(v: &Value) -> String {
    if v.is_null() {
        "(missing)".to_string()
    } else {
        v.to_string()
    }
}

fn patch_lines(patch: &Value, indent: &str) -> String {
    let mut out = String::new();
    for op in patch.as_array().into_iter().flatten() {
        let value = op.get("value").map(|v| format!(" = {v}")).unwrap_or_default();
        out.push_str(&format!(
            "{indent}{} {}{value}\n",
            op["op"].as_str().unwrap_or("?"),
            op["path"].as_str().unwrap_or("")
        ));
    }
    out
}

/// The answer as text.
fn text(q: &Question, a: &Value) -> String {
    match q {
        Question::At { .. } => {
            let name = a.get("stream").or(a.get("partition")).and_then(Value::as_str).unwrap_or("");
            let state = serde_json::to_string_pretty(&a["state"]).unwrap_or_default();
            if a.get("events_folded").is_none() {
                return format!("{name:?} live, at position {}\n{state}\n", a["position"]);
            }
            let from = a["keyframe_position"].as_u64().map_or("the start".to_string(), |p| format!("position {p}"));
            format!(
                "{name:?} as of position {} (version {}; {} events folded from the keyframe at {from})\n{state}\n",
                a["position"], a["version"], a["events_folded"]
            )
        }
        Question::History { .. } => {
            let mut out = String::new();
            for c in a["changes"].as_array().into_iter().flatten() {
                out.push_str(&format!("{}\n{}", event_line(&c["event"]), patch_lines(&c["patch"], "    ")));
            }
            if out.is_empty() {
                out.push_str("no changes\n");
            }
            if let Some(next) = a["next_from"].as_str() {
                out.push_str(&format!("more: --from {next}\n"));
            }
            out
        }
        Question::Diff { side_by_side: false, .. } => {
            let lines = patch_lines(&a["patch"], "");
            if lines.is_empty() {
                "no difference\n".to_string()
            } else {
                lines
            }
        }
        Question::Diff { side_by_side: true, .. } => {
            let mut out = format!("position {} -> position {}\n", a["from"]["position"], a["to"]["position"]);
            for p in a["changed"].as_array().into_iter().flatten() {
                let p = p.as_str().unwrap_or("");
                let (x, y) = (a["from"]["state"].pointer(p), a["to"]["state"].pointer(p));
                let show = |v: Option<&Value>| v.map_or("(missing)".to_string(), Value::to_string);
                out.push_str(&format!("{p}: {} -> {}\n", show(x), show(y)));
            }
            out
        }
        Question::Blame { pointer, .. } => blame_text(pointer, a),
        Question::Watch { pointer, op, value, .. } => {
            let condition = format!("{pointer} {op}{}", value.as_deref().map(|v| format!(" {v}")).unwrap_or_default());
            if a["found"] != Value::Bool(true) {
                return format!("{condition}: never\n");
            }
            format!(
                "{condition} became true at {}\n    {} -> {}\n",
                event_line(&a["event"]),
                shown(&a["previous"]),
                shown(&a["value"])
            )
        }
    }
}

fn blame_text(pointer: &str, a: &Value) -> String {
    let value = if a["exists"] == Value::Bool(true) { a["value"].to_string() } else { "(missing)".to_string() };
    let mut out = format!("{pointer} = {value}\nset by {}\n", event_line(&a["event"]));
    let touched: Vec<&str> =
        a["writes"].as_array().into_iter().flatten().filter_map(|w| w["pointer"].as_str()).collect();
    if touched.len() > 1 || touched.first().is_some_and(|p| *p != pointer) {
        out.push_str(&format!("    changing {}\n", touched.join(", ")));
    }
    let history = a["history"].as_array().cloned().unwrap_or_default();
    if !history.is_empty() {
        out.push_str("earlier:\n");
        for h in &history {
            out.push_str(&format!("    {:<20} {}\n", shown(&h["value"]), event_line(&h["event"])));
        }
        if a["more"] == Value::Bool(true) {
            out.push_str("    ... (--limit for more)\n");
        }
    }
    out
}
