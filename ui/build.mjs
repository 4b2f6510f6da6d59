// Builds the debugger into ../crates/server/ui/ (committed: the server
// embeds it, so running Hindsight needs no Node), or, with --out DIR, into
// DIR (the check that the committed build is current builds there and
// compares), or, with --tests, the unit tests into target/tests/.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const at = args.indexOf("--out");
const out = at >= 0 ? args[at + 1] : "../crates/server/ui";

if (args.includes("--tests")) {
  const tests = readdirSync("src").filter((f) => f.endsWith(".test.ts")).map((f) => join("src", f));
  await build({ entryPoints: tests, bundle: true, platform: "node", format: "esm", outdir: "target/tests", outExtension: { ".js": ".mjs" }, logLevel: "warning" });
} else {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: ["src/main.ts"],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    outfile: join(out, "app.js"),
    legalComments: "none",
    logLevel: "warning",
  });
  for (const f of ["index.html", "app.css"]) copyFileSync(join("src", f), join(out, f));
}
