// UTF-8 TextEncoder and TextDecoder for the QuickJS runtime of aiofs JavaScript guests
// (bundled by aiofs-jsgen). The runtime has a TextEncoder but no TextDecoder; importing
// this module installs whichever is missing on globalThis. Only UTF-8 is supported.

class Utf8Encoder {
  get encoding() {
    return "utf-8";
  }
  encode(text = "") {
    const s = String(text);
    const out = [];
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else
        out.push(
          0xf0 | (c >> 18),
          0x80 | ((c >> 12) & 63),
          0x80 | ((c >> 6) & 63),
          0x80 | (c & 63),
        );
    }
    return new Uint8Array(out);
  }
}

class Utf8Decoder {
  constructor(label = "utf-8", options = {}) {
    if (!/^(utf-?8|unicode-1-1-utf-8)$/i.test(String(label).trim())) {
      throw new RangeError(`TextDecoder: only utf-8 is supported, not ${label}`);
    }
    this.fatal = Boolean(options.fatal);
    this.ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding() {
    return "utf-8";
  }
  decode(input) {
    if (input === undefined) return "";
    const b =
      input instanceof Uint8Array
        ? input
        : ArrayBuffer.isView(input)
          ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
          : new Uint8Array(input);
    let i = 0;
    if (!this.ignoreBOM && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
    let out = "";
    let chunk = [];
    const bad = () => {
      if (this.fatal) throw new TypeError("The encoded data was not valid utf-8");
      chunk.push(0xfffd);
    };
    while (i < b.length) {
      const c = b[i];
      let cp = -1;
      let n = 0;
      if (c < 0x80) {
        cp = c;
        n = 1;
      } else if (c >= 0xc2 && c < 0xe0) {
        n = 2;
      } else if (c >= 0xe0 && c < 0xf0) {
        n = 3;
      } else if (c >= 0xf0 && c < 0xf5) {
        n = 4;
      }
      if (n === 0) {
        bad();
        i++;
        continue;
      }
      if (n > 1) {
        let v = c & (0xff >> (n + 1));
        let k = 1;
        for (; k < n && i + k < b.length; k++) {
          const d = b[i + k];
          const lo = k === 1 && c === 0xe0 ? 0xa0 : k === 1 && c === 0xf0 ? 0x90 : 0x80;
          const hi = k === 1 && c === 0xed ? 0x9f : k === 1 && c === 0xf4 ? 0x8f : 0xbf;
          if (d < lo || d > hi) break;
          v = (v << 6) | (d & 63);
        }
        if (k < n) {
          bad();
          i += k;
          continue;
        }
        cp = v;
      }
      if (cp >= 0x10000) {
        cp -= 0x10000;
        chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        chunk.push(cp);
      }
      i += n;
      if (chunk.length > 8192) {
        out += String.fromCharCode(...chunk);
        chunk = [];
      }
    }
    return out + String.fromCharCode(...chunk);
  }
}

export const TextEncoder = globalThis.TextEncoder ?? Utf8Encoder;
export const TextDecoder = globalThis.TextDecoder ?? Utf8Decoder;
globalThis.TextEncoder = TextEncoder;
globalThis.TextDecoder = TextDecoder;
