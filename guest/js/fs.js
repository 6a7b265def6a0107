// `node:fs/promises` for aiofs JavaScript guests, over the aiofs imports.
//
// aiofs-jsgen bundles this module: `import fs from "node:fs/promises"` (or
// `import { readFile } from "node:fs/promises"`). Paths are guest paths (`/data/x`, or
// relative to the first grant). Every function returns a Promise and many can be in
// flight at once: each is one or a few aiofs calls that the host runs on its pool.
//
// Errors are `Error`s shaped like Node's: `code` ("ENOENT", "EACCES", "EROFS",
// "EDQUOT", ...), a negative `errno`, `syscall`, `path` (and `dest` for two-path calls),
// the message `ENOENT: no such file or directory, open '/data/x'`, plus `aiofsCode`, the
// WIT error-code name. aiofs' `not-permitted` (a path outside every grant) is `EPERM`.
//
// Differences from Node: data comes back as `Uint8Array` (no Buffer); encodings are
// utf8, latin1, ascii, hex and base64; no file descriptors (`FileHandle.fd` is a
// counter); chmod, chown, utimes (and their l* forms), watch, opendir, realpath, statfs
// and cp reject with ENOTSUP; no readableWebStream; `open` takes the string flags only;
// `readdir` has no `recursive`; `mkdtemp` names end in 6 random characters from
// Math.random. Nothing here runs at import time (the module is evaluated when the
// component is built).

import files from "aiofs:fs/files@0.1.0";
import aos from "aiofs:fs/os@0.1.0";
import apath from "aiofs:fs/path@0.1.0";
import { TextDecoder, TextEncoder } from "./text.js";

// ---- errors ------------------------------------------------------------------------

/** aiofs error-code -> [Node code, errno (Linux), libuv description]. */
const ERRORS = {
  access: ["EACCES", 13, "permission denied"],
  "bad-descriptor": ["EBADF", 9, "bad file descriptor"],
  busy: ["EBUSY", 16, "resource busy or locked"],
  "cross-device": ["EXDEV", 18, "cross-device link not permitted"],
  exist: ["EEXIST", 17, "file already exists"],
  "file-too-large": ["EFBIG", 27, "file too large"],
  "illegal-byte-sequence": ["EILSEQ", 84, "illegal byte sequence"],
  "insufficient-space": ["ENOSPC", 28, "no space left on device"],
  "insufficient-memory": ["ENOMEM", 12, "not enough memory"],
  interrupted: ["EINTR", 4, "interrupted system call"],
  invalid: ["EINVAL", 22, "invalid argument"],
  "invalid-seek": ["ESPIPE", 29, "invalid seek"],
  io: ["EIO", 5, "i/o error"],
  "is-directory": ["EISDIR", 21, "illegal operation on a directory"],
  loop: ["ELOOP", 40, "too many symbolic links encountered"],
  "name-too-long": ["ENAMETOOLONG", 36, "name too long"],
  "no-entry": ["ENOENT", 2, "no such file or directory"],
  "not-directory": ["ENOTDIR", 20, "not a directory"],
  "not-empty": ["ENOTEMPTY", 39, "directory not empty"],
  "not-permitted": ["EPERM", 1, "operation not permitted"],
  overflow: ["EOVERFLOW", 75, "value too large for defined data type"],
  quota: ["EDQUOT", 122, "disk quota exceeded"],
  "read-only": ["EROFS", 30, "read-only file system"],
  "too-many-links": ["EMLINK", 31, "too many links"],
  unsupported: ["ENOTSUP", 95, "operation not supported"],
};

/** A Node-style error for aiofs error-code `aiofsCode`. */
function fsError(aiofsCode, syscall, path, dest) {
  const [code, errno, desc] = ERRORS[aiofsCode] ?? ["EIO", 5, `i/o error (${aiofsCode})`];
  let message = `${code}: ${desc}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const e = new Error(message);
  e.code = code;
  e.errno = -errno;
  e.syscall = syscall;
  if (path !== undefined) e.path = path;
  if (dest !== undefined) e.dest = dest;
  e.aiofsCode = aiofsCode;
  return e;
}

/** Await an aiofs call, turning its rejection into a Node-style error. */
async function call(syscall, path, promise, dest) {
  try {
    return await promise;
  } catch (e) {
    if (typeof e?.payload === "string") throw fsError(e.payload, syscall, path, dest);
    throw e;
  }
}

function argError(message, code = "ERR_INVALID_ARG_VALUE") {
  const e = new TypeError(message);
  e.code = code;
  return e;
}

// ---- encodings ---------------------------------------------------------------------

const utf8 = new TextEncoder();
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function normEncoding(enc) {
  if (enc === undefined || enc === null || enc === "buffer") return null;
  const e = String(enc).toLowerCase();
  if (e === "utf8" || e === "utf-8") return "utf8";
  if (e === "latin1" || e === "binary") return "latin1";
  if (e === "ascii" || e === "hex" || e === "base64") return e;
  throw argError(`The argument 'encoding' is invalid encoding. Received '${enc}'`);
}

function decode(bytes, enc) {
  switch (enc) {
    case null:
      return bytes;
    case "utf8":
      return new TextDecoder().decode(bytes);
    case "latin1":
    case "ascii": {
      const mask = enc === "ascii" ? 0x7f : 0xff;
      let s = "";
      for (let i = 0; i < bytes.length; i += 8192) {
        s += String.fromCharCode(...Array.from(bytes.subarray(i, i + 8192), (b) => b & mask));
      }
      return s;
    }
    case "hex":
      return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    case "base64": {
      let s = "";
      for (let i = 0; i < bytes.length; i += 3) {
        const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
        s += B64[n >> 18] + B64[(n >> 12) & 63];
        s += i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=";
        s += i + 2 < bytes.length ? B64[n & 63] : "=";
      }
      return s;
    }
  }
}

function encode(data, enc) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (typeof data !== "string") {
    throw argError(
      'The "data" argument must be of type string or an instance of Uint8Array',
      "ERR_INVALID_ARG_TYPE",
    );
  }
  switch (enc ?? "utf8") {
    case "utf8":
      return utf8.encode(data);
    case "latin1":
    case "ascii":
      return Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
    case "hex": {
      const out = new Uint8Array(data.length >> 1);
      for (let i = 0; i < out.length; i++) {
        const b = parseInt(data.substr(i * 2, 2), 16);
        if (Number.isNaN(b)) return out.subarray(0, i);
        out[i] = b;
      }
      return out;
    }
    case "base64": {
      const clean = data.replace(/[^A-Za-z0-9+/\-_]/g, "");
      const out = [];
      let acc = 0;
      let bits = 0;
      for (const ch of clean) {
        const v = ch === "-" ? 62 : ch === "_" ? 63 : B64.indexOf(ch);
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out.push((acc >> bits) & 0xff);
        }
      }
      return new Uint8Array(out);
    }
  }
}

/** `options` as Node accepts it: an encoding string or an object. */
function opts(options, defaults = {}) {
  if (options === undefined || options === null) return { ...defaults };
  if (typeof options === "string") return { ...defaults, encoding: options };
  return { ...defaults, ...options };
}

function pathArg(path) {
  if (typeof path === "string") return path;
  if (typeof URL !== "undefined" && path instanceof URL) return decodeURIComponent(path.pathname);
  if (path instanceof Uint8Array) return new TextDecoder().decode(path);
  throw argError(
    'The "path" argument must be of type string or an instance of Buffer or URL',
    "ERR_INVALID_ARG_TYPE",
  );
}

// ---- stats -------------------------------------------------------------------------

const S_IFMT = 0o170000;
const TYPE_BITS = {
  "regular-file": 0o100000,
  directory: 0o040000,
  "symbolic-link": 0o120000,
  "block-device": 0o060000,
  "character-device": 0o020000,
  fifo: 0o010000,
  socket: 0o140000,
  unknown: 0,
};

const ms = (t) => (t ? t.seconds * 1000 + t.nanoseconds / 1e6 : 0);

/** Like Node's `fs.Stats`. */
export class Stats {
  constructor(st) {
    this.dev = st.device;
    this.ino = st.inode;
    this.mode = (TYPE_BITS[st.type] ?? 0) | st.mode;
    this.nlink = st.linkCount;
    this.uid = 0;
    this.gid = 0;
    this.rdev = 0;
    this.size = st.size;
    this.blksize = 4096;
    this.blocks = Math.ceil(st.size / 512);
    this.atimeMs = ms(st.accessed);
    this.mtimeMs = ms(st.modified);
    this.ctimeMs = ms(st.changed);
    this.birthtimeMs = ms(st.created);
    this.atime = new Date(this.atimeMs);
    this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
  }
  isFile() {
    return (this.mode & S_IFMT) === 0o100000;
  }
  isDirectory() {
    return (this.mode & S_IFMT) === 0o040000;
  }
  isSymbolicLink() {
    return (this.mode & S_IFMT) === 0o120000;
  }
  isBlockDevice() {
    return (this.mode & S_IFMT) === 0o060000;
  }
  isCharacterDevice() {
    return (this.mode & S_IFMT) === 0o020000;
  }
  isFIFO() {
    return (this.mode & S_IFMT) === 0o010000;
  }
  isSocket() {
    return (this.mode & S_IFMT) === 0o140000;
  }
}

/** Like Node's `fs.Dirent`. */
export class Dirent {
  constructor(name, type, parentPath) {
    this.name = name;
    this.parentPath = parentPath;
    this.path = parentPath;
    this._type = type;
  }
  isFile() {
    return this._type === "regular-file";
  }
  isDirectory() {
    return this._type === "directory";
  }
  isSymbolicLink() {
    return this._type === "symbolic-link";
  }
  isBlockDevice() {
    return this._type === "block-device";
  }
  isCharacterDevice() {
    return this._type === "character-device";
  }
  isFIFO() {
    return this._type === "fifo";
  }
  isSocket() {
    return this._type === "socket";
  }
}

// ---- constants ---------------------------------------------------------------------

/** `fs.constants` (the ones this module understands, Linux values). */
export const constants = Object.freeze({
  F_OK: 0,
  R_OK: 4,
  W_OK: 2,
  X_OK: 1,
  COPYFILE_EXCL: 1,
  COPYFILE_FICLONE: 2,
  COPYFILE_FICLONE_FORCE: 4,
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  S_IFMT,
  S_IFREG: 0o100000,
  S_IFDIR: 0o040000,
  S_IFLNK: 0o120000,
});

/** Node's string flags -> aiofs (Python) binary modes. */
const FLAGS = {
  r: "rb",
  rs: "rb",
  sr: "rb",
  "r+": "r+b",
  "rs+": "r+b",
  "sr+": "r+b",
  w: "wb",
  "w+": "w+b",
  wx: "xb",
  xw: "xb",
  "wx+": "x+b",
  "xw+": "x+b",
  a: "ab",
  as: "ab",
  sa: "ab",
  "a+": "a+b",
  "as+": "a+b",
  "sa+": "a+b",
};

function mode(flags, syscall, path) {
  const m = FLAGS[flags ?? "r"];
  if (!m) throw fsError("invalid", syscall, path);
  return m;
}

// ---- FileHandle --------------------------------------------------------------------

let nextFd = 3;
/** Most bytes one read asks the host for (the host may cap it lower). */
const CHUNK = 1 << 20;

/** Like Node's `FileHandle`, over an aiofs `file`. */
export class FileHandle {
  constructor(file, path) {
    this._file = file;
    this._path = path;
    this.fd = nextFd++;
  }

  _f(syscall) {
    if (!this._file) throw fsError("bad-descriptor", syscall);
    return this._file;
  }

  /** Run `op` at `position` (if a number) without moving the file position. */
  async _at(position, syscall, op) {
    const f = this._f(syscall);
    if (typeof position !== "number" && typeof position !== "bigint") return op(f);
    const back = await call(syscall, undefined, f.tell());
    await call(syscall, undefined, f.seek(Number(position), "start"));
    try {
      return await op(f);
    } finally {
      await call(syscall, undefined, f.seek(back, "start"));
    }
  }

  /** `read(buffer, offset, length, position)` or `read({ buffer, offset, length, position })`. */
  async read(buffer, offset, length, position) {
    if (buffer !== undefined && !ArrayBuffer.isView(buffer)) {
      ({ buffer, offset, length, position } = buffer);
    }
    buffer ??= new Uint8Array(16384);
    const view = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    offset ??= 0;
    length ??= view.length - offset;
    const data = await this._at(position, "read", (f) => call("read", undefined, f.read(length)));
    view.set(data, offset);
    return { bytesRead: data.length, buffer };
  }

  /** `write(buffer, offset, length, position)` or `write(string, position, encoding)`. */
  async write(data, offset, length, position) {
    let bytes;
    if (typeof data === "string") {
      position = offset;
      bytes = encode(data, normEncoding(length ?? "utf8"));
    } else {
      const view = encode(data);
      offset ??= 0;
      length ??= view.length - offset;
      bytes = view.subarray(offset, offset + length);
    }
    const n = await this._at(position, "write", (f) => call("write", undefined, f.write(bytes)));
    return { bytesWritten: n, buffer: data };
  }

  /** The rest of the file from the current position. */
  async readFile(options) {
    const { encoding } = opts(options);
    const enc = normEncoding(encoding);
    const f = this._f("read");
    const parts = [];
    let total = 0;
    for (;;) {
      const chunk = await call("read", undefined, f.read(CHUNK));
      if (chunk.length === 0) break;
      parts.push(chunk);
      total += chunk.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return decode(out, enc);
  }

  /** Write `data` at the current position (at the end in append mode). */
  async writeFile(data, options) {
    const { encoding } = opts(options, { encoding: "utf8" });
    await call("write", undefined, this._f("write").write(encode(data, normEncoding(encoding))));
  }

  /** The same as `writeFile` (append or not is the open flag's business). */
  async appendFile(data, options) {
    return this.writeFile(data, options);
  }

  async stat() {
    return new Stats(await call("fstat", undefined, this._f("fstat").stat()));
  }

  async truncate(len = 0) {
    await call("ftruncate", undefined, this._f("ftruncate").truncate(len));
  }

  async sync() {
    await call("fsync", undefined, this._f("fsync").sync());
  }

  async datasync() {
    await call("fdatasync", undefined, this._f("fdatasync").syncData());
  }

  async close() {
    const f = this._file;
    if (!f) return;
    this._file = null;
    try {
      await call("close", undefined, f.close());
    } finally {
      f[Symbol.dispose]();
    }
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }

  /**
   * The lines from the current position, without their line endings (`\n` or `\r\n`),
   * decoded as UTF-8: `for await (const line of fh.readLines()) ...`. Lines are fetched
   * in batches of 256 per host call.
   */
  readLines(options) {
    const enc = normEncoding(opts(options, { encoding: "utf8" }).encoding ?? "utf8");
    const handle = this;
    return {
      async *[Symbol.asyncIterator]() {
        const f = handle._f("read");
        for (;;) {
          const batch = await call("read", undefined, f.readLines(256));
          if (batch.length === 0) return;
          for (let line of batch) {
            let end = line.length;
            if (end && line[end - 1] === 10) end--;
            if (end && line[end - 1] === 13) end--;
            yield decode(line.subarray(0, end), enc);
          }
        }
      },
    };
  }

  /**
   * The bytes from the current position to the end, as `Uint8Array` chunks streamed by
   * the host (`read-via-stream`): `for await (const chunk of fh) ...`.
   */
  async *[Symbol.asyncIterator]() {
    const [stream, done] = this._f("read").readViaStream();
    try {
      for await (const chunk of stream) yield chunk;
    } finally {
      stream.drop?.();
    }
    const result = await done.read();
    if (result?.tag === "err") throw fsError(result.val, "read", this._path);
  }
}

// ---- functions ---------------------------------------------------------------------

/** Open `path` with Node's string `flags` (default "r"). */
export async function open(path, flags = "r") {
  path = pathArg(path);
  const file = await call("open", path, files.open(path, mode(flags, "open", path)));
  return new FileHandle(file, path);
}

/** The whole file; a string if `options` names an encoding. */
export async function readFile(path, options) {
  if (path instanceof FileHandle) return path.readFile(options);
  const { encoding, flag } = opts(options);
  const enc = normEncoding(encoding);
  path = pathArg(path);
  if (flag && flag !== "r") {
    const fh = await open(path, flag);
    try {
      return await fh.readFile(enc);
    } finally {
      await fh.close();
    }
  }
  return decode(await call("open", path, files.readFile(path, Number.MAX_SAFE_INTEGER)), enc);
}

/** Create or replace `path` with `data` (flag "a" appends, "wx" fails if it exists). */
export async function writeFile(path, data, options) {
  if (path instanceof FileHandle) return path.writeFile(data, options);
  const { encoding, flag = "w" } = opts(options, { encoding: "utf8" });
  path = pathArg(path);
  const bytes = encode(data, normEncoding(encoding));
  if (flag === "w") {
    await call("open", path, files.writeFile(path, bytes, false));
    return;
  }
  const fh = await open(path, flag);
  try {
    await fh.writeFile(bytes);
  } finally {
    await fh.close();
  }
}

/** Append `data` to `path`, creating it if missing. */
export async function appendFile(path, data, options) {
  if (path instanceof FileHandle) return path.appendFile(data, options);
  return writeFile(path, data, { ...opts(options, { encoding: "utf8" }), flag: "a" });
}

/** Names in a directory, or `Dirent`s with `{ withFileTypes: true }`. */
export async function readdir(path, options) {
  path = pathArg(path);
  const { withFileTypes, encoding } = opts(options);
  if (options?.recursive) throw fsError("unsupported", "scandir", path);
  if (!withFileTypes) {
    const names = await call("scandir", path, aos.listdir(path));
    return encoding === "buffer" ? names.map((n) => utf8.encode(n)) : names;
  }
  const entries = await call("scandir", path, aos.scandir(path, false));
  return entries.map((e) => new Dirent(e.name, e.type, path));
}

export async function stat(path) {
  path = pathArg(path);
  return new Stats(await call("stat", path, aos.stat(path)));
}

export async function lstat(path) {
  path = pathArg(path);
  return new Stats(await call("lstat", path, aos.lstat(path)));
}

/** Resolves if `path` exists and allows `mode` (`constants.R_OK | W_OK | X_OK`, default F_OK). */
export async function access(path, mode = constants.F_OK) {
  path = pathArg(path);
  const want = { read: !!(mode & 4), write: !!(mode & 2), execute: !!(mode & 1) };
  if (await call("access", path, aos.access(path, want))) return;
  const exists = await call("access", path, apath.exists(path));
  throw fsError(exists ? "access" : "no-entry", "access", path);
}

/** Create a directory; `{ recursive: true }` creates parents and returns the first created. */
export async function mkdir(path, options) {
  path = pathArg(path);
  const recursive = typeof options === "object" && options !== null && options.recursive;
  if (!recursive) {
    await call("mkdir", path, aos.mkdir(path));
    return undefined;
  }
  // The first missing ancestor is what Node reports as created.
  let first;
  let p = path.replace(/\/+$/, "");
  while (p && !(await call("mkdir", path, apath.exists(p)))) {
    first = p;
    const cut = p.lastIndexOf("/");
    p = cut > 0 ? p.slice(0, cut) : "";
  }
  await call("mkdir", path, aos.makedirs(path, true));
  return first;
}

/** Remove a file, or a directory tree with `recursive`; `force` ignores a missing path. */
export async function rm(path, options = {}) {
  path = pathArg(path);
  const { recursive = false, force = false } = options;
  let st;
  try {
    st = await call("rm", path, aos.lstat(path));
  } catch (e) {
    if (force && e.code === "ENOENT") return;
    throw e;
  }
  if (st.type === "directory") {
    if (!recursive) {
      const e = fsError("is-directory", "rm", path);
      e.code = "ERR_FS_EISDIR";
      e.message = `Path is a directory: rm returned EISDIR (is a directory) ${path}`;
      throw e;
    }
    await call("rm", path, aos.removeTree(path));
  } else {
    await call("rm", path, aos.remove(path));
  }
}

export async function rmdir(path) {
  path = pathArg(path);
  await call("rmdir", path, aos.rmdir(path));
}

export async function unlink(path) {
  path = pathArg(path);
  await call("unlink", path, aos.unlink(path));
}

/** Rename, replacing an existing file at `newPath`. */
export async function rename(oldPath, newPath) {
  oldPath = pathArg(oldPath);
  newPath = pathArg(newPath);
  await call("rename", oldPath, aos.replace(oldPath, newPath), newPath);
}

/** Copy a file's content; `constants.COPYFILE_EXCL` fails if `dest` exists. */
export async function copyFile(src, dest, mode = 0) {
  src = pathArg(src);
  dest = pathArg(dest);
  if (mode & constants.COPYFILE_EXCL && (await call("copyfile", src, apath.exists(dest), dest))) {
    throw fsError("exist", "copyfile", src, dest);
  }
  await call("copyfile", src, aos.copyFile(src, dest), dest);
}

export async function link(existingPath, newPath) {
  existingPath = pathArg(existingPath);
  newPath = pathArg(newPath);
  await call("link", existingPath, aos.link(existingPath, newPath), newPath);
}

/** Create a symbolic link at `path` pointing to `target` (relative targets only). */
export async function symlink(target, path) {
  target = pathArg(target);
  path = pathArg(path);
  await call("symlink", target, aos.symlink(target, path), path);
}

export async function readlink(path) {
  path = pathArg(path);
  return call("readlink", path, aos.readlink(path));
}

/** Resize the file at `path` to `len` bytes. */
export async function truncate(path, len = 0) {
  const fh = await open(pathArg(path), "r+");
  try {
    await fh.truncate(len);
  } finally {
    await fh.close();
  }
}

/** Create a directory named `prefix` + 6 random characters and return its path. */
export async function mkdtemp(prefix) {
  prefix = pathArg(prefix);
  const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (;;) {
    let name = prefix;
    for (let i = 0; i < 6; i++) name += chars[Math.floor(Math.random() * chars.length)];
    try {
      await call("mkdtemp", name, aos.mkdir(name));
      return name;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
    }
  }
}

/** What aiofs cannot do (owners, modes, times, watching): rejects with `ENOTSUP`. */
function unsupported(syscall) {
  return async (path) => {
    throw fsError("unsupported", syscall, typeof path === "string" ? path : undefined);
  };
}
export const chmod = unsupported("chmod");
export const lchmod = unsupported("lchmod");
export const chown = unsupported("chown");
export const lchown = unsupported("lchown");
export const utimes = unsupported("utime");
export const lutimes = unsupported("lutime");
export const opendir = unsupported("opendir");
export const realpath = unsupported("realpath");
export const statfs = unsupported("statfs");
export const watch = unsupported("watch");
export const cp = unsupported("cp");

export default {
  chmod,
  lchmod,
  chown,
  lchown,
  utimes,
  lutimes,
  opendir,
  realpath,
  statfs,
  watch,
  cp,
  open,
  readFile,
  writeFile,
  appendFile,
  readdir,
  stat,
  lstat,
  access,
  mkdir,
  rm,
  rmdir,
  unlink,
  rename,
  copyFile,
  link,
  symlink,
  readlink,
  truncate,
  mkdtemp,
  constants,
  FileHandle,
  Stats,
  Dirent,
};
