// Generates the expected text of numbers and JSON as JavaScript writes them, for tests/test_js_text.py.
//
//   node tests/data/js_numbers.mjs   (writes js_numbers.txt and js_json.ndjson beside this script)
//
// js_numbers.txt: one double a line, `<16 hex digits of its IEEE 754 bits> <String(x)> <JSON.stringify(x)>`.
// js_json.ndjson: one line a value, `[<the value as JSON>, <JSON.stringify(value)>]`.
// Seeded, so running it again writes the same files.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// mulberry32: a small seeded generator, so the data is the same on every run
let seed = 0x5eed1234;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];

const buf = new DataView(new ArrayBuffer(8));
function hex(x) {
  buf.setFloat64(0, x);
  let s = "";
  for (let i = 0; i < 8; i++) s += buf.getUint8(i).toString(16).padStart(2, "0");
  return s;
}
function fromBits() {
  for (let i = 0; i < 8; i++) buf.setUint8(i, int(256));
  return buf.getFloat64(0);
}
function next(x, dir) { // the neighbouring double
  buf.setFloat64(0, x);
  let bits = buf.getBigUint64(0);
  bits += (x >= 0) === (dir > 0) ? 1n : -1n;
  buf.setBigUint64(0, bits);
  return buf.getFloat64(0);
}

const doubles = [0, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE,
  Number.EPSILON, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53 + 2, 0.1, 0.2, 0.1 + 0.2, 1 / 3,
  0.000001, 1e-7, 1.2345678901234568e20, 1e21, 123456789012345680000, 5e-324, 1.7976931348623157e308];
for (let e = -330; e <= 310; e++) { // powers of ten and their neighbours: where the notation switches
  const x = Number(`1e${e}`);
  doubles.push(x, next(x, 1), next(x, -1), -x, Number(`9.999999999999999e${e}`), Number(`5e${e}`));
}
while (doubles.length < 3000) { const x = fromBits(); if (Number.isFinite(x)) doubles.push(x); }
while (doubles.length < 5000) { // integers of every size
  const digits = 1 + int(25);
  let s = String(1 + int(9));
  for (let i = 1; i < digits; i++) s += String(int(10));
  doubles.push((rand() < 0.3 ? -1 : 1) * Number(s));
}
while (doubles.length < 7500) { // decimals as people write them: prices, ratios, coordinates
  const whole = String(int(10 ** (1 + int(8))));
  let frac = "";
  for (let i = 0, n = 1 + int(12); i < n; i++) frac += String(int(10));
  doubles.push((rand() < 0.3 ? -1 : 1) * Number(`${whole}.${frac}`));
}
while (doubles.length < 11000) { // any mantissa at any exponent
  const m = rand() * 10;
  doubles.push((rand() < 0.5 ? -1 : 1) * m * 10 ** (int(640) - 324));
}
const seen = new Set();
const lines = [];
for (const x of doubles) {
  const h = hex(x);
  if (seen.has(h)) continue;
  seen.add(h);
  lines.push(`${h} ${String(x)} ${JSON.stringify(x)}`);
}
writeFileSync(join(here, "js_numbers.txt"), lines.join("\n") + "\n");

// nested values for JSON.stringify: keys in their order (never integer-like: JavaScript moves those first),
// strings with quotes, escapes, control characters, non-ASCII and lone surrogates
const chars = ["a", "Z", " ", '"', "\\", "/", "\n", "\t", "\u0000", "\u001f", "\u007f", "é", "€", "😀", "\u2028",
  "\ud800", "\udfff", "{", "}", ":"];
function text() { let s = ""; for (let i = 0, n = int(8); i < n; i++) s += pick(chars); return s; }
function value(depth) {
  const r = rand();
  if (depth > 3 || r < 0.35) {
    return pick([() => pick(doubles.filter(Number.isFinite)), () => int(1000), text, () => true, () => false,
      () => null])();
  }
  if (r < 0.65) return Array.from({ length: int(5) }, () => value(depth + 1));
  const o = {};
  for (let i = 0, n = int(5); i < n; i++) o["k" + text()] = value(depth + 1);
  return o;
}
const values = [];
for (let i = 0; i < 1000; i++) {
  const v = value(0);
  values.push(JSON.stringify([v, JSON.stringify(v)]));
}
writeFileSync(join(here, "js_json.ndjson"), values.join("\n") + "\n");
