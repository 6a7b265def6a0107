// `node:process` for aiofs JavaScript guests (bundled by aiofs-jsgen; needs the world in
// guest/js/wit, which imports WASI's arguments, environment, stdout and stderr):
// `argv`, `env`, `exit`, `stdout.write`, `stderr.write`, `platform`.
//
// Importing it also installs Node's globals that the runtime lacks: a minimal `console`
// (log, info, debug to stdout; error, warn to stderr; arguments formatted roughly as
// Node does), `process`, TextEncoder/TextDecoder (UTF-8 only, ./text.js) and
// setTimeout/setInterval/setImmediate and their clear* (./timers.js). aiofs-jsgen
// imports it ahead of the entry module when it builds for the default world.
//
// Nothing here touches WASI at import time: a module is evaluated when the component is
// built, and a stream taken then would be a stale handle at run time.

import environment from "wasi:cli/environment@0.2.12";
import exitApi from "wasi:cli/exit@0.2.12";
import stdoutApi from "wasi:cli/stdout@0.2.12";
import stderrApi from "wasi:cli/stderr@0.2.12";
import { TextEncoder } from "./text.js";
import { callbacks as timers } from "./timers.js";

const encoder = new TextEncoder();

/** A writable standard stream: `write(string | Uint8Array)`. */
function stdStream(get) {
  let handle = null;
  return {
    write(chunk) {
      handle ??= get();
      let bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
      // blocking-write-and-flush takes at most 4096 bytes per call.
      for (let at = 0; at < bytes.length; at += 4096) {
        handle.blockingWriteAndFlush(bytes.subarray(at, at + 4096));
      }
      return true;
    },
  };
}

export const stdout = stdStream(() => stdoutApi.getStdout());
export const stderr = stdStream(() => stderrApi.getStderr());

let args = null;
let env = null;
const process = {
  /** `["aiofs", <program>, ...arguments]`, like Node's `[node, script, ...]`. */
  get argv() {
    args ??= ["aiofs", ...environment.getArguments()];
    return args;
  },
  stdout,
  stderr,
  /** The variables the host passed (`aiofs run --env K=V`); nothing is inherited. */
  get env() {
    env ??= Object.fromEntries(environment.getEnvironment());
    return env;
  },
  /** End the program now with `code` (0-255; default `process.exitCode`, else 0). */
  exit(code) {
    exitApi.exitWithCode(Number(code ?? process.exitCode ?? 0) & 0xff);
  },
  exitCode: undefined,
  platform: "wasi",
};
export default process;

function show(value) {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.stack ? `${value}\n${value.stack}` : String(value);
  if (value instanceof Uint8Array) return `<Buffer ${Array.from(value, (b) => b.toString(16).padStart(2, "0")).join(" ")}>`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
const line = (stream) => (...values) => {
  stream.write(values.map(show).join(" ") + "\n");
};
if (typeof globalThis.console === "undefined") {
  globalThis.console = {
    log: line(stdout),
    info: line(stdout),
    debug: line(stdout),
    error: line(stderr),
    warn: line(stderr),
  };
}
globalThis.process ??= process;
for (const [name, fn] of Object.entries(timers)) globalThis[name] ??= fn;
