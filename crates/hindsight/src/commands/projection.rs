//! `hindsight projection ...`: projections on a running server, through
//! the Rust client, or, when no server answers at the default address,
//! on the data directory itself (`projection_local.rs`). Text for people
//! by default, the server's JSON with `--json`.

use std::process::ExitCode;

use anyhow::Context;
use hindsight_client::{encode_path, Client};
use reqwest::Method;
use serde_json::Value;

use crate::cli::{ProjectionArgs, ProjectionCommand};

/// The server's default address, tried when `--server` is not given.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:7113";

pub async fn run(at: super::target::Target<'_>, args: ProjectionArgs) -> anyhow::Result<ExitCode> {
    let (answer, shape) = match &args.server {
        Some(url) => over_http(&Client::new(url), &args.command).await?,
        None => match over_http(&Client::new(DEFAULT_SERVER), &args.command).await {
            Err(e) if is_unreachable(&e) => super::projection_local::run(at, &args.command).await?,
            other => other?,
        },
    };
    if let ProjectionCommand::Preview { name, file, report, fail_on, .. } = &args.command {
        return super::preview::finish(name, file, &answer, report.as_deref(), fail_on, args.json);
    }
    print(&answer, if args.json { Shape::Json } else { shape });
    // verify fails when the rebuild differs from the live states.
    Ok(if answer["ok"] == Value::Bool(false) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Nothing listens at the address (as opposed to a server that answered).
pub(crate) fn is_unreachable(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<hindsight_client::ClientError>(), Some(hindsight_client::ClientError::Transport(t)) if t.is_connect())
}

async fn over_http(client: &Client, command: &ProjectionCommand) -> anyhow::Result<(Value, Shape)> {
    let n = |name: &str| encode_path(name);
    Ok(match command {
        ProjectionCommand::Create { name, file, on_error, wait } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let put = client.put_projection(name, &source, on_error).await?;
            let put = if *wait { follow(client, name, &put).await? } else { put };
            (put, Shape::Status)
        }
        ProjectionCommand::List => (client.projection_call(Method::GET, "").await?, Shape::List),
        ProjectionCommand::Status { name } => (client.projection_call(Method::GET, &n(name)).await?, Shape::Status),
        ProjectionCommand::State { name, partition } => {
            let path = format!("{}/state?partition={}", n(name), encode_path(partition));
            (client.projection_call(Method::GET, &path).await?, Shape::Json)
        }
        ProjectionCommand::Partitions { name, after, limit } => {
            let after = after.as_deref().map(|a| format!("&after={}", encode_path(a))).unwrap_or_default();
            let path = format!("{}/partitions?limit={limit}{after}", n(name));
            (client.projection_call(Method::GET, &path).await?, Shape::Json)
        }
        ProjectionCommand::Pause { name } => control(client, name, "pause").await?,
        ProjectionCommand::Resume { name } => control(client, name, "resume").await?,
        ProjectionCommand::Reset { name } => control(client, name, "reset").await?,
        ProjectionCommand::Delete { name } => (client.projection_call(Method::DELETE, &n(name)).await?, Shape::Deleted),
        ProjectionCommand::Parked { name } => {
            (client.projection_call(Method::GET, &format!("{}/parked", n(name))).await?, Shape::Json)
        }
        ProjectionCommand::Replay { name, position } => {
            let path = format!("{}/parked/{position}/replay", n(name));
            (client.projection_call(Method::POST, &path).await?, Shape::Json)
        }
        ProjectionCommand::Discard { name, position } => {
            let path = format!("{}/parked/{position}/discard", n(name));
            (client.projection_call(Method::POST, &path).await?, Shape::Json)
        }
        ProjectionCommand::DryRun { name, file, from, to } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            (client.projection_dry_run(name, &source, *from, *to).await?, Shape::Json)
        }
        ProjectionCommand::Preview { name, file, from, to, .. } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let (from, to) = (point_on(client, from.as_deref()).await?, point_on(client, to.as_deref()).await?);
            (client.projection_dry_run(name, &source, from, to).await?, Shape::Json)
        }
        ProjectionCommand::Verify { name } => {
            (client.projection_call(Method::POST, &format!("{}/verify", n(name))).await?, Shape::Json)
        }
    })
}

/// The position of the last event at a point (`position:N`, `time:...`,
/// `snapshot:ID`, or a bare position), as the server resolves it.
async fn point_on(client: &Client, point: Option<&str>) -> anyhow::Result<Option<u64>> {
    let Some(point) = point else { return Ok(None) };
    if let Ok(p) = point.parse::<u64>() {
        return Ok(Some(p));
    }
    let path = format!("/v1/all?direction=backward&limit=1&as_of={}", encode_path(point));
    let page = client.call(Method::GET, &path, None).await?;
    let last = page["events"][0]["position"].as_u64();
    Ok(Some(last.with_context(|| format!("no event at or before {point}"))?))
}

/// Follows a (re)build with a progress bar (events done, rate, ETA) until
/// the newest version answers and has caught up; its status then.
async fn follow(client: &Client, name: &str, put: &Value) -> anyhow::Result<Value> {
    let target = put["rebuild"]["version"].as_u64().or(put["version"].as_u64()).unwrap_or(1);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rebuilding v{msg} {bar:40} {pos}/{len} events {per_sec} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(target.to_string());
    loop {
        let s = client.projection_call(Method::GET, &encode_path(name)).await?;
        let progress = if s["rebuild"].is_object() { &s["rebuild"] } else { &s };
        let done = progress["position"].as_u64().map_or(0, |p| p + 1);
        let left = progress["events_left"].as_u64().or(progress["lag_events"].as_u64()).unwrap_or(0);
        bar.set_length(done + left);
        bar.set_position(done);
        if s["version"].as_u64() == Some(target) && s["rebuild"].is_null() && s["lag_events"] == 0 {
            bar.finish_and_clear();
            return Ok(s);
        }
        if s["status"] == "faulted" || s["rebuild"]["fault"].is_object() {
            bar.abandon();
            anyhow::bail!("the rebuild of {name} faulted: {s}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn control(client: &Client, name: &str, action: &str) -> anyhow::Result<(Value, Shape)> {
    let path = format!("{}/{action}", encode_path(name));
    Ok((client.projection_call(Method::POST, &path).await?, Shape::Status))
}

#[derive(Clone, Copy)]
pub enum Shape {
    Status,
    List,
    Json,
    Deleted,
}

fn print(answer: &Value, shape: Shape) {
    match shape {
        Shape::Json => println!("{}", serde_json::to_string_pretty(answer).unwrap_or_default()),
        Shape::Deleted => println!("deleted"),
        Shape::Status => println!("{}", status_line(answer)),
        Shape::List => {
            let list = answer["projections"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no projections");
            }
            for p in &list {
                println!("{}", status_line(p));
            }
        }
    }
}

/// `orders  running  v2  at 1234  lag 0 events (0.0 s)  850.0 events/s  parked 0`
fn status_line(s: &Value) -> String {
    let position = s["position"].as_u64().map_or("-".to_string(), |p| p.to_string());
    let mut line = format!(
        "{}  {}  v{}  at {}  lag {} events ({:.1} s)  {} events/s  parked {}",
        s["name"].as_str().unwrap_or("?"),
        s["status"].as_str().unwrap_or("?"),
        s["version"],
        position,
        s["lag_events"],
        s["lag_seconds"].as_f64().unwrap_or(0.0),
        s["events_per_sec"],
        s["parked"],
    );
    if let Some(fault) = s["fault"].as_object() {
        line.push_str(&format!("\n  fault: {}", Value::Object(fault.clone())));
    }
    line
}
