// What the browser tests share: the example app and the test page built with
// esbuild into a temporary folder, served from a port of their own (another
// origin than insightd's, so CORS is real), Debian's chromium through
// playwright-core, and insightd on SQLite, restartable on the same port.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { startServer } from "../../../../tests/e2e/ingest/harness.mjs";
import { build as buildExample } from "../../../../examples/react/build.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = join(here, "../../node_modules");
export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";

export async function buildPages(outdir, insightdUrl) {
  await buildExample(esbuild, { outdir: join(outdir, "example"), url: insightdUrl, nodePaths: [nodeModules] });
  await esbuild.build({
    entryPoints: [join(here, "page.js")],
    outfile: join(outdir, "test.js"),
    bundle: true,
    format: "esm",
    target: "es2020",
    nodePaths: [nodeModules],
    logLevel: "warning",
  });
  writeFileSync(join(outdir, "test.html"), '<!doctype html><meta charset="utf-8"><title>t</title><script type="module" src="test.js"></script>\n');
}

// Serves `root` on a free port; returns its origin and close().
export async function serveFolder(root) {
  const server = createServer(async (req, res) => {
    let path = new URL(req.url, "http://x").pathname;
    if (path.endsWith("/")) path += "index.html";
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "content-type": extname(path) === ".js" ? "text/javascript" : "text/html" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// insightd on SQLite in `dir`, answering the page's origin; `port` to come back on the same one.
export function startInsightd(dir, pageOrigin, port = 0, env = {}) {
  return startServer({ dir, env: { PUBLIC_URL: pageOrigin, PORT: String(port), BATCH_MAX_EVENTS: "1000", ...env } });
}

