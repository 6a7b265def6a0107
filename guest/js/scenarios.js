// The polyglot scenario set in JavaScript: `scenarios NAME [N]`.
//
// Built with aiofs-jsgen (componentize-qjs' QuickJS runtime) for the world in
// guest/js/wit: every aiofs import returns a Promise, a failure rejects with an Error
// whose `payload` is the error-code name, and `run` is the async `wasi:cli/run@0.3.0`
// export. Each scenario checks what the guest sees (values and exact error codes) and
// throws on a mismatch; the host test (tests/polyglot.rs) then checks the disk. The
// fixture is `Sandbox` in tests/src/lib.rs. guest/js/fs_scenarios.js does the same
// through the bundled node:fs/promises module.

import process from "node:process";
import files from "aiofs:fs/files@0.1.0";
import os from "aiofs:fs/os@0.1.0";
import path from "aiofs:fs/path@0.1.0";
import tempfile from "aiofs:fs/tempfile@0.1.0";
import { setTimeout as sleep } from "node:timers/promises";
import { check, show } from "./check.js";

const enc = new TextEncoder();
const bytes = (s) => enc.encode(s);

/** Await `promise` and require it to reject with error code `code`. */
async function fails(promise, code, what) {
  let value;
  try {
    value = await promise;
  } catch (e) {
    check(e instanceof Error, true, `${what}: rejects with an Error`);
    check(e.payload, code, what);
    return;
  }
  value?.[Symbol.dispose]?.();
  throw new Error(`${what}: expected ${code}, got the value ${show(value)}`);
}

/** Run `body(resource)` and drop the resource afterwards (Python's `with`). */
async function using(resource, body) {
  try {
    return await body(resource);
  } finally {
    resource[Symbol.dispose]();
  }
}

const scenarios = {
  async binary_io() {
    await using(await files.open("/data/p.bin", "w+b"), async (f) => {
      check(f.isText(), false, "isText");
      check(await f.write(bytes("hello world\nsecond line\nthird")), 29, "write");
      check(await f.tell(), 29, "tell");
      check(await f.seek(0, "start"), 0, "seek start");
      check(await f.read(5), bytes("hello"), "read");
      check(await f.seek(1, "current"), 6, "seek current");
      check(await f.readLine(), bytes("world\n"), "readLine");
      check(await f.readLines(10), [bytes("second line\n"), bytes("third")], "readLines");
      check(await f.readLine(), bytes(""), "readLine at eof");
      check(await f.seek(-5, "end"), 24, "seek end");
      check(await f.readAll(), bytes("third"), "readAll");
      await fails(f.seek(-100, "current"), "invalid", "negative seek");
      check(await f.truncate(11), 11, "truncate");
      check((await f.stat()).size, 11, "fstat size");
      await fails(f.readText(1), "invalid", "readText on binary");
      await f.close();
      check(f.closed(), true, "closed");
      await fails(f.read(1), "bad-descriptor", "read after close");
    });
  },

  async text_io() {
    // lines.txt is "one\r\ntwo\rthree\nfour" on disk: universal newlines.
    await using(await files.open("/data/lines.txt", "r"), async (f) => {
      check(await f.readLineText(), "one\n", "readLineText");
      check(await f.readLinesText(10), ["two\n", "three\n", "four"], "readLinesText");
      check(await f.readLineText(), "", "eof");
      check(await f.seek(0, "start"), 0, "seek");
      check(await f.readText(5), "one\nt", "readText");
      check(await f.readAllText(), "wo\nthree\nfour", "readAllText");
      await fails(f.read(1), "invalid", "bytes on text");
    });
    await using(await files.open("/data/p.txt", "w"), async (w) => {
      check(await w.writeText("héllo\n"), 6, "writeText counts characters");
      check(await w.writeLinesText(["a\n", "b\n"]), 4, "writeLinesText");
      await w.close();
    });
    await using(await files.open("/data/p.txt", "a"), (a) => a.writeText("c\n"));
    await using(await files.open("/data/p.txt", "r"), async (r) => {
      check(await r.readAllText(), "héllo\na\nb\nc\n", "read back");
    });
  },

  async dirs() {
    await os.makedirs("/data/pd/a/b", false);
    await os.makedirs("/data/pd/a/b", true);
    await fails(os.makedirs("/data/pd/a/b", false), "exist", "makedirs twice");
    await files.writeFile("/data/pd/a/f.txt", bytes("f"), false);
    check((await os.listdir("/data/pd/a")).sort(), ["b", "f.txt"], "listdir");
    const entries = (await os.scandir("/data/pd/a", true)).sort((x, y) =>
      x.name < y.name ? -1 : 1,
    );
    check(
      entries.map((e) => [e.name, e.type]),
      [
        ["b", "directory"],
        ["f.txt", "regular-file"],
      ],
      "scandir",
    );
    check(entries[1].stat.size, 1, "scandir stat");
    const st = await os.stat("/data/hello.txt");
    check([st.type, st.size], ["regular-file", 12], "stat");
    await fails(os.stat("/data/missing"), "no-entry", "stat missing");
    check(await path.exists("/data/hello.txt"), true, "exists");
    check(await path.exists("/data/missing"), false, "exists missing");
    check(await path.isDir("/data/pd/a"), true, "isDir");
    await os.rename("/data/pd/a/f.txt", "/data/pd/g.txt");
    await os.rmdir("/data/pd/a/b");
    await files.writeFile("/data/pd/gone.txt", bytes("x"), false);
    await os.remove("/data/pd/gone.txt");
    await fails(os.remove("/data/pd/gone.txt"), "no-entry", "remove twice");
    await fails(os.rmdir("/data/pd"), "not-empty", "rmdir non-empty");
  },

  async whole_file() {
    check(await files.readFile("/data/hello.txt", 1024), bytes("hello\nworld\n"), "readFile");
    check(await files.readFile("hello.txt", 1024), bytes("hello\nworld\n"), "relative path");
    await fails(files.readFile("/data/hello.txt", 3), "file-too-large", "max");
    await files.writeFile("/data/w.txt", bytes("plain"), false);
    await files.writeFile("/data/wa.txt", bytes("old"), true);
    await files.writeFile("/data/wa.txt", bytes("new content"), true);
    await fails(files.writeFile("/data/nodir/x", bytes(""), true), "no-entry", "no parent");
  },

  async tempfile() {
    const opts = { dir: null, prefix: "t-", suffix: ".tmp" };
    await using(await tempfile.temporaryFile("", opts), async (anon) => {
      await anon.write(bytes("scratch"));
      await anon.seek(0, "start");
      check(await anon.readAll(), bytes("scratch"), "anonymous temp");
    });
    const named = await tempfile.namedTemporaryFile("w+", opts, true);
    const name = named.name();
    check(name.startsWith("/data/t-") && name.endsWith(".tmp"), true, name);
    check(await path.isFile(name), true, "named exists");
    await named.writeText("named");
    await named.close();
    named[Symbol.dispose]();
    check(await path.exists(name), false, "named removed on close");
    await using(await tempfile.temporaryDirectory(opts), async (d) => {
      await files.writeFile(d.path() + "/inner.txt", bytes("i"), false);
      check(await path.isDir(d.path()), true, "temp dir");
      await d.cleanup();
      check(await path.exists(d.path()), false, "temp dir removed");
    });
  },

  async escape() {
    const np = "not-permitted";
    await fails(files.readFile("/data/../outside/canary.txt", 100), np, "dot-dot");
    await fails(files.open("/data/escape-link", "rb"), np, "symlink out");
    await fails(files.writeFile("/data/escape-dir/new", bytes("x"), false), np, "write via link");
    await fails(files.writeFile("/ro/new.txt", bytes("x"), false), "read-only", "read-only");
  },

  async timers() {
    // Node's globals, installed by node:process (which aiofs-jsgen imports first).
    let cleared = false;
    const never = setTimeout(() => (cleared = true), 1);
    clearTimeout(never);
    check(await new Promise((resolve) => setTimeout(resolve, 5, "fired")), "fired", "setTimeout");
    let ticks = 0;
    await new Promise((resolve) => {
      const id = setInterval(() => {
        if (++ticks === 3) {
          clearInterval(id);
          resolve();
        }
      }, 1);
    });
    check(await sleep(20, "slept"), "slept", "timers/promises setTimeout");
    check([ticks, cleared], [3, false], "interval ran 3 times, cleared timeout never");
    check(typeof console.log, "function", "console");
  },

  async exit() {
    console.log("leaving with 3");
    process.exit(3);
    throw new Error("process.exit returned");
  },

  async concurrent_reads(n) {
    // All reads are issued before any is awaited: each import returns a pending Promise.
    const reads = Array.from({ length: n }, (_, i) => files.readFile(`/data/c${i}.txt`, 100));
    const results = await Promise.all(reads);
    results.forEach((data, i) => check(data, bytes(`file ${i}`), `c${i}.txt`));
  },
};

export const run = {
  async run() {
    const [name, arg] = process.argv.slice(2);
    const scenario = scenarios[name];
    if (!scenario) throw new Error(`unknown scenario ${JSON.stringify(name)}`);
    await scenario(Number(arg));
    console.log(`scenario ${name}: ok`);
  },
};
