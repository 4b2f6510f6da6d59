//! Connections cannot hurt the store. A flood of idle connections against
//! a server with a low file-descriptor limit and a tiny memtable (so index
//! files are written all the time) is capped: the excess gets a 503 and is
//! closed, an existing connection keeps appending, the store never poisons
//! itself, and `/ready` is 200 again once the flood ends. Idle and
//! slow-header connections are closed after the idle timeout while an
//! appender on another connection goes on.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run, BIN};
use serde_json::Value;

/// `hindsight serve` under `sh -c "ulimit -n LIMIT; exec ..."`.
fn start(dir: &Path, fd_limit: u32, extra: &str) -> (Child, String, Value) {
    let cmd =
        format!("ulimit -n {fd_limit} && exec {BIN} --data-dir {} serve --listen 127.0.0.1:0 {extra}", dir.display());
    let mut child = Command::new("sh")
        .args(["-c", &cmd])
        .env("HINDSIGHT_MEMTABLE_EVENTS", "16")
        .env("HINDSIGHT_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    (child, v["listening"].as_str().unwrap().to_string(), v)
}

/// One HTTP/1.1 request on a kept-alive connection; returns the status and
/// body.
fn request(conn: &mut TcpStream, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    read_response(conn)
}

fn read_response(conn: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

fn append_body(n: usize) -> String {
    format!(r#"{{"events":[{{"type":"T","data":{{"n":{n},"pad":"{}"}}}}]}}"#, "p".repeat(200))
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}

#[test]
fn a_connection_flood_is_capped_and_never_poisons_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, info) = start(dir.path(), 128, "");
    let cap = info["max_connections"].as_u64().unwrap() as usize;
    assert!(cap < 128, "the cap leaves descriptors for the store: {cap}");
    let mut appender = TcpStream::connect(&addr).unwrap();
    assert_eq!(request(&mut appender, "POST", "/v1/streams/flood-1", &append_body(0)).unwrap().0, 200);

    let mut flood = Vec::new();
    for _ in 0..cap + 100 {
        if let Ok(c) = TcpStream::connect(&addr) {
            flood.push(c);
        }
    }
    // The ones over the cap get a 503 at once, without sending anything.
    let mut refused = 0;
    for c in &mut flood {
        c.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        if let Ok((503, body)) = read_response(c) {
            assert!(body.contains("too_many_connections"), "{body}");
            refused += 1;
        }
    }
    assert!(refused >= 100, "{refused} of {} flood connections refused", flood.len());
    // The existing connection keeps appending; index files keep being written.
    for n in 1..=200 {
        let (s, body) = request(&mut appender, "POST", "/v1/streams/flood-1", &append_body(n)).unwrap();
        assert_eq!(s, 200, "append {n} during the flood: {body}");
    }
    assert_eq!(request(&mut appender, "GET", "/health", "").unwrap().0, 200, "never poisoned");
    let (s, body) = request(&mut appender, "GET", "/ready", "").unwrap();
    assert_eq!(s, 200, "{body}");
    drop(flood);
    std::thread::sleep(Duration::from_millis(300));
    let mut fresh = TcpStream::connect(&addr).unwrap();
    assert_eq!(request(&mut fresh, "GET", "/ready", "").unwrap().0, 200, "ready again after the flood");
    let (_, body) = request(&mut fresh, "GET", "/v1/info", "").unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["events"].as_u64(), v["writable"].as_bool()), (Some(201), Some(true)));
    drop((appender, fresh));
    stop(child);
    let verify = run(dir.path(), &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn idle_and_slow_header_connections_are_closed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, _) = start(dir.path(), 4096, "--idle-timeout-secs 1");
    let appender_addr = addr.clone();
    let appender = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(&appender_addr).unwrap();
        let mut latencies = Vec::new();
        for n in 0..300 {
            let started = Instant::now();
            let (s, _) = request(&mut conn, "POST", "/v1/streams/busy-1", &append_body(n)).unwrap();
            assert_eq!(s, 200);
            latencies.push(started.elapsed());
            std::thread::sleep(Duration::from_millis(5));
        }
        latencies.sort();
        latencies[latencies.len() * 99 / 100]
    });
    let idle = TcpStream::connect(&addr).unwrap();
    let mut slow = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    // A header trickled one byte every 200 ms never completes in time.
    let mut slow_closed = None;
    for b in b"GET /v1/info HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*b]).is_err() {
            slow_closed = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        slow.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 64];
        if matches!(slow.read(&mut buf), Ok(0)) || matches!(slow.read(&mut buf), Ok(n) if n > 0) {
            slow_closed = Some(started.elapsed());
            break;
        }
    }
    let slow_closed = slow_closed.expect("the slow header was cut off");
    assert!(slow_closed < Duration::from_secs(5), "{slow_closed:?}");
    let mut idle = idle;
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    let idle_closed = started.elapsed();
    assert_eq!(n, 0, "an idle connection is closed, not answered");
    assert!(idle_closed < Duration::from_secs(5), "{idle_closed:?}");
    let p99 = appender.join().unwrap();
    println!(
        "{}",
        serde_json::json!({ "idle_closed_ms": idle_closed.as_millis() as u64, "slow_header_closed_ms": slow_closed.as_millis() as u64, "append_p99_us": p99.as_micros() as u64 })
    );
    stop(child);
}

/// `verify` on a directory a busy server holds (index runs flushed and
/// merged all the time): it reads a consistent prefix and finds nothing
/// wrong.
#[test]
fn verify_while_a_busy_server_holds_the_store_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, _) = start(dir.path(), 4096, "");
    let writer = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(&addr).unwrap();
        for n in 0..300 {
            assert_eq!(
                request(&mut conn, "POST", &format!("/v1/streams/v-{}", n % 13), &append_body(n)).unwrap().0,
                200
            );
        }
    });
    let mut checked = 0;
    while !writer.is_finished() || checked < 3 {
        let out = run(dir.path(), &["verify", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(
            out.status.success() && v["live"] == true,
            "verify during appends: {v} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    writer.join().unwrap();
    stop(child);
    let out = run(dir.path(), &["verify", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success() && v["live"] == false && v["events"] == 300, "{v}");
    println!("verify ran {checked} times while the server wrote");
}
