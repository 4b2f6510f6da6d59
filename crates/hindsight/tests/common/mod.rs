//! Starting the real binary for black-box tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_hindsight");

/// Runs `hindsight import` on the store in `dir` with `lines` on stdin.
pub fn import<S: AsRef<str>>(dir: &Path, lines: &[S]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .arg("import")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn import");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for line in lines {
            writeln!(stdin, "{}", line.as_ref()).expect("write a line");
        }
    }
    child.wait_with_output().expect("import finishes")
}

/// Runs one CLI command on the store in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("--data-dir").arg(dir).args(args).output().expect("run hindsight")
}

/// A `hindsight serve` process on a free port.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: String,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::start_at(dir, "127.0.0.1:0", extra)
    }

    pub fn start_at(dir: &Path, listen: &str, extra: &[&str]) -> Server {
        Self::start_with_env(dir, listen, extra, &[])
    }

    pub fn start_with_env(dir: &Path, listen: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", listen])
            .args(extra)
            .envs(env.iter().copied())
            .env("HINDSIGHT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hindsight serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read listening line");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad first line {line:?}: {e}"));
        let addr = v["listening"].as_str().expect("listening address").to_string();
        Server { child, url: format!("http://{addr}"), addr }
    }

    /// SIGTERM, then wait; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        std::mem::forget(self);
        ok
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two `hindsight serve` processes on one PostgreSQL database, each with a
/// data directory of its own.
pub struct Pair {
    pub a: Server,
    pub b: Server,
    pub dirs: [tempfile::TempDir; 2],
}

pub fn two_servers(url: &str) -> Pair {
    let dirs = [tempfile::tempdir().expect("a data directory"), tempfile::tempdir().expect("a data directory")];
    let env = [("HINDSIGHT_STORE", url)];
    let a = Server::start_with_env(dirs[0].path(), "127.0.0.1:0", &[], &env);
    let b = Server::start_with_env(dirs[1].path(), "127.0.0.1:0", &[], &env);
    Pair { a, b, dirs }
}

/// JSON calls on a started server: the status and the body (a body that
/// is not JSON comes back as a string).
pub struct Api {
    pub http: reqwest::Client,
    pub url: String,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        Api { http: reqwest::Client::new(), url: server.url.clone() }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, body)
    }

    /// A GET that must answer 200.
    pub async fn get_ok(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// A POST that must succeed.
    pub async fn post_ok(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, answer) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "{path}: {status} {answer}");
        answer
    }
}
