//! `hindsight projection preview`: a candidate source run over real
//! history (the server's dry run: a scratch fold, nothing live touched),
//! turned into a report a CI job can keep and gate on: how many
//! partitions the candidate adds, removes and changes, which fields
//! change (with counts and example partitions), a few example patches,
//! and the events it failed on.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};

use crate::cli::FailOn;

/// Examples kept per field and in all.
const EXAMPLES: usize = 5;

/// The report for the dry run `diff` of `source_file` as projection `name`.
pub fn report(name: &str, source: &str, diff: &Value) -> Value {
    let list = |k: &str| diff[k].as_array().cloned().unwrap_or_default();
    let (added, removed, changed, failed) = (list("added"), list("removed"), list("changed"), list("failed"));
    let mut fields: BTreeMap<String, (u64, Vec<Value>)> = BTreeMap::new();
    for c in &changed {
        for op in c["patch"].as_array().into_iter().flatten() {
            let field = fields.entry(op["path"].as_str().unwrap_or("").to_string()).or_default();
            field.0 += 1;
            if field.1.len() < EXAMPLES {
                field.1.push(c["partition"].clone());
            }
        }
    }
    let fields: BTreeMap<String, Value> = fields
        .into_iter()
        .map(|(f, (count, examples))| (f, json!({ "partitions": count, "examples": examples })))
        .collect();
    json!({
        "projection": name,
        "candidate_hash": blake3::hash(source.as_bytes()).to_hex().to_string(),
        "position": diff["position"],
        "partitions": { "added": added.len(), "removed": removed.len(), "changed": changed.len() },
        "added": added.iter().take(EXAMPLES).collect::<Vec<_>>(),
        "removed": removed.iter().take(EXAMPLES).collect::<Vec<_>>(),
        "fields": fields,
        "examples": changed.iter().take(EXAMPLES).collect::<Vec<_>>(),
        "failed": { "events": failed.len(), "examples": failed.iter().take(EXAMPLES).collect::<Vec<_>>() },
    })
}

/// Writes and prints the report; exit 1 when a --fail-on condition holds.
pub fn finish(
    name: &str,
    file: &Path,
    diff: &Value,
    out: Option<&Path>,
    fail_on: &[FailOn],
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let report = report(name, &source, diff);
    if let Some(out) = out {
        let body = serde_json::to_vec_pretty(&report)?;
        std::fs::write(out, body).with_context(|| format!("writing {}", out.display()))?;
    }
    let p = &report["partitions"];
    let changes = ["added", "removed", "changed"].iter().map(|k| p[k].as_u64().unwrap_or(0)).sum::<u64>();
    let failures = report["failed"]["events"].as_u64().unwrap_or(0);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{name}: the candidate adds {} partitions, removes {}, changes {}; fails on {failures} events",
            p["added"], p["removed"], p["changed"]
        );
        for (field, f) in report["fields"].as_object().into_iter().flatten() {
            println!("  {field}: {} partitions, e.g. {}", f["partitions"], f["examples"]);
        }
        for e in report["failed"]["examples"].as_array().into_iter().flatten() {
            println!("  failed at position {}: {}", e["position"], e["error"].as_str().unwrap_or(""));
        }
    }
    let gate = fail_on.iter().any(|f| match f {
        FailOn::Changed => changes > 0,
        FailOn::Failed => failures > 0,
    });
    Ok(if gate { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
