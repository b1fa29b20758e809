// Expected results of Segment's ISO-date traversal (segmentio/isodate `is` with strict, then `parse`) for
// tests/test_classic_mapping.py: node's own Date.UTC and toISOString do the calendar arithmetic (rolling a
// day 31 of February into March, a negative zone offset across a year, a year below 100 into 19xx).
//
//   node tests/data/iso_dates.mjs   (writes iso_dates.txt beside this script: `<input>\t<JSON of the result>`)
//
// What isodate documents, restated: the text must start YYYY-MM-DD and match its lax ISO 8601 pattern; a
// missing part is 0, a month or a day of 0 is 1, a fraction is its first three digits, a space before the time
// means local time (this script runs with TZ=UTC, as Segment's servers do), and a zone after `T` shifts the
// minutes. Anything else is left as it is.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

process.env.TZ = "UTC";
const here = dirname(fileURLToPath(import.meta.url));
const pattern = /^(\d{4})-(\d{2})-(\d{2})(?:([ T])(\d{2}):?(\d{2})(?::?(\d{2})(?:[,.](\d+))?)?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

function convert(text) {
  const m = pattern.exec(text);
  if (!m) return text;
  const n = (s, d) => parseInt(s, 10) || d;
  let offset = 0;
  if (m[4] === " ") offset = new Date().getTimezoneOffset();
  else if (m[9] !== "Z" && m[10]) offset = (m[10] === "+" ? -1 : 1) * (n(m[11], 0) * 60 + n(m[12], 0));
  const ms = m[8] ? Number((m[8] + "00").substring(0, 3)) : 0;
  const date = new Date(Date.UTC(n(m[1], 0), n(m[2], 1) - 1, n(m[3], 1), n(m[5], 0), n(m[6], 0) + offset,
                                 n(m[7], 0), ms));
  return date.toJSON();  // what JSON.stringify writes for the Date
}

let seed = 0x150da7e;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const pad = (x, w) => String(x).padStart(w, "0");
const pick = (xs) => xs[int(xs.length)];

const inputs = ["2015-02-03", "2015-02-03T10:00:00Z", "2015-02-30", "2016-02-29", "2015-13-01", "2015-00-00",
  "0050-06-15", "0000-01-01", "0100-01-01", "9999-12-31T23:59:59.999Z", "2015-02-03T10:00+01:00",
  "2015-02-03 10:00+01:00", "2015-02-03T10", "2015-02-03T1000", "2015-02-03T10:00:00.1Z", "2015-02-03T99:99:99Z",
  "2015-02-03T10:00:00.123456789-0530", "2015-02-03T10:00:00,5+05", "2015-02-03x", "2015-2-3", "15-02-03",
  "2015-02-03T10:00:00Z ", " 2015-02-03", "2015/02/03", "2015-02-03T", "2015-02-03Z", "not a date", ""];
while (inputs.length < 2500) {
  let s = `${pad(pick([int(10000), 1900 + int(200), int(100)]), 4)}-${pad(int(100), 2)}-${pad(pick([int(32), int(100)]), 2)}`;
  if (rand() < 0.8) {
    s += pick(["T", "T", " "]) + pad(pick([int(24), int(100)]), 2) + pick([":", ""]) + pad(int(100), 2);
    if (rand() < 0.7) {
      s += pick([":", ""]) + pad(int(100), 2);
      if (rand() < 0.5) s += pick([".", ","]) + String(int(10 ** (1 + int(6))));
    }
    const zone = rand();
    if (zone < 0.3) s += "Z";
    else if (zone < 0.7) s += pick(["+", "-"]) + pad(pick([int(15), int(100)]), 2) + pick([":", "", "-"]) + pad(int(60), 2);
    else if (zone < 0.8) s += pick(["+", "-"]) + pad(int(24), 2);
  }
  if (rand() < 0.05) s += pick(["x", " ", "\n", "Z"]);
  inputs.push(s);
}
const lines = inputs.map((s) => `${JSON.stringify(s)}\t${JSON.stringify(convert(s))}`);
writeFileSync(join(here, "iso_dates.txt"), lines.join("\n") + "\n");
