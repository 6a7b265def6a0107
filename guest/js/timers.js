// Timers for aiofs JavaScript guests, over wasi:clocks@0.3.0 `wait-for` (an async import:
// a waiting timer is a pending host call, so the guest keeps running other work).
// Bundled by aiofs-jsgen as `node:timers/promises` (`setTimeout(ms, value)`,
// `setImmediate(value)`); `node:process` installs the global `setTimeout`,
// `clearTimeout`, `setInterval`, `clearInterval` and `setImmediate` from here.
//
// The program ends when its `run` export settles: timers still pending then are
// dropped, not waited for (unlike Node), so await what must happen.

import clock from "wasi:clocks/monotonic-clock@0.3.0";

const wait = (ms) => clock.waitFor(Math.max(0, Math.round(Number(ms) || 0) * 1e6));

/** Resolve with `value` after `ms` milliseconds. */
export function setTimeout(ms, value) {
  return wait(ms).then(() => value);
}

/** Resolve with `value` after the current work (a zero-length wait). */
export function setImmediate(value) {
  return wait(0).then(() => value);
}

let nextId = 1;
const live = new Set();

/** Callback timers, installed as globals by node:process. */
export const callbacks = {
  setTimeout(fn, ms, ...args) {
    const id = nextId++;
    live.add(id);
    wait(ms).then(() => {
      if (live.delete(id)) fn(...args);
    });
    return id;
  },
  setInterval(fn, ms, ...args) {
    const id = nextId++;
    live.add(id);
    const tick = () =>
      wait(ms).then(() => {
        if (!live.has(id)) return;
        fn(...args);
        tick();
      });
    tick();
    return id;
  },
  setImmediate(fn, ...args) {
    return callbacks.setTimeout(fn, 0, ...args);
  },
  clearTimeout(id) {
    live.delete(id);
  },
  clearInterval(id) {
    live.delete(id);
  },
  clearImmediate(id) {
    live.delete(id);
  },
};

export default { setTimeout, setImmediate };
