//! `hindsight session export|import` and `hindsight fixture`: an incident as
//! one file, and a value pinned as a test. Export asks
//! a running server for a fork's session; import checks the file's hash
//! chain here first (a tampered file is refused, naming the first position
//! that fails), then loads it as a fork on a server, or into a data
//! directory of its own with its projections.

use std::process::ExitCode;

use anyhow::{bail, Context};
use hindsight_client::{encode_path, Client};
use hindsight_projections::registry::Tuning;
use hindsight_timetravel::session::Session;
use reqwest::Method;
use serde_json::{json, Value};

use super::target::Target;
use crate::cli::{SessionArgs, SessionCommand};

pub async fn run(at: Target<'_>, args: SessionArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.on.server);
    let answer = match args.command {
        SessionCommand::Export { fork, projection, from, to, masks, out } => {
            let mut q = vec![];
            for (k, v) in [("projection", projection), ("from", from), ("to", to)] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", encode_path(&v)));
                }
            }
            if !masks.is_empty() {
                q.push(format!("masks={}", encode_path(&masks.join(","))));
            }
            let path = format!("/v1/forks/{}/session?{}", encode_path(&fork), q.join("&"));
            let bytes = client.call_bytes(Method::GET, &path, None).await?;
            let checked = Session::read(&bytes).context("the server's session does not check out")?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            json!({ "written": out, "session": checked.summary() })
        }
        SessionCommand::Import { file, fork } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let session = Session::read(&bytes).with_context(|| format!("{} is refused", file.display()))?;
            match fork {
                Some(name) => {
                    let path = format!("/v1/forks/{}/session", encode_path(&name));
                    let answer = client.call_bytes(Method::POST, &path, Some(bytes)).await?;
                    json!({ "fork": serde_json::from_slice::<Value>(&answer)?, "session": session.summary() })
                }
                None => into_data_dir(at, &session).await?,
            }
        }
    };
    if args.on.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let s = &answer["session"];
        println!(
            "session of fork {}: {} events, positions {}..{}, projections {}, masks {}, chain {}",
            s["fork"]["name"].as_str().unwrap_or("?"),
            s["events"],
            s["from"],
            s["to"],
            s["projections"].as_array().map_or(0, Vec::len),
            s["masks"],
            s["chain"].as_str().unwrap_or("")
        );
        if let Some(w) = answer["written"].as_str() {
            println!("written to {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads a checked session into the data directory, which must hold no
/// events, and runs its projections there until they have all of it.
async fn into_data_dir(at: Target<'_>, session: &Session) -> anyhow::Result<Value> {
    let (store, dir) = (at.open(false).await?, at.dir);
    if store.next_position() > 0 {
        bail!("{} already holds events: import a session into a new store (or --fork NAME)", at.describe());
    }
    for append in session.appends(1000) {
        store.append_multi(append).await?;
    }
    let registry = at.projections(store.clone())?;
    let head = store.next_position();
    for p in &session.header.projections {
        registry.put(&p.name, &p.source, "park", Tuning::default()).await?;
        super::projection_local::caught_up(&registry, &p.name).await?;
    }
    registry.shutdown().await;
    drop(registry);
    store.shutdown()?;
    Ok(json!({ "data_dir": dir, "events": head, "session": session.summary() }))
}

/// `hindsight fixture`: asks the server for the test and writes it.
pub async fn fixture(args: crate::cli::FixtureArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.on.server);
    let mut q = vec![
        format!("partition={}", encode_path(&args.partition)),
        format!("pointer={}", encode_path(&args.pointer)),
        format!("lang={}", args.lang),
    ];
    if let Some(at) = &args.as_of {
        q.push(format!("as_of={}", encode_path(at)));
    }
    let path = format!("/v1/projections/{}/fixture?{}", encode_path(&args.projection), q.join("&"));
    let answer = client.call(Method::GET, &path, None).await?;
    let code = answer["code"].as_str().context("the server answered no code")?;
    std::fs::write(&args.out, code).with_context(|| format!("writing {}", args.out.display()))?;
    if args.on.json {
        let mut summary = answer.clone();
        summary["code"] = json!(args.out);
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} of {:?} is {} as of {}: {} of {} events kept ({} subsets folded); written to {}",
            args.pointer,
            args.partition,
            answer["value"],
            answer["as_of"].as_str().unwrap_or("?"),
            answer["events_kept"],
            answer["events_total"],
            answer["tests"],
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
