// Builds both packages: ESM and CommonJS with esbuild (not minified: the
// app's bundler minifies), type declarations with tsc. Each package's
// dependencies stay outside its bundle.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const packages = [
  { dir: "packages/client", entry: "src/index.ts", external: ["socket.io-client"] },
  { dir: "packages/react", entry: "src/index.tsx", external: ["react", "@insightd/client"] },
];
for (const p of packages) {
  const dir = join(root, p.dir);
  rmSync(join(dir, "dist"), { recursive: true, force: true });
  for (const format of ["esm", "cjs"]) {
    await esbuild.build({
      entryPoints: [join(dir, p.entry)],
      outfile: join(dir, "dist", format === "esm" ? "index.js" : "index.cjs"),
      bundle: true,
      format,
      platform: "neutral",
      target: "es2020",
      external: p.external,
      logLevel: "warning",
    });
  }
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], {
    stdio: "inherit",
  });
}
