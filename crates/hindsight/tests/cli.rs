//! The CLI from the outside: every malformed argument and every limit gets
//! its own error and a non-zero exit, the store is unchanged after, a
//! retry with the same id is idempotent, and a second process is refused
//! the data directory with the holder's pid.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hindsight");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("--data-dir").arg(dir).args(args).output().expect("run hindsight")
}

fn events(dir: &Path) -> u64 {
    let out = run(dir, &["info", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["events"].as_u64().unwrap()
}

fn error_code(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure, got {}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON error in {text}"));
    let v: Value = serde_json::from_str(line).unwrap();
    v["error"].as_str().unwrap().to_string()
}

#[test]
fn append_refusals_have_distinct_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = run(d, &["append", "order-1", "--type", "Placed", "--json", r#"{"total":5}"#]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let big_file = d.join("big.json");
    std::fs::write(&big_file, format!("\"{}\"", "x".repeat(1 << 20))).unwrap();
    let big = format!("@{}", big_file.display());
    let long = "s".repeat(256);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["append", "order-1", "--type", "T", "--json", "{}", "--expected-version", "no_stream"],
            "wrong_expected_version",
        ),
        (vec!["append", "order-1", "--type", "T", "--json", &big], "event_too_large"),
        (vec!["append", &long, "--type", "T", "--json", "{}"], "invalid_stream_name"),
        (vec!["append", "bad\tname", "--type", "T", "--json", "{}"], "invalid_stream_name"),
        (vec!["append", "order-1", "--type", "", "--json", "{}"], "invalid_event_type"),
        (vec!["append", "order-1", "--type", "T", "--json", "{}", "--metadata", "[1]"], "metadata_not_object"),
        (vec!["append", "order-1", "--type", "T", "--json", "{}", "--tags", ""], "invalid_tag"),
    ];
    for (args, code) in cases {
        assert_eq!(error_code(&run(d, &args)), code, "{args:?}");
    }
    // Malformed arguments fail before the store is touched.
    for args in [
        vec!["append", "order-1", "--type", "T", "--json", "{nope"],
        vec!["append", "order-1", "--type", "T", "--json", "{}", "--expected-version", "-3"],
        vec!["append", "order-1", "--type", "T", "--json", "{}", "--id", "not-a-uuid"],
        vec!["append", "order-1", "--type", "T", "--json", "@/does/not/exist"],
        vec!["append", "order-1", "--type", "T", "--json", "{}", "--metadata", "{bad"],
    ] {
        let out = run(d, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty(), "{args:?} failed silently");
    }
    assert_eq!(events(d), 1, "no refused append wrote anything");
    let verify = run(d, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn retry_with_the_same_id_returns_the_original_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
    let args = ["append", "pay-1", "--type", "Paid", "--json", "1", "--id", id, "--expected-version", "no_stream"];
    let first = run(d, &args);
    assert!(first.status.success());
    run(d, &["append", "pay-1", "--type", "Refunded", "--json", "2"]);
    let again = run(d, &args);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(first.stdout, again.stdout);
    assert_eq!(events(d), 2);
    // The same id on another stream is a conflict.
    let other = run(d, &["append", "pay-2", "--type", "Paid", "--json", "1", "--id", id]);
    assert_eq!(error_code(&other), "event_id_conflict");
    let read = run(d, &["read", "pay-1", "--backward", "--limit", "1"]);
    let e: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!((e["type"].as_str(), e["version"].as_u64()), (Some("Refunded"), Some(1)));
}

#[test]
fn import_answers_every_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = [
        r#"{"stream":"a-1","type":"T","data":1}"#,
        "not json",
        r#"{"stream":"a-1","events":[{"type":"T","data":2},{"type":"T","data":3}],"expected_version":0}"#,
        "",
        r#"{"stream":"a-1","type":"T","data":4,"expected_version":"no_stream"}"#,
        r#"{"appends":[{"stream":"b-1","events":[{"type":"X","data":{}}]},{"stream":"c-1","events":[{"type":"Y","data":[]}]}]}"#,
        r#"{"stream":"a-1","type":"T","data":5,"metadata":"nope"}"#,
    ];
    let out = common::import(dir.path(), &input);
    assert_eq!(out.status.code(), Some(1), "some lines failed: the exit code says so");
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 of 7 lines were not stored"));
    let lines: Vec<Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let summary: Vec<(u64, String)> = lines
        .iter()
        .map(|v| {
            let what = match v.get("error") {
                Some(e) => e["error"].as_str().unwrap().to_string(),
                None if v.get("results").is_some() => format!("results {}", v["results"].as_array().unwrap().len()),
                None => format!("{}..{}", v["first_position"], v["last_position"]),
            };
            (v["line"].as_u64().unwrap(), what)
        })
        .collect();
    let want: Vec<(u64, String)> =
        ["0..0", "malformed_line", "1..2", "empty_line", "wrong_expected_version", "results 2", "metadata_not_object"]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u64 + 1, s.to_string()))
            .collect();
    assert_eq!(summary, want);
    assert_eq!(events(dir.path()), 5);
}

#[test]
fn a_second_process_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("import")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the holder has opened the store.
    let mut stdin = holder.stdin.take().unwrap();
    writeln!(stdin, r#"{{"stream":"x-1","type":"T","data":1}}"#).unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut first).unwrap();
    let out = run(dir.path(), &["info"]);
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains(&format!("already in use by pid {}", holder.id())), "{msg}");
    drop(stdin);
    assert!(holder.wait().unwrap().success());
    assert_eq!(events(dir.path()), 1);
}

#[test]
fn verify_reports_damage_with_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..5 {
        assert!(run(d, &["append", "v-1", "--type", "T", "--json", &i.to_string()]).status.success());
    }
    let seg = d.join("log").join("00000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&seg, bytes).unwrap();
    let out = run(d, &["verify", "--json"]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["problem"]["segment"].as_str().unwrap().ends_with("00000001.seg"));
    assert!(v["problem"]["offset"].as_u64().unwrap() <= 100);
}
