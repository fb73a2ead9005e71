// replay.mjs - OTLP/HTTP protobuf request bodies replayed through Fedify
// 2.3.6's own FedifySpanExporter, timed.  Part of `make bench`
// (bench/run.sh, section "Ingest vs Fedify"); see bench/README.md.
//
//   node replay.mjs --store memory|redis://HOST:PORT --spans DIR
//                   [--warmup DIR] [--runs N] [--run R] [--name NAME]
//                   [--clk-tck HZ]
//   node replay.mjs --check DIR     (DIR: tests/data/fedify-2.3.6)
//
// --spans DIR: the bodies `ft_loadgen --dump-dir` wrote (any *.pb, replayed
// in file-name order, which is the order each connection sends them).
// They are decoded (a small protobuf reader for the fields of
// ExportTraceServiceRequest) and rebuilt as the ReadableSpan objects the
// OpenTelemetry JS SDK 2.x hands a span exporter (name, kind, spanContext(),
// parentSpanContext, startTime / endTime / duration as HrTime, attributes,
// events with their attributes and time, links, status, resource,
// instrumentationScope) before the clock starts.
//
// Each run: a fresh store (a new MemoryKvStore, or a new RedisKvStore key
// prefix "fedify-NAME-rRUN::" on the Redis server (runs R, R+1, ...;
// --run R, default 1), through
// tests/e2e/fedify-kv/stores.mjs: @fedify/redis's RedisKvStore plus the
// list() FedifySpanExporter reads through), a new FedifySpanExporter on it;
// the --warmup bodies exported first, not timed; then every --spans body is
// passed to export() as one batch (the spans of one OTLP request: what a
// BatchSpanProcessor hands its exporter), one export at a time, each
// awaited until its result callback (as BatchSpanProcessor does).  A
// callback with anything but SUCCESS fails the run.  Fedify's exporter
// resolves an export only when every KvStore.set of it has resolved, so at
// the callback its records are stored (on Redis: acknowledged by the
// server, which with `appendfsync always` has written and fsynced its
// append-only file first).
//
// After each run the store is read back (KvStore.list) and must hold one
// activity record per span carrying an activity event (warm-up included).
//
// Output, per run, one line of key=value pairs:
//   result side=fedify store=memory|redis run=R requests=N spans=S
//     records=A seconds=T spans_per_s=... records_per_s=... p50_ms=...
//     p99_ms=... max_ms=... cpu_s=... redis_cpu_s=... others_pct=...
//     stored_records=...
//     summary_count=...
// (p50/p99/max: per export() call; cpu_s: this process's CPU time during
// the timed part; redis_cpu_s: the Redis server's meanwhile, from INFO cpu,
// "-" for MemoryKvStore; others_pct: the share of the machine's CPU time
// (/proc/stat, in ticks of --clk-tck, default 100) that went to other
// processes meanwhile; summary_count: the sum of activityCount over the trace
// summaries, which is below `records` when Fedify's get-then-set summary
// updates of one trace raced and lost counts.)
//
// --check DIR: replays DIR/*.pb (the captured Fedify 2.3.6 requests) into a
// MemoryKvStore and compares getRecentTraces() / getActivitiesByTraceId()
// with DIR/reference.json (what Fedify's exporter stored from the same spans
// live); exits 1 on a difference.  Guards the decoder and the span rebuild.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";

import { MemoryKvStore } from "@fedify/fedify";
import { FedifySpanExporter } from "@fedify/fedify/otel";
import { resourceFromAttributes } from "@opentelemetry/resources";

const PREFIX = ["fedify", "traces"]; // FedifySpanExporter's default keyPrefix

function fail(msg) {
  console.error(`replay.mjs: ${msg}`);
  process.exit(1);
}

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { runs: 3, run: 1, name: "run", hz: 100 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) fail(`${a} needs a value`);
    if (a === "--store") o.store = v;
    else if (a === "--spans") o.spans = v;
    else if (a === "--warmup") o.warmup = v;
    else if (a === "--runs") o.runs = Number(v);
    else if (a === "--run") o.run = Number(v);
    else if (a === "--clk-tck") o.hz = Number(v);
    else if (a === "--name") o.name = v;
    else if (a === "--check") o.check = v;
    else fail(`unknown option ${a}`);
    i++;
  }
  if (o.check) return o;
  if (!o.store || !o.spans) {
    fail("usage: replay.mjs --store memory|redis://... --spans DIR " +
      "[--warmup DIR] [--runs N] [--name NAME] | --check DIR");
  }
  if (!(Number.isInteger(o.runs) && o.runs >= 1)) fail("--runs: a positive integer");
  if (!(Number.isInteger(o.run) && o.run >= 1)) fail("--run: a positive integer");
  if (o.store !== "memory" && !/^redis:\/\//.test(o.store)) {
    fail("--store: memory or redis://...");
  }
  return o;
}

// ---------------------------------------------------------------- protobuf

// A reader over one message: fields in any order, unknown ones skipped.
class Reader {
  constructor(buf, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  more() {
    return this.pos < this.end;
  }
  varint() {
    let lo = 0;
    let shift = 0;
    let b;
    // up to 2^53 exactly (ints, lengths, tags); higher bits would be lost
    let mul = 1;
    do {
      if (this.pos >= this.end) throw new Error("truncated varint");
      b = this.buf[this.pos++];
      lo += (b & 0x7f) * mul;
      mul *= 128;
      shift += 7;
    } while (b & 0x80 && shift < 70);
    return lo;
  }
  // int64 as a varint: negative values are 10-byte two's complement
  int64() {
    const start = this.pos;
    let v = 0n;
    let shift = 0n;
    let b;
    do {
      if (this.pos >= this.end) throw new Error("truncated varint");
      b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (this.pos - start > 10) throw new Error("varint too long");
    return Number(BigInt.asIntN(64, v));
  }
  fixed64() {
    if (this.pos + 8 > this.end) throw new Error("truncated fixed64");
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  double() {
    if (this.pos + 8 > this.end) throw new Error("truncated double");
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  fixed32() {
    if (this.pos + 4 > this.end) throw new Error("truncated fixed32");
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  // a length-delimited field: [start, end) of its bytes
  span() {
    const n = this.varint();
    const start = this.pos;
    if (start + n > this.end) throw new Error("truncated length-delimited field");
    this.pos += n;
    return [start, start + n];
  }
  sub() {
    const [s, e] = this.span();
    return new Reader(this.buf, s, e);
  }
  bytes() {
    const [s, e] = this.span();
    return this.buf.subarray(s, e);
  }
  string() {
    const [s, e] = this.span();
    return this.buf.toString("utf8", s, e);
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  *fields() {
    while (this.more()) {
      const tag = this.varint();
      yield [Math.floor(tag / 8), tag & 7];
    }
  }
}

const hex = (b) => Buffer.from(b).toString("hex");

function anyValue(r) {
  let v;
  for (const [f, w] of r.fields()) {
    if (f === 1 && w === 2) v = r.string();
    else if (f === 2 && w === 0) v = r.varint() !== 0;
    else if (f === 3 && w === 0) v = r.int64();
    else if (f === 4 && w === 1) v = r.double();
    else if (f === 5 && w === 2) {
      // ArrayValue { repeated AnyValue values = 1 }
      const arr = [];
      const a = r.sub();
      for (const [g, x] of a.fields()) {
        if (g === 1 && x === 2) arr.push(anyValue(a.sub()));
        else a.skip(x);
      }
      v = arr;
    } else if (f === 6 && w === 2) {
      // KeyValueList: not an OpenTelemetry JS attribute value; kept as an object
      const obj = {};
      const l = r.sub();
      for (const [g, x] of l.fields()) {
        if (g === 1 && x === 2) {
          const [k, val] = keyValue(l.sub());
          obj[k] = val;
        } else l.skip(x);
      }
      v = obj;
    } else if (f === 7 && w === 2) v = new Uint8Array(r.bytes());
    else r.skip(w);
  }
  return v;
}

function keyValue(r) {
  let key = "";
  let value;
  for (const [f, w] of r.fields()) {
    if (f === 1 && w === 2) key = r.string();
    else if (f === 2 && w === 2) value = anyValue(r.sub());
    else r.skip(w);
  }
  return [key, value];
}

// unix nanoseconds (BigInt) -> HrTime [seconds, nanoseconds]
function hrTime(ns) {
  return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}

function hrDuration(start, end) {
  let s = end[0] - start[0];
  let n = end[1] - start[1];
  if (n < 0) {
    s -= 1;
    n += 1e9;
  }
  return [s, n];
}

function decodeEvent(r) {
  let time = 0n;
  let name = "";
  const attributes = {};
  let dropped = 0;
  for (const [f, w] of r.fields()) {
    if (f === 1 && w === 1) time = r.fixed64();
    else if (f === 2 && w === 2) name = r.string();
    else if (f === 3 && w === 2) {
      const [k, v] = keyValue(r.sub());
      if (v !== undefined) attributes[k] = v;
    } else if (f === 4 && w === 0) dropped = r.varint();
    else r.skip(w);
  }
  return { name, attributes, time: hrTime(time), droppedAttributesCount: dropped };
}

function decodeLink(r) {
  let traceId = "";
  let spanId = "";
  let traceState;
  let flags = 0;
  const attributes = {};
  let dropped = 0;
  for (const [f, w] of r.fields()) {
    if (f === 1 && w === 2) traceId = hex(r.bytes());
    else if (f === 2 && w === 2) spanId = hex(r.bytes());
    else if (f === 3 && w === 2) traceState = r.string();
    else if (f === 4 && w === 2) {
      const [k, v] = keyValue(r.sub());
      if (v !== undefined) attributes[k] = v;
    } else if (f === 5 && w === 0) dropped = r.varint();
    else if (f === 6 && w === 5) flags = r.fixed32();
    else r.skip(w);
  }
  return {
    context: {
      traceId,
      spanId,
      traceFlags: flags & 0xff,
      isRemote: (flags & 0x200) !== 0,
      ...(traceState ? { traceState: { serialize: () => traceState } } : {}),
    },
    attributes,
    droppedAttributesCount: dropped,
  };
}

function decodeSpan(r, resource, scope) {
  let traceId = "";
  let spanId = "";
  let parentSpanId = "";
  let traceState;
  let name = "";
  let kind = 0;
  let start = 0n;
  let end = 0n;
  let flags = 0;
  let droppedAttributesCount = 0;
  let droppedEventsCount = 0;
  let droppedLinksCount = 0;
  const attributes = {};
  const events = [];
  const links = [];
  let status = { code: 0 };
  for (const [f, w] of r.fields()) {
    if (f === 1 && w === 2) traceId = hex(r.bytes());
    else if (f === 2 && w === 2) spanId = hex(r.bytes());
    else if (f === 3 && w === 2) traceState = r.string();
    else if (f === 4 && w === 2) parentSpanId = hex(r.bytes());
    else if (f === 5 && w === 2) name = r.string();
    else if (f === 6 && w === 0) kind = r.varint();
    else if (f === 7 && w === 1) start = r.fixed64();
    else if (f === 8 && w === 1) end = r.fixed64();
    else if (f === 9 && w === 2) {
      const [k, v] = keyValue(r.sub());
      if (v !== undefined) attributes[k] = v;
    } else if (f === 10 && w === 0) droppedAttributesCount = r.varint();
    else if (f === 11 && w === 2) events.push(decodeEvent(r.sub()));
    else if (f === 12 && w === 0) droppedEventsCount = r.varint();
    else if (f === 13 && w === 2) links.push(decodeLink(r.sub()));
    else if (f === 14 && w === 0) droppedLinksCount = r.varint();
    else if (f === 15 && w === 2) {
      const s = r.sub();
      let code = 0;
      let message;
      for (const [g, x] of s.fields()) {
        if (g === 2 && x === 2) message = s.string();
        else if (g === 3 && x === 0) code = s.varint();
        else s.skip(x);
      }
      status = message === undefined ? { code } : { code, message };
    } else if (f === 16 && w === 5) flags = r.fixed32();
    else r.skip(w);
  }
  const ctx = {
    traceId,
    spanId,
    traceFlags: flags & 0xff || 1,
    ...(traceState ? { traceState: { serialize: () => traceState } } : {}),
  };
  const startTime = hrTime(start);
  const endTime = hrTime(end);
  return {
    name,
    // OTLP's SpanKind is the API's plus one (0: unspecified)
    kind: kind > 0 ? kind - 1 : 0,
    spanContext: () => ctx,
    parentSpanContext: parentSpanId === "" ? undefined : {
      traceId,
      spanId: parentSpanId,
      traceFlags: ctx.traceFlags,
      isRemote: (flags & 0x200) !== 0,
    },
    startTime,
    endTime,
    duration: hrDuration(startTime, endTime),
    ended: true,
    status,
    attributes,
    links,
    events,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount,
    droppedEventsCount,
    droppedLinksCount,
  };
}

// ExportTraceServiceRequest -> the spans of one request, as ReadableSpans
function decodeRequest(buf) {
  const spans = [];
  const req = new Reader(buf);
  for (const [f, w] of req.fields()) {
    if (f !== 1 || w !== 2) {
      req.skip(w);
      continue;
    }
    const rs = req.sub(); // ResourceSpans
    const resAttrs = {};
    const scopeSpans = [];
    for (const [g, x] of rs.fields()) {
      if (g === 1 && x === 2) {
        const res = rs.sub();
        for (const [h, y] of res.fields()) {
          if (h === 1 && y === 2) {
            const [k, v] = keyValue(res.sub());
            if (v !== undefined) resAttrs[k] = v;
          } else res.skip(y);
        }
      } else if (g === 2 && x === 2) scopeSpans.push(rs.sub());
      else rs.skip(x);
    }
    const resource = resourceFromAttributes(resAttrs);
    for (const ss of scopeSpans) {
      const scope = { name: "" };
      const raw = [];
      for (const [g, x] of ss.fields()) {
        if (g === 1 && x === 2) {
          const sc = ss.sub();
          for (const [h, y] of sc.fields()) {
            if (h === 1 && y === 2) scope.name = sc.string();
            else if (h === 2 && y === 2) scope.version = sc.string();
            else sc.skip(y);
          }
        } else if (g === 2 && x === 2) raw.push(ss.sub());
        else ss.skip(x);
      }
      for (const sp of raw) spans.push(decodeSpan(sp, resource, scope));
    }
  }
  return spans;
}

function loadDir(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith(".pb")).sort();
  if (files.length === 0) fail(`no *.pb files in ${dir}`);
  return files.map((f) => decodeRequest(readFileSync(join(dir, f))));
}

// The activity records FedifySpanExporter 2.3.6 makes of these spans: one
// per span with an activity event (the last one of a span overwrites the
// others: the key is trace id + span id).
function expectedRecords(requests) {
  const keys = new Set();
  for (const spans of requests) {
    for (const s of spans) {
      for (const e of s.events) {
        if (
          (e.name === "activitypub.activity.received" &&
            typeof e.attributes["activitypub.activity.json"] === "string") ||
          e.name === "activitypub.activity.sent"
        ) {
          keys.add(`${s.spanContext().traceId}/${s.spanContext().spanId}`);
        }
      }
    }
  }
  return keys.size;
}

// ---------------------------------------------------------------- stores

async function openStore(url, name, run) {
  if (url === "memory") {
    return { kv: new MemoryKvStore(), close: async () => {} };
  }
  const { openKvStore } = await import("./stores.mjs");
  const u = new URL(url);
  u.searchParams.set("prefix", `fedify-${name}-r${run}::`);
  return openKvStore(u.href);
}

// The Redis server's CPU time (user + system, all its threads), in seconds
async function redisCpu(store) {
  if (!store.redis) return null;
  const info = await store.redis.info("cpu");
  const get = (k) => Number((info.match(new RegExp(`^${k}:([0-9.]+)`, "m")) ?? [])[1]);
  const v = get("used_cpu_user") + get("used_cpu_sys");
  return Number.isFinite(v) ? v : null;
}

function exportOne(exporter, spans) {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

async function exportAll(exporter, requests, lat) {
  for (const spans of requests) {
    const t0 = process.hrtime.bigint();
    const result = await exportOne(exporter, spans);
    if (lat) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (result.code !== 0) {
      fail(`FedifySpanExporter.export() failed: ${result.error ?? "see above"}`);
    }
  }
}

// what the store holds: activity records and the sum of the summaries' counts
async function readBack(kv) {
  let records = 0;
  let summaryCount = 0;
  for await (const { key, value } of kv.list(PREFIX)) {
    if (key[PREFIX.length] === "_summaries") summaryCount += value.activityCount;
    else records++;
  }
  return { records, summaryCount };
}

// The machine's CPU time from /proc/stat, in ticks: all, and the busy part
// (user, nice, system, irq, softirq, steal), as bench/run.sh counts it
function machineTicks() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim()
      .split(/\s+/).slice(1, 9).map(Number);
    return {
      total: f.reduce((a, b) => a + b, 0),
      busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7],
    };
  } catch {
    return null;
  }
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

// ---------------------------------------------------------------- --check

async function check(dir) {
  const requests = loadDir(dir);
  const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8"));
  const exporter = new FedifySpanExporter(new MemoryKvStore());
  await exportAll(exporter, requests, null);
  // as JSON, like reference.json (fields set to undefined drop out)
  const plain = (v) => JSON.parse(JSON.stringify(v));
  const traces = plain(await exporter.getRecentTraces());
  const byId = (a, b) => a.traceId.localeCompare(b.traceId);
  const problems = [];
  if (!isDeepStrictEqual([...traces].sort(byId), [...ref.traces].sort(byId))) {
    problems.push("getRecentTraces() differs from reference.json's traces");
  }
  for (const t of ref.traces) {
    const want = ref.activities[t.traceId] ?? [];
    const got = plain(await exporter.getActivitiesByTraceId(t.traceId));
    const key = (r) => r.spanId;
    const sortBy = (l) => [...l].sort((a, b) => key(a).localeCompare(key(b)));
    if (!isDeepStrictEqual(sortBy(got), sortBy(want))) {
      problems.push(`getActivitiesByTraceId(${t.traceId}) differs`);
    }
  }
  const spans = requests.reduce((n, r) => n + r.length, 0);
  if (problems.length > 0) {
    for (const p of problems) console.error(`replay.mjs: --check: ${p}`);
    process.exit(1);
  }
  console.log(
    `replay.mjs: --check: ${spans} spans of ${requests.length} requests replayed ` +
      `through FedifySpanExporter: ${traces.length} traces, as in reference.json`,
  );
}

// ---------------------------------------------------------------- main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.check) return check(o.check);

  const requests = loadDir(o.spans);
  const warm = o.warmup ? loadDir(o.warmup) : [];
  const spans = requests.reduce((n, r) => n + r.length, 0);
  const records = expectedRecords(requests);
  const warmRecords = expectedRecords(warm);
  const kind = o.store === "memory" ? "memory" : "redis";
  console.error(
    `replay.mjs: ${requests.length} requests, ${spans} spans, ${records} with ` +
      `activity records; warm-up ${warm.length} requests; ${kind}`,
  );

  for (let run = o.run; run < o.run + o.runs; run++) {
    const store = await openStore(o.store, o.name, run);
    try {
      const exporter = new FedifySpanExporter(store.kv);
      await exportAll(exporter, warm, null);
      const lat = [];
      const redis0 = await redisCpu(store);
      const m0 = machineTicks();
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await exportAll(exporter, requests, lat);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      const m1 = machineTicks();
      const redis1 = await redisCpu(store);
      const redisCpuS = redis0 == null || redis1 == null
        ? "-"
        : (redis1 - redis0).toFixed(3);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      let others = "?";
      if (m0 && m1 && m1.total > m0.total) {
        const busy = (m1.busy - m0.busy) / o.hz - cpuS -
          (redisCpuS === "-" ? 0 : Number(redisCpuS));
        others = Math.max(0, (busy / ((m1.total - m0.total) / o.hz)) * 100)
          .toFixed(0);
      }
      const back = await readBack(store.kv);
      if (back.records !== records + warmRecords) {
        fail(
          `run ${run}: the store holds ${back.records} activity records, ` +
            `expected ${records + warmRecords}`,
        );
      }
      lat.sort((a, b) => a - b);
      console.log(
        [
          "result side=fedify",
          `store=${kind}`,
          `run=${run}`,
          `requests=${requests.length}`,
          `spans=${spans}`,
          `records=${records}`,
          `seconds=${secs.toFixed(3)}`,
          `spans_per_s=${(spans / secs).toFixed(1)}`,
          `records_per_s=${(records / secs).toFixed(1)}`,
          `p50_ms=${pct(lat, 50).toFixed(3)}`,
          `p99_ms=${pct(lat, 99).toFixed(3)}`,
          `max_ms=${lat[lat.length - 1].toFixed(3)}`,
          `cpu_s=${cpuS.toFixed(3)}`,
          `redis_cpu_s=${redisCpuS}`,
          `others_pct=${others}`,
          `stored_records=${back.records}`,
          `summary_count=${back.summaryCount}`,
        ].join(" "),
      );
    } finally {
      await store.close();
    }
  }
}

main().catch((err) => fail(err?.stack ?? String(err)));
