// The size a web app pays, min+gzip, measured with esbuild (minified browser
// bundles of the built packages) and zlib (level 9):
//   @insightd/client without socket.io-client   budget 5 KB (5,120 bytes)
//   @insightd/client with socket.io-client       budget 20 KB (20,480 bytes)
//   @insightd/react (without React and the client)
//   node size.mjs [--check]   --check: exit 1 over a budget
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");

async function size(entry, external) {
  const out = await esbuild.build({
    entryPoints: [join(root, entry)],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    external,
    write: false,
    logLevel: "error",
  });
  const code = out.outputFiles[0].contents;
  return { min: code.length, gz: gzipSync(code, { level: 9 }).length };
}

const rows = [
  ["@insightd/client, without socket.io-client", await size("packages/client/dist/index.js", ["socket.io-client"]), 5 * 1024],
  ["@insightd/client, with socket.io-client", await size("packages/client/dist/index.js", []), 20 * 1024],
  ["@insightd/react, without React and @insightd/client", await size("packages/react/dist/index.js", ["react", "@insightd/client"]), null],
];
let over = false;
for (const [what, s, budget] of rows) {
  const verdict = budget === null ? "" : s.gz <= budget ? ` (budget ${budget} B: ok)` : ` (budget ${budget} B: OVER)`;
  if (budget !== null && s.gz > budget) over = true;
  console.log(`${what}: ${s.min} B minified, ${s.gz} B min+gzip${verdict}`);
}
if (check && over) process.exit(1);
