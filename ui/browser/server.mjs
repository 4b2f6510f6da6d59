// What the browser tests share: a real `hindsight serve` on a data
// directory of its own (optionally seeded with `hindsight import` first),
// Debian's chromium driven by playwright-core, and screenshots in
// ui/target/screenshots/ (test artifacts).
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.HINDSIGHT_BIN ?? "../target/debug/hindsight";
const CHROMIUM = process.env.HINDSIGHT_CHROMIUM ?? "/usr/bin/chromium";
export const SHOTS = "target/screenshots";

export class Server {
  /// Imports `ndjson` (import lines) into a fresh data directory, then serves it.
  static async start(ndjson) {
    const s = new Server();
    s.dir = mkdtempSync(join(tmpdir(), "hindsight-ui-"));
    if (ndjson) {
      const r = spawnSync(BIN, ["--data-dir", s.dir, "import"], { input: ndjson, maxBuffer: 1 << 30 });
      assert.equal(r.status, 0, `import failed: ${r.stderr}`);
    }
    const env = { ...process.env, HINDSIGHT_LOG: "warn" };
    s.child = spawn(BIN, ["--data-dir", s.dir, "serve", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"], env });
    const line = await new Promise((resolve, reject) => {
      let out = "";
      s.child.stdout.on("data", (d) => {
        out += d;
        const nl = out.indexOf("\n");
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      s.child.on("exit", (code) => reject(new Error(`hindsight serve exited with ${code}`)));
    });
    s.url = `http://${JSON.parse(line).listening}`;
    return s;
  }

  async stop() {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.on("exit", resolve));
      this.child.kill("SIGTERM");
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  async api(method, path, body) {
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  append(stream, events) {
    return this.api("POST", `/v1/streams/${encodeURIComponent(stream)}`, { events });
  }
}

export async function browser() {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/// A page at 1280×800; `p.outside` collects any request that leaves the
/// server (the page must make none: fonts and scripts are local).
export async function page(b, server) {
  const p = await b.newPage({ viewport: { width: 1280, height: 800 } });
  p.outside = [];
  p.on("request", (r) => {
    if (!r.url().startsWith(server.url)) p.outside.push(r.url());
  });
  return p;
}

export const shot = (p, name) => p.screenshot({ path: `${SHOTS}/${name}.png` });
