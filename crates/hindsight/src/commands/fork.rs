//! `hindsight fork ...` and `hindsight impact`: what-if timelines on a
//! running server (forks are kept by the server that serves them), text
//! for people by default, the server's JSON with `--json`.

use std::process::ExitCode;

use anyhow::Context;
use hindsight_client::{encode_path, Client};
use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::{ForkArgs, ForkCommand, ImpactArgs};

fn parse(what: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{what} is not JSON: {text}"))
}

pub async fn run(args: ForkArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.on.server);
    let f = |name: &str| format!("/v1/forks/{}", encode_path(name));
    let (answer, shape) = match &args.command {
        ForkCommand::Create { name, base } => {
            (client.call(Method::POST, "/v1/forks", Some(&json!({ "name": name, "base": base }))).await?, Shape::Fork)
        }
        ForkCommand::Skip { name, positions, ids } => {
            let body = json!({ "positions": positions, "ids": ids });
            (client.call(Method::POST, &format!("{}/skip", f(name)), Some(&body)).await?, Shape::Fork)
        }
        ForkCommand::Edit { name, position, data, metadata } => {
            let metadata = metadata.as_deref().map(|m| parse("--metadata", m)).transpose()?;
            let body = json!({ "position": position, "data": parse("--data", data)?, "metadata": metadata });
            (client.call(Method::POST, &format!("{}/edit", f(name)), Some(&body)).await?, Shape::Fork)
        }
        ForkCommand::Append { name, stream, event_type, data } => {
            let body = json!({ "events": [{ "type": event_type, "data": parse("--data", data)? }] });
            let path = format!("{}/streams/{}", f(name), encode_path(stream));
            (client.call(Method::POST, &path, Some(&body)).await?, Shape::Json)
        }
        ForkCommand::Project { name, projection, file } => {
            let source = match file {
                Some(file) => {
                    Some(std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?)
                }
                None => None,
            };
            let path = format!("{}/projections/{}", f(name), encode_path(projection));
            (client.call(Method::PUT, &path, Some(&json!({ "source": source }))).await?, Shape::Fork)
        }
        ForkCommand::Diff { name, stream, projection, partition, against } => {
            let mut q = Vec::new();
            for (k, v) in
                [("stream", stream), ("projection", projection), ("partition", partition), ("against", against)]
            {
                if let Some(v) = v {
                    q.push(format!("{k}={}", encode_path(v)));
                }
            }
            (client.call(Method::GET, &format!("{}/diff?{}", f(name), q.join("&")), None).await?, Shape::Diff)
        }
        ForkCommand::List => (client.call(Method::GET, "/v1/forks", None).await?, Shape::List),
        ForkCommand::Show { name } => (client.call(Method::GET, &f(name), None).await?, Shape::Fork),
        ForkCommand::Delete { name } => (client.call(Method::DELETE, &f(name), None).await?, Shape::Deleted),
    };
    print(&answer, if args.on.json { Shape::Json } else { shape });
    Ok(ExitCode::SUCCESS)
}

pub async fn impact(args: ImpactArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.on.server);
    let body = json!({ "skip": args.skip, "ids": args.ids, "projections": args.projections });
    let answer = client.call(Method::POST, "/v1/impact", Some(&body)).await?;
    if args.on.json {
        print(&answer, Shape::Json);
        return Ok(ExitCode::SUCCESS);
    }
    for p in answer["projections"].as_array().into_iter().flatten() {
        println!("{}:", p["projection"].as_str().unwrap_or("?"));
        partitions(p);
    }
    println!(
        "{} events re-folded in {:.0} ms",
        answer["events_refolded"],
        answer["elapsed_ms"].as_f64().unwrap_or(0.0)
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy)]
enum Shape {
    Fork,
    List,
    Diff,
    Json,
    Deleted,
}

fn print(answer: &Value, shape: Shape) {
    match shape {
        Shape::Json => println!("{}", serde_json::to_string_pretty(answer).unwrap_or_default()),
        Shape::Deleted => println!("deleted"),
        Shape::Fork => println!("{}", fork_line(answer)),
        Shape::List => {
            let list = answer["forks"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no forks");
            }
            for f in &list {
                println!("{}", fork_line(f));
            }
        }
        Shape::Diff if answer["stream"].is_string() => {
            println!("{} from {} to {}", answer["stream"].as_str().unwrap_or(""), answer["from"], answer["to"]);
            for op in answer["patch"].as_array().into_iter().flatten() {
                println!("  {} {} {}", op["op"].as_str().unwrap_or(""), op["path"].as_str().unwrap_or(""), op["value"]);
            }
            match answer["first_divergence"].as_object() {
                Some(d) => println!("first diverged at version {}", d["version"]),
                None => println!("identical"),
            }
        }
        Shape::Diff => {
            println!(
                "{} from {} to {}: {} partitions compared, {} identical",
                answer["projection"].as_str().unwrap_or(""),
                answer["from"],
                answer["to"],
                answer["partitions_compared"],
                answer["identical"]
            );
            partitions(answer);
        }
    }
}

/// One line per differing partition: kind, fields, first divergence.
fn partitions(p: &Value) {
    let listed = p["partitions"].as_array().cloned().unwrap_or_default();
    if listed.is_empty() {
        println!("  no partition differs");
    }
    for c in &listed {
        let fields: Vec<&str> = c["fields"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let at =
            c["first_divergence"]["live_position"].as_u64().map(|p| format!("  first diverged at live position {p}"));
        println!(
            "  {} {:?}: {}{}",
            c["kind"].as_str().unwrap_or(""),
            c["partition"].as_str().unwrap_or(""),
            fields.join(", "),
            at.unwrap_or_default()
        );
    }
    let more = ["added", "removed", "changed"].iter().map(|k| p[k].as_u64().unwrap_or(0)).sum::<u64>();
    if more > listed.len() as u64 {
        println!("  ... {} more", more - listed.len() as u64);
    }
}

/// `fix  base position:3 (end 4)  head 5  skips [2]  edits []  appended 1  projections balances*`
fn fork_line(f: &Value) -> String {
    let projections: Vec<String> = f["projections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}{}", p["name"].as_str().unwrap_or(""), if p["candidate"] == true { "*" } else { "" }))
        .collect();
    format!(
        "{}  base {} (end {})  head {}  skips {}  edits {}  appended {}  projections [{}]",
        f["name"].as_str().unwrap_or("?"),
        f["base"].as_str().unwrap_or("?"),
        f["base_end"],
        f["head"],
        f["skips"],
        f["edits"],
        f["appended"],
        projections.join(", ")
    )
}
