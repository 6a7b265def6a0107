// Part of the polyglot scenario set in JavaScript, for componentize-qjs against the
// `command` world of wit/aiofs.wit (the world imports no wasi:cli/environment, so `run`
// runs every scenario in turn; the host lays out /data/c0.txt .. c3.txt for the reads).
//
// NOT RUNNABLE YET: no JavaScript componentizer on npm can build a guest that imports
// aiofs' `async func`s (see the README, "JavaScript"). tests/build/polyglot.rs tries to
// build this file with componentize-qjs and componentize-js on every test run, and
// tests/polyglot.rs asserts the exact failures, so we notice when a release fixes
// them. It follows componentize-qjs' documented mapping: async imports return promises,
// results throw their error (the enum case name), enums are strings, u64 are numbers.

import files from "aiofs:fs/files@0.1.0";
import path from "aiofs:fs/path@0.1.0";

function check(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
}

async function fails(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    check(e, code, what);
    return;
  }
  throw new Error(`${what}: expected ${code}, got success`);
}

const text = (bytes) => new TextDecoder().decode(bytes);

const scenarios = {
  async whole_file() {
    check(text(await files.readFile("/data/hello.txt", 1024)), "hello\nworld\n", "read-file");
    await fails(files.readFile("/data/hello.txt", 3), "file-too-large", "max");
    await files.writeFile("/data/w.txt", new TextEncoder().encode("plain"), false);
    await files.writeFile("/data/wa.txt", new TextEncoder().encode("old"), true);
    await files.writeFile("/data/wa.txt", new TextEncoder().encode("new content"), true);
  },
  async escape() {
    await fails(files.readFile("/data/../outside/canary.txt", 100), "not-permitted", "dot-dot");
    await fails(files.open("/data/escape-link", "rb"), "not-permitted", "symlink out");
    check(await path.exists("/data/hello.txt"), true, "exists");
  },
  async concurrent_reads(n) {
    const reads = Array.from({ length: n }, (_, i) => files.readFile(`/data/c${i}.txt`, 100));
    (await Promise.all(reads)).forEach((data, i) => check(text(data), `file ${i}`, `c${i}`));
  },
};

export const run = {
  async run() {
    for (const [name, scenario] of Object.entries(scenarios)) {
      await scenario(4);
      console.log(`scenario ${name}: ok`);
    }
  },
};
