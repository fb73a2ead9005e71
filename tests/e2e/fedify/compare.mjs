// Holds fedtrace's JSON API against what Fedify's own FedifySpanExporter
// stored in the same run (the file app.mjs writes).
//
//   node compare.mjs FEDIFY_JSON UI_BASE_URL [LABEL]
//
// Asserts:
//  - the scenario really happened: Follow, Accept, Create, Like and Undo
//    both inbound and outbound, and deliveries whose HTTP signatures failed
//    (invalidSignature and keyFetchError), so the test cannot pass on
//    empty data;
//  - GET /api/traces?limit=1000 lists exactly Fedify's traces, newest
//    first, each with the same timestamp, activityCount and activityTypes
//    (in order);
//  - GET /api/traces/{traceId} returns the same records as
//    getActivitiesByTraceId(), matched by spanId + activityId regardless of
//    order, every field deep-equal (activityJson, signatureDetails, …),
//    with no field missing or extra.
// Prints every difference and exits 1 if there is any.

import { readFile } from "node:fs/promises";

const [fedifyPath, uiBase, label = "compare"] = process.argv.slice(2);
if (!fedifyPath || !uiBase) {
  console.error("usage: compare.mjs FEDIFY_JSON UI_BASE_URL [LABEL]");
  process.exit(2);
}
const base = uiBase.replace(/\/+$/, "");
const fedify = JSON.parse(await readFile(fedifyPath, "utf8"));

const problems = [];
const fail = (msg) => problems.push(msg);

function show(value, max = 400) {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

// Where two strings part, with a little context either side.
function stringDiff(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const from = Math.max(0, i - 40);
  return `first difference at offset ${i}:\n` +
    `        fedify:   …${JSON.stringify(a.slice(from, i + 80))}\n` +
    `        fedtrace: …${JSON.stringify(b.slice(from, i + 80))}`;
}

// Deep comparison; pushes one line per differing leaf.
function diff(path, want, got, out) {
  if (typeof want === "string" && typeof got === "string") {
    if (want !== got) {
      out.push(
        want.length > 120 || got.length > 120
          ? `${path}: ${stringDiff(want, got)}`
          : `${path}: fedify ${show(want)}, fedtrace ${show(got)}`,
      );
    }
    return;
  }
  const isObj = (v) => v !== null && typeof v === "object";
  if (Array.isArray(want) || Array.isArray(got)) {
    if (!Array.isArray(want) || !Array.isArray(got) || want.length !== got.length) {
      out.push(`${path}: fedify ${show(want)}, fedtrace ${show(got)}`);
      return;
    }
    want.forEach((w, i) => diff(`${path}[${i}]`, w, got[i], out));
    return;
  }
  if (isObj(want) && isObj(got)) {
    const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
    for (const k of [...keys].sort()) {
      diff(path ? `${path}.${k}` : k, want[k], got[k], out);
    }
    return;
  }
  if (!Object.is(want, got)) {
    out.push(`${path}: fedify ${show(want)}, fedtrace ${show(got)}`);
  }
}

async function getJson(path) {
  const url = `${base}${path}`;
  let res;
  try {
    res = await fetch(url, {
      headers: { Accept: "application/json" },
      signal: AbortSignal.timeout(15000),
    });
  } catch (err) {
    throw new Error(`GET ${url}: ${err?.cause?.message ?? err?.message ?? err}`);
  }
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`GET ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`GET ${url}: not JSON: ${text.slice(0, 300)}`);
  }
}

// ------------------------------------------------ the scenario happened

const allRecords = Object.values(fedify.activities ?? {}).flat();
const shortType = (t) => String(t).replace(/^.*[#/]/, "");
for (const direction of ["inbound", "outbound"]) {
  for (const type of ["Follow", "Accept", "Create", "Like", "Undo"]) {
    if (
      !allRecords.some((r) =>
        r.direction === direction && shortType(r.activityType) === type
      )
    ) {
      fail(`scenario: Fedify stored no ${direction} ${type}`);
    }
  }
}
for (const reason of ["invalidSignature", "keyFetchError"]) {
  if (
    !allRecords.some((r) =>
      r.verified === false &&
      r.signatureDetails?.httpSignaturesFailureReason === reason
    )
  ) {
    fail(`scenario: Fedify stored no unverified delivery (${reason})`);
  }
}
if (!Array.isArray(fedify.traces) || fedify.traces.length === 0) {
  fail("scenario: Fedify stored no traces");
}

// ------------------------------------------------ GET /api/traces

let listed;
try {
  listed = await getJson("/api/traces?limit=1000");
} catch (err) {
  fail(err.message);
}
if (listed === undefined) {
  // already reported
} else if (!Array.isArray(listed)) {
  fail(`/api/traces: expected a JSON array, got ${show(listed, 200)}`);
} else {
  const want = new Map(fedify.traces.map((t) => [t.traceId, t]));
  const got = new Map();
  for (const t of listed) {
    if (got.has(t?.traceId)) fail(`/api/traces: ${t.traceId} listed twice`);
    got.set(t?.traceId, t);
  }
  for (const [id, t] of want) {
    if (!got.has(id)) {
      fail(`/api/traces: missing trace ${id} (${show(t)})`);
      continue;
    }
    // Fedify's TraceSummary fields; fedtrace adds its own (directions,
    // services, ...), which Fedify does not have.
    const g = got.get(id);
    const view = Object.fromEntries(Object.keys(t).map((k) => [k, g[k]]));
    const out = [];
    diff("", t, view, out);
    for (const line of out) fail(`/api/traces ${id}: ${line}`);
    if (!Array.isArray(g.directions) || typeof g.verificationFailed !== "boolean")
      fail(`/api/traces ${id}: fedtrace's summary fields missing (${show(g, 200)})`);
  }
  for (const [id, t] of got) {
    if (!want.has(id)) fail(`/api/traces: extra trace ${id} (${show(t)})`);
  }
  // Newest first, as getRecentTraces() orders them.
  for (let i = 1; i < listed.length; i++) {
    const prev = String(listed[i - 1]?.timestamp);
    const cur = String(listed[i]?.timestamp);
    if (prev.localeCompare(cur) < 0) {
      fail(
        `/api/traces: not newest first at index ${i}: ` +
          `${listed[i - 1]?.traceId} ${prev} before ${listed[i]?.traceId} ${cur}`,
      );
    }
  }
}

// ------------------------------------------------ GET /api/traces/{id}

const recordKey = (r) => `${r?.spanId} ${r?.activityId}`;
let recordsCompared = 0;
for (const summary of fedify.traces) {
  const id = summary.traceId;
  const want = fedify.activities[id] ?? [];
  let got;
  try {
    got = await getJson(`/api/traces/${encodeURIComponent(id)}`);
  } catch (err) {
    fail(`/api/traces/${id}: ${err.message}`);
    continue;
  }
  if (!Array.isArray(got)) {
    fail(`/api/traces/${id}: expected a JSON array, got ${show(got, 200)}`);
    continue;
  }
  if (got.length !== want.length) {
    fail(
      `/api/traces/${id}: ${got.length} records, Fedify stored ${want.length}`,
    );
  }
  const remaining = [...got];
  for (const w of want) {
    const i = remaining.findIndex((g) => recordKey(g) === recordKey(w));
    if (i < 0) {
      fail(
        `/api/traces/${id}: no record for span ${w.spanId} ` +
          `activity ${w.activityId} (${w.direction} ${w.activityType})`,
      );
      continue;
    }
    const [g] = remaining.splice(i, 1);
    const out = [];
    diff("", w, g, out);
    for (const line of out) {
      fail(`/api/traces/${id} span ${w.spanId} (${w.direction} ${shortType(w.activityType)}): ${line}`);
    }
    recordsCompared++;
  }
  for (const g of remaining) {
    fail(`/api/traces/${id}: extra record ${show(g, 300)}`);
  }
}

// ------------------------------------------------ verdict

if (problems.length > 0) {
  console.error(`${label}: ${problems.length} difference(s) between Fedify and fedtrace:`);
  for (const p of problems) console.error(`  - ${p}`);
  console.error(`${label}: FAILED`);
  process.exit(1);
}
console.log(
  `${label}: ok: ${fedify.traces.length} traces and ${recordsCompared} ` +
    `activity records equal to Fedify's`,
);
