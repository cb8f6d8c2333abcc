// Builds the example into dist/ (index.html and one minified app.js):
//   INSIGHTD_URL=http://localhost:3000 [INSIGHTD_WRITE_KEY=...] node build.mjs
// build() is also what the browser tests call, with their esbuild and paths.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export async function build(esbuild, { outdir = join(here, "dist"), url, writeKey = "", nodePaths = [] } = {}) {
  mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(here, "src/main.jsx")],
    outfile: join(outdir, "app.js"),
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    jsx: "automatic",
    tsconfig: join(here, "tsconfig.json"),
    nodePaths,
    // @insightd/* are links into clients/js: resolve their imports (react)
    // from here, so that the app has one React, not one per folder.
    preserveSymlinks: true,
    define: {
      "process.env.NODE_ENV": '"production"',
      INSIGHTD_URL: JSON.stringify(url),
      INSIGHTD_WRITE_KEY: JSON.stringify(writeKey),
    },
    logLevel: "warning",
  });
  copyFileSync(join(here, "index.html"), join(outdir, "index.html"));
  return outdir;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const esbuild = await import("esbuild");
  const url = process.env.INSIGHTD_URL || "http://localhost:3000";
  const out = await build(esbuild, { url, writeKey: process.env.INSIGHTD_WRITE_KEY || "" });
  console.log(`Built ${out} for insightd at ${url}`);
}
