// Copies the front-end packages that barq's pages use from node_modules into
// src/barq/web/static/vendor (git-ignored). Run by `npm run build` from `make setup`.
import { cpSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";

const out = "src/barq/web/static/vendor";
const files = [
  ["htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["chart.js/dist/chart.umd.min.js", "chart.umd.min.js"],
  ["@majidh1/jalalidatepicker/dist/jalalidatepicker.min.js", "jalalidatepicker.min.js"],
  ["@majidh1/jalalidatepicker/dist/jalalidatepicker.min.css", "jalalidatepicker.min.css"],
  ["vazirmatn/fonts/webfonts/Vazirmatn-Regular.woff2", "fonts/Vazirmatn-Regular.woff2"],
  ["vazirmatn/fonts/webfonts/Vazirmatn-Medium.woff2", "fonts/Vazirmatn-Medium.woff2"],
  ["vazirmatn/fonts/webfonts/Vazirmatn-Bold.woff2", "fonts/Vazirmatn-Bold.woff2"],
  ["vazirmatn/fonts/ttf/Vazirmatn-Regular.ttf", "fonts/Vazirmatn-Regular.ttf"],
  ["vazirmatn/fonts/ttf/Vazirmatn-Bold.ttf", "fonts/Vazirmatn-Bold.ttf"],
  ["vazirmatn/OFL.txt", "fonts/OFL.txt"],
];

rmSync(out, { recursive: true, force: true });
for (const [from, to] of files) {
  const src = join("node_modules", from);
  if (!existsSync(src)) {
    console.error(`missing ${src}: run npm ci first`);
    process.exit(1);
  }
  const dest = join(out, to);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(src, dest);
}
console.log(`copied ${files.length} files to ${out}`);
