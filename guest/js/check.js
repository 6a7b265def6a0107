// Assertions shared by the scenario guests (scenarios.js, fs_scenarios.js); imported by a
// relative path, as an app's own modules are.

/** Equality of plain values, arrays and byte arrays. */
export function same(a, b) {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  return a === b;
}

/** A readable rendering of `v` for failure messages. */
export function show(v) {
  if (v instanceof Uint8Array) return `bytes(${JSON.stringify(new TextDecoder().decode(v))})`;
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  return JSON.stringify(v);
}

/** Throw unless `got` equals `want`. */
export function check(got, want, what) {
  if (!same(got, want)) {
    throw new Error(`${what}: expected ${show(want)}, got ${show(got)}`);
  }
}
