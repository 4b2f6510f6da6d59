//! `append`: one event to one stream, the result or the refusal as JSON.

use std::process::ExitCode;

use anyhow::Context;
use hindsight_store::NewEvent;
use serde_json::Value;
use uuid::Uuid;

use super::input::expected_version;
use super::target::Target;
use crate::cli::AppendArgs;
use crate::output::{error_json, result_json};

fn json_arg(what: &str, text: &str) -> anyhow::Result<Value> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {what} from {path}"))?,
        None => text.to_string(),
    };
    serde_json::from_str(&text).with_context(|| format!("{what} is not valid JSON"))
}

pub async fn run(at: Target<'_>, args: AppendArgs) -> anyhow::Result<ExitCode> {
    let data = json_arg("--json", &args.data)?;
    let mut event = NewEvent::new(args.event_type, data).with_tags(args.tags);
    if let Some(m) = &args.metadata {
        event.metadata = json_arg("--metadata", m)?.into();
    }
    if let Some(id) = &args.id {
        event.id = Some(Uuid::parse_str(id).context("--id is not a UUID")?);
    }
    let expected = expected_version(Some(&Value::String(args.expected_version))).map_err(anyhow::Error::msg)?;
    let store = at.open(false).await?;
    let outcome = store.append(&args.stream, expected, vec![event]).await;
    store.shutdown()?;
    match outcome {
        Ok(r) => {
            println!("{}", result_json(&args.stream, &r));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}", error_json(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}
