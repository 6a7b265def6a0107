// Count the lines of every file under a directory, reading all files at once, the way
// Node code would (node:fs/promises). Build and run:
//   target/debug/aiofs-jsgen guest/js/examples/lines.js -o lines.wasm
//   target/debug/aiofs run lines.wasm --dir examples/data::/data:ro
import { readdir, readFile } from "node:fs/promises";
import process from "node:process";

async function walk(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`])),
  );
  return nested.flat();
}

async function main(root) {
  const paths = (await walk(root)).sort();
  // One Promise per file: the host reads them in parallel on its thread pool.
  const texts = await Promise.all(paths.map((p) => readFile(p, "utf8")));
  let total = 0;
  texts.forEach((text, i) => {
    const lines = text.split("\n").length - 1;
    total += lines;
    console.log(`${String(lines).padStart(7)} ${paths[i]}`);
  });
  console.log(`${String(total).padStart(7)} total`);
  try {
    await readFile(`${root}/no-such-file`);
  } catch (e) {
    console.error(`${e.code} (${e.syscall}): ${e.message}`);
  }
}

// The component's entry point (wasi:cli/run), instead of top-level code.
export const run = {
  async run() {
    await main(process.argv[2] ?? "/data");
  },
};
