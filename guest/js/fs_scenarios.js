// The polyglot scenario set again, written against the bundled `node:fs/promises`
// (guest/js/fs.js) the way Node code is written: `fs_scenarios NAME [N]`. The scenarios
// have the same names and leave the same files as guest/js/scenarios.js, so the host
// tests check the disk the same way; `node_api` covers the rest of the module (Stats,
// Dirent, links, rm, mkdtemp, access, encodings, Node-shaped errors).

import fs, { constants, open, readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import { check } from "./check.js";

const enc = new TextEncoder();
const bytes = (s) => enc.encode(s);

/**
 * Await `promise` and require a Node-style error: `want` holds the expected `code` and
 * optionally `errno`, `syscall`, `path`, `dest` and `message`.
 */
async function rejects(promise, want, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof Error, true, `${what}: an Error`);
    for (const [key, value] of Object.entries(want)) check(e[key], value, `${what}: ${key}`);
    return e;
  }
  throw new Error(`${what}: expected ${want.code}, got success`);
}

const scenarios = {
  async binary_io() {
    const fh = await open("/data/p.bin", "w+");
    const { bytesWritten } = await fh.write(bytes("hello world\nsecond line\nthird"));
    check(bytesWritten, 29, "write");
    // Positional reads leave the file position alone.
    const buf = new Uint8Array(5);
    check((await fh.read(buf, 0, 5, 0)).bytesRead, 5, "read at 0");
    check(buf, bytes("hello"), "read at 0: data");
    check((await fh.read({ buffer: buf, position: 6 })).bytesRead, 5, "read options");
    check(buf, bytes("world"), "read options: data");
    check(await fh.readFile(), new Uint8Array(0), "readFile at eof");
    const { bytesWritten: n } = await fh.write("HELLO", 0);
    check(n, 5, "write string at 0");
    await fh.truncate(11);
    check((await fh.stat()).size, 11, "stat size");
    await fh.write(bytes("hello"), 0, 5, 0);
    await fh.sync();
    await fh.datasync();
    await fh.close();
    await rejects(fh.read(buf), { code: "EBADF", syscall: "read" }, "read after close");
    check(await readFile("/data/p.bin"), bytes("hello world"), "read back");
  },

  async text_io() {
    const lines = [];
    const fh = await open("/data/lines.txt");
    for await (const line of fh.readLines()) lines.push(line);
    await fh.close();
    // Binary lines: "\r\n" and "\n" end a line, a lone "\r" does not.
    check(lines, ["one", "two\rthree", "four"], "readLines");
    await writeFile("/data/p.txt", "héllo\n");
    await fs.appendFile("/data/p.txt", "a\nb\n", "utf8");
    const h = await open("/data/p.txt", "a");
    await h.appendFile("c\n");
    await h.close();
    check(await readFile("/data/p.txt", "utf8"), "héllo\na\nb\nc\n", "read back");
    check(await readFile("/data/p.txt", { encoding: "hex" }), "68c3a96c6c6f0a610a620a630a", "hex");
    check(await readFile("/data/hello.txt", "base64"), "aGVsbG8Kd29ybGQK", "base64");
  },

  async dirs() {
    check(await fs.mkdir("/data/pd/a/b", { recursive: true }), "/data/pd", "mkdir -p");
    check(await fs.mkdir("/data/pd/a/b", { recursive: true }), undefined, "mkdir -p again");
    await rejects(
      fs.mkdir("/data/pd/a/b"),
      {
        code: "EEXIST",
        errno: -17,
        syscall: "mkdir",
        path: "/data/pd/a/b",
        message: "EEXIST: file already exists, mkdir '/data/pd/a/b'",
      },
      "mkdir twice",
    );
    await writeFile("/data/pd/a/f.txt", "f");
    check((await fs.readdir("/data/pd/a")).sort(), ["b", "f.txt"], "readdir");
    const ents = (await fs.readdir("/data/pd/a", { withFileTypes: true })).sort((x, y) =>
      x.name < y.name ? -1 : 1,
    );
    check(
      ents.map((d) => [d.name, d.isDirectory(), d.isFile(), d.parentPath]),
      [
        ["b", true, false, "/data/pd/a"],
        ["f.txt", false, true, "/data/pd/a"],
      ],
      "withFileTypes",
    );
    const st = await fs.stat("/data/hello.txt");
    check([st.isFile(), st.isDirectory(), st.size], [true, false, 12], "stat");
    check(st.mtimeMs, 1000000000500, "mtimeMs");
    check(st.mtime.getTime(), 1000000000500, "mtime");
    check((st.mode & constants.S_IFMT) === constants.S_IFREG, true, "mode type bits");
    await rejects(fs.stat("/data/missing"), { code: "ENOENT", errno: -2, syscall: "stat" }, "stat");
    await fs.rename("/data/pd/a/f.txt", "/data/pd/g.txt");
    await fs.rmdir("/data/pd/a/b");
    await writeFile("/data/pd/gone.txt", "x");
    await fs.unlink("/data/pd/gone.txt");
    await rejects(fs.unlink("/data/pd/gone.txt"), { code: "ENOENT", syscall: "unlink" }, "unlink");
    await rejects(fs.rmdir("/data/pd"), { code: "ENOTEMPTY", errno: -39, syscall: "rmdir" }, "rmdir");
  },

  async whole_file() {
    check(await readFile("/data/hello.txt", "utf8"), "hello\nworld\n", "readFile utf8");
    check(await readFile("hello.txt"), bytes("hello\nworld\n"), "relative path, bytes");
    await writeFile("/data/w.txt", bytes("plain"));
    await writeFile("/data/wa.txt", "old");
    await writeFile("/data/wa.txt", "new content");
    await rejects(
      writeFile("/data/wa.txt", "x", { flag: "wx" }),
      { code: "EEXIST", syscall: "open", path: "/data/wa.txt" },
      "flag wx",
    );
    await rejects(
      writeFile("/data/nodir/x", ""),
      {
        code: "ENOENT",
        errno: -2,
        syscall: "open",
        path: "/data/nodir/x",
        message: "ENOENT: no such file or directory, open '/data/nodir/x'",
      },
      "no parent",
    );
  },

  async tempfile() {
    const dir = await fs.mkdtemp("/data/t-");
    check(/^\/data\/t-[A-Za-z0-9]{6}$/.test(dir), true, `mkdtemp name ${dir}`);
    check((await fs.stat(dir)).isDirectory(), true, "mkdtemp made a directory");
    await writeFile(`${dir}/inner.txt`, "i");
    await fs.rm(dir, { recursive: true });
    await rejects(fs.access(dir), { code: "ENOENT", syscall: "access" }, "removed");
  },

  async escape() {
    await rejects(
      readFile("/data/../outside/canary.txt"),
      { code: "EPERM", errno: -1, syscall: "open", aiofsCode: "not-permitted" },
      "dot-dot",
    );
    await rejects(open("/data/escape-link"), { code: "EPERM", syscall: "open" }, "symlink out");
    await rejects(writeFile("/data/escape-dir/new", "x"), { code: "EPERM" }, "write via link");
    await rejects(
      writeFile("/ro/new.txt", "x"),
      { code: "EROFS", errno: -30, syscall: "open", path: "/ro/new.txt" },
      "read-only",
    );
    await rejects(fs.access("/ro/ro.txt", constants.W_OK), { code: "EACCES" }, "access W_OK");
    await fs.access("/ro/ro.txt", constants.R_OK);
  },

  async concurrent_reads(n) {
    const texts = await Promise.all(
      Array.from({ length: n }, (_, i) => readFile(`/data/c${i}.txt`, "utf8")),
    );
    texts.forEach((t, i) => check(t, `file ${i}`, `c${i}.txt`));
  },

  async quota() {
    // The host gives /data a budget of 16 bytes written.
    await writeFile("/data/q.txt", "0123456789");
    await rejects(
      writeFile("/data/q2.txt", "0123456789"),
      {
        code: "EDQUOT",
        errno: -122,
        syscall: "open",
        path: "/data/q2.txt",
        aiofsCode: "quota",
        message: "EDQUOT: disk quota exceeded, open '/data/q2.txt'",
      },
      "over the budget",
    );
    check(await readFile("/data/q.txt", "utf8"), "0123456789", "first write kept");
  },

  async node_api() {
    await fs.mkdir("/data/n");
    await writeFile("/data/n/a.txt", "abc");
    await fs.copyFile("/data/n/a.txt", "/data/n/b.txt");
    await rejects(
      fs.copyFile("/data/n/a.txt", "/data/n/b.txt", constants.COPYFILE_EXCL),
      {
        code: "EEXIST",
        syscall: "copyfile",
        path: "/data/n/a.txt",
        dest: "/data/n/b.txt",
        message: "EEXIST: file already exists, copyfile '/data/n/a.txt' -> '/data/n/b.txt'",
      },
      "COPYFILE_EXCL",
    );
    await fs.link("/data/n/a.txt", "/data/n/hard.txt");
    check((await fs.stat("/data/n/a.txt")).nlink, 2, "nlink");
    await fs.symlink("a.txt", "/data/n/sym");
    check(await fs.readlink("/data/n/sym"), "a.txt", "readlink");
    check((await fs.lstat("/data/n/sym")).isSymbolicLink(), true, "lstat");
    check((await fs.stat("/data/n/sym")).size, 3, "stat follows");
    await fs.truncate("/data/n/b.txt", 1);
    await fs.rm("/data/n/gone", { force: true });
    await rejects(fs.rm("/data/n/gone"), { code: "ENOENT", syscall: "rm" }, "rm missing");
    await fs.mkdir("/data/n/d/e", { recursive: true });
    await rejects(fs.rm("/data/n/d"), { code: "ERR_FS_EISDIR" }, "rm dir");
    await fs.rm("/data/n/d", { recursive: true });
    await rejects(open("/data/n/a.txt", "bogus"), { code: "EINVAL" }, "bad flags");
    await rejects(readFile("/data/n"), { code: "EISDIR" }, "readFile dir");
    await rejects(
      fs.chmod("/data/n/a.txt", 0o600),
      { code: "ENOTSUP", syscall: "chmod", path: "/data/n/a.txt" },
      "chmod",
    );
    // The handle's byte stream and its lines (for await).
    const fh = await open("/data/big.bin");
    let total = 0;
    for await (const chunk of fh) {
      check(
        chunk.every((b) => b === 0x5a),
        true,
        "chunk content",
      );
      total += chunk.length;
    }
    await fh.close();
    check(total, 4096, "streamed bytes");
    await writeFile("/data/n/l.txt", "x\r\ny\nz");
    const lines = [];
    await using_(await open("/data/n/l.txt"), async (h) => {
      for await (const l of h.readLines()) lines.push(l);
    });
    check(lines, ["x", "y", "z"], "readLines");
  },
};

async function using_(fh, body) {
  try {
    return await body(fh);
  } finally {
    await fh.close();
  }
}

export const run = {
  async run() {
    const [name, arg] = process.argv.slice(2);
    const scenario = scenarios[name];
    if (!scenario) throw new Error(`unknown scenario ${JSON.stringify(name)}`);
    await scenario(Number(arg));
    console.log(`scenario ${name}: ok`);
  },
};
