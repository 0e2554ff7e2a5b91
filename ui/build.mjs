// Copy third-party browser code from node_modules into the Python package.
//
// The dashboard is plain ES modules served by labdeck itself: no bundler. This script
// only places the npm-installed files where the server serves them,
// src/labdeck/ui/static/vendor/ (gitignored; built by `npm --prefix ui run build`).
// It fails loudly when a file is missing, so a broken install never ships a dashboard
// without its plots.

import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "labdeck", "ui", "static", "vendor");

// [package, file inside the package, name under vendor/]
const FILES = [
  ["uplot", "dist/uPlot.esm.js", "uPlot.esm.js"],
  ["uplot", "dist/uPlot.min.css", "uPlot.min.css"],
  ["uplot", "LICENSE", "uPlot.LICENSE.txt"],
];

function fail(message) {
  console.error(`ui build failed: ${message}`);
  console.error("run `npm --prefix ui ci` first, then `npm --prefix ui run build`");
  process.exit(1);
}

mkdirSync(vendor, { recursive: true });
for (const [pkg, file, target] of FILES) {
  const source = join(here, "node_modules", pkg, file);
  if (!existsSync(source)) fail(`${relative(here, source)} is missing`);
  if (readFileSync(source).length === 0) fail(`${relative(here, source)} is empty`);
  copyFileSync(source, join(vendor, target));
}
console.log(`ui build: ${FILES.length} files copied to ${relative(process.cwd(), vendor) || "."}`);
