// queries.mjs - the two dashboard queries, fedtrace's API against Fedify
// 2.3.6's own FedifySpanExporter, on the same data in the same Redis.
// Driven by bench/queries_vs_fedify.sh; see bench/README.md.
//
//   node queries.mjs --redis redis://HOST:PORT[/DB][?prefix=P]
//                    --api http://HOST:PORT --traces N
//                    [--queries Q] [--budget S] [--memory 0|1]
//                    [--own-db D] [--check K] [--seed X]
//   node queries.mjs --redis URL --setup
//
// The store (filled beforehand by ft_query_bench through fedtrace's
// exporter, so it holds Fedify's keys -- records under
// ["fedify","traces",traceId,spanId] and summaries under
// ["fedify","traces","_summaries",traceId] -- and fedtrace's own) is read
// four ways:
//
//   fedtrace          GET /api/traces?limit=100 and GET /api/traces/{traceId}
//                     of a running `fedtrace serve` on that Redis, over one
//                     keep-alive connection (node:http, an Agent with
//                     keepAlive and one socket); timed from the request
//                     until the body is read and JSON.parse'd, so the
//                     caller holds the same objects Fedify's methods return
//   fedify-redis      getRecentTraces({ limit: 100 }) and
//                     getActivitiesByTraceId(traceId) of a
//                     FedifySpanExporter on @fedify/redis's RedisKvStore
//                     over the same database, with the list() of
//                     tests/e2e/fedify-kv/stores.mjs (RedisKvStore 1.8.7 has
//                     no list(); that one is a GET of the prefix key, then
//                     SCAN MATCH and a GET per key, as later @fedify/redis
//                     releases do, with SCAN COUNT 1000 where they use 100)
//   fedify-redis-own  the same on database D of the same server (--own-db,
//                     default 1; -1 skips it), which holds a copy (COPY,
//                     server-side) of the records and summaries only: a
//                     Redis as Fedify alone would have filled it, whose SCANs
//                     do not walk fedtrace's keys too; emptied afterwards
//   fedify-memory     the same methods on a MemoryKvStore holding a copy of
//                     the records and summaries (read with SCAN + MGET
//                     before that part)
//
// The answers are compared: fedtrace's newest-100 list must be the newest
// 100 of the summaries in Redis (the same traces in the same order with the
// same Fedify fields: traceId, timestamp, activityCount, activityTypes),
// and so must every Fedify target's, before that target is timed; for the
// newest, the oldest and K random traces (--check, default 5), the
// activity records of every Fedify target must equal fedtrace's (as JSON
// values, in spanId order).  A difference fails the run.
//
// Then each target runs each query Q times (--queries, default 200) after
// a warm-up (up to 3 queries, up to a tenth of the budget), the activities
// query for trace ids drawn with a seeded PRNG from the summaries found in
// Redis (the same ids, in the same order, for every target), one query at
// a time.  A query stops early once its timed runs have taken --budget
// seconds (default 10; at least one is always timed): Fedify's queries
// read the whole keyspace.  Each answer is checked (100 summaries; at
// least one record).  On a Fedify target the check calls come first and
// are timed too; they count as warm-up queries, except where one of them
// took longer than the budget: then the records check stops once the
// newest and the oldest trace are checked, nothing more is called, and
// the check calls are the sample (sample=check on the result line; at a
// million traces one getRecentTraces on Redis takes minutes, and is made
// once).  The targets run one after the other, in the order above, never
// interleaved, so one's cache misses and garbage do not land on another's
// clock.
//
// Output on stdout, key=value lines:
//   result traces=N target=T query=recent100|activities n=... p50_ms=...
//     p99_ms=... max_ms=... mean_ms=... seconds=... sample=timed|check
//     checked=... (answers checked on that target: 1 newest-100 list, or
//     the number of traces whose records were; "-" for fedtrace, the
//     reference)
//   info redis_version=... dbsize=... own_keys=... summaries=... records=...
//   check traces=N recent=ok activities=K records=R own=ok memory=ok
// (p50 / p99: nearest rank; "-" for what was skipped.)  Progress on stderr.
//
// --setup: turns off the throwaway Redis's persistence (CONFIG SET
// appendonly no, save ""), so that filling it is not paced by fsync and no
// append-only-file rewrite forks during the measurement; prints the
// server's version.

import http from "node:http";
import { isDeepStrictEqual } from "node:util";

import { MemoryKvStore } from "@fedify/fedify";
import { FedifySpanExporter } from "@fedify/fedify/otel";

import { openKvStore } from "./stores.mjs";

const PREFIX = ["fedify", "traces"]; // FedifySpanExporter's default keyPrefix
const LIMIT = 100;

function fail(msg) {
  console.error(`queries.mjs: ${msg}`);
  process.exit(1);
}

// progress, with the seconds since the start: where a run's time goes
const started = process.hrtime.bigint();
function say(msg) {
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  console.error(`queries.mjs: [+${s.toFixed(1)} s] ${msg}`);
}

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { queries: 200, budget: 10, memory: 1, ownDb: 1, check: 5, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--setup") {
      o.setup = true;
      continue;
    }
    const v = argv[i + 1];
    if (v === undefined) fail(`${a} needs a value`);
    if (a === "--redis") o.redis = v;
    else if (a === "--api") o.api = v.replace(/\/+$/, "");
    else if (a === "--traces") o.traces = Number(v);
    else if (a === "--queries") o.queries = Number(v);
    else if (a === "--budget") o.budget = Number(v);
    else if (a === "--memory") o.memory = Number(v);
    else if (a === "--own-db") o.ownDb = Number(v);
    else if (a === "--check") o.check = Number(v);
    else if (a === "--seed") o.seed = Number(v);
    else fail(`unknown option ${a}`);
    i++;
  }
  if (!o.redis || !/^redis:\/\//.test(o.redis)) fail("--redis redis://... is required");
  if (o.setup) return o;
  if (!o.api || !/^http:\/\//.test(o.api)) fail("--api http://HOST:PORT is required");
  for (const k of ["traces", "queries", "check", "seed"]) {
    if (!(Number.isInteger(o[k]) && o[k] >= (k === "check" ? 0 : 1))) {
      fail(`--${k}: a positive integer`);
    }
  }
  if (!(o.budget > 0)) fail("--budget: a positive number of seconds");
  if (o.memory !== 0 && o.memory !== 1) fail("--memory: 0 or 1");
  if (!(Number.isInteger(o.ownDb) && o.ownDb >= -1)) fail("--own-db: a database number, or -1");
  return o;
}

// ---------------------------------------------------------------- helpers

// xorshift32: the same ids in the same order for every target
function prng(seed) {
  let s = (seed >>> 0) || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

const plain = (v) => JSON.parse(JSON.stringify(v));
const bySpan = (l) => [...l].sort((a, b) => String(a.spanId).localeCompare(String(b.spanId)));
const fedifyFields = (s) => ({
  traceId: s.traceId,
  timestamp: s.timestamp,
  activityCount: s.activityCount,
  activityTypes: s.activityTypes,
});

// The Redis key prefix of the store URL, as stores.mjs and fedtrace read it
function keyPrefixOf(url) {
  return new URL(url).searchParams.get("prefix") ?? "fedify::";
}

// ---------------------------------------------------------------- fedtrace's API

function apiClient(base) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(base);
  const get = (path) =>
    new Promise((resolve, reject) => {
      const req = http.get(
        { host: u.hostname, port: u.port, path, agent, headers: { accept: "application/json" } },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) {
              reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200)}`));
              return;
            }
            try {
              resolve(JSON.parse(body));
            } catch (e) {
              reject(new Error(`GET ${path}: not JSON: ${e.message}`));
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
    });
  return {
    recent: () => get(`/api/traces?limit=${LIMIT}`),
    activities: (id) => get(`/api/traces/${id}`),
    close: () => agent.destroy(),
  };
}

function fedifyClient(kv) {
  const ex = new FedifySpanExporter(kv);
  return {
    recent: () => ex.getRecentTraces({ limit: LIMIT }),
    activities: (id) => ex.getActivitiesByTraceId(id),
  };
}

// ---------------------------------------------------------------- reading Redis

// Fedify's keys under the exporter's prefix, found with SCAN: records
// [P, traceId, spanId(, N)] and summaries [P, "_summaries", traceId]
// (`withRecords` false: summaries only); their Redis names and tuples.
async function scanFedifyKeys(redis, keyPrefix, withRecords) {
  const base = keyPrefix + PREFIX.join("::") + "::";
  const pattern = withRecords ? `${base}*` : `${base}_summaries::*`;
  const unname = (k) =>
    k.slice(keyPrefix.length).split("::").map((p) => p.replaceAll("_:", ":"));
  const names = [];
  const keys = [];
  const seen = new Set();
  let cursor = "0";
  do {
    // this harness's own read, not Fedify's (its list() is stores.mjs's)
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 10000);
    cursor = next;
    for (const k of batch) {
      if (seen.has(k)) continue;
      seen.add(k);
      const key = unname(k);
      const rest = key.slice(PREFIX.length);
      const isSummary = rest.length === 2 && rest[0] === "_summaries" &&
        /^[0-9a-f]{32}$/.test(rest[1]);
      const isRecord = /^[0-9a-f]{32}$/.test(rest[0]) && /^[0-9a-f]{16}$/.test(rest[1] ?? "") &&
        (rest.length === 2 || (rest.length === 3 && /^[0-9]+$/.test(rest[2])));
      if (isSummary || (withRecords && isRecord)) {
        names.push(k);
        keys.push(key);
      }
    }
  } while (cursor !== "0");
  return { names, keys };
}

// Their values (JSON), with MGET
async function readValues(redis, { names, keys }) {
  const out = [];
  for (let i = 0; i < names.length; i += 500) {
    const vals = await redis.mgetBuffer(...names.slice(i, i + 500));
    vals.forEach((v, j) => {
      if (v != null) out.push({ key: keys[i + j], value: JSON.parse(v.toString("utf8")) });
    });
  }
  return out;
}

// Copies the keys, server-side, into database `db` of the same server
async function copyToDb(redis, { names }, db) {
  for (let i = 0; i < names.length; i += 1000) {
    const p = redis.pipeline();
    for (const k of names.slice(i, i + 1000)) p.copy(k, k, "DB", db);
    for (const [err, copied] of await p.exec()) {
      if (err) throw new Error(`COPY to database ${db}: ${err.message} (Redis 6.2 or later needed)`);
      if (copied !== 1) throw new Error(`COPY to database ${db}: a key was not copied`);
    }
  }
}

// ---------------------------------------------------------------- checks

function checkRecent(name, got, want) {
  const g = got.map(fedifyFields);
  if (isDeepStrictEqual(plain(g), plain(want))) return;
  const gi = g.map((s) => s.traceId);
  const wi = want.map((s) => s.traceId);
  let first = 0;
  while (first < Math.min(gi.length, wi.length) && isDeepStrictEqual(plain(g[first]), plain(want[first]))) {
    first++;
  }
  fail(
    `${name}: the newest ${LIMIT} differ from the summaries in Redis ` +
      `(${gi.length} traces, expected ${wi.length}; first difference at #${first + 1}: ` +
      `${JSON.stringify(g[first])} vs ${JSON.stringify(want[first])})`,
  );
}

function checkActivities(name, id, got, want) {
  const g = plain(bySpan(got));
  const w = plain(bySpan(want));
  if (isDeepStrictEqual(g, w)) return;
  if (g.length !== w.length) {
    fail(`${name}: trace ${id}: ${g.length} activity records, fedtrace's API has ${w.length}`);
  }
  for (let i = 0; i < g.length; i++) {
    const fields = new Set([...Object.keys(g[i]), ...Object.keys(w[i])]);
    const diff = [...fields].filter((f) => !isDeepStrictEqual(g[i][f], w[i][f]));
    if (diff.length > 0) {
      fail(`${name}: trace ${id}: record ${w[i].spanId} differs from fedtrace's API in ${diff.join(", ")}`);
    }
  }
}

// ---------------------------------------------------------------- timing

// One query on one target, timed.  `pre`: the calls the answer checks made
// just before, each timed ({ ms: [...] }), or null.  When one of them took
// longer than the budget, nothing more is called: those calls are the
// sample (sample=check).  Otherwise they are warm-up calls, and the
// warm-up goes on to 3 untimed queries, no more than a tenth of the budget
// in all, then the timed queries (sample=timed).
async function timeQuery(what, fn, args, o, check, pre = null) {
  const preMs = pre?.ms ?? [];
  let lat = [];
  let sample = "timed";
  if (preMs.some((ms) => ms >= o.budget * 1000)) {
    lat = [...preMs];
    sample = "check";
  } else {
    let warmS = preMs.reduce((s, v) => s + v, 0) / 1000;
    for (let i = preMs.length; i < Math.min(3, args.length); i++) {
      if (warmS > o.budget / 10) break;
      const w0 = process.hrtime.bigint();
      check(await fn(args[i]));
      warmS += Number(process.hrtime.bigint() - w0) / 1e9;
    }
    let spent = 0;
    for (let i = 0; i < o.queries; i++) {
      const a = args[i % args.length];
      const t0 = process.hrtime.bigint();
      const r = await fn(a);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      check(r);
      lat.push(ms);
      spent += ms / 1000;
      if (spent >= o.budget) break;
    }
  }
  const sorted = [...lat].sort((a, b) => a - b);
  const mean = lat.reduce((s, v) => s + v, 0) / lat.length;
  const r = {
    n: lat.length,
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    max: sorted[sorted.length - 1],
    mean,
    seconds: lat.reduce((s, v) => s + v, 0) / 1000,
    sample,
  };
  say(
    `${what}: ${r.n} ${sample === "check" ? `check call${r.n === 1 ? "" : "s"} (over the budget: the sample)` : "queries"}, ` +
      `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`,
  );
  return r;
}

// Both queries on one target.  `pre`: what the answer checks on this
// target timed ({ recent: { ms }, activities: { ms, checked } }), or null.
async function measure(o, target, client, ids, pre = null) {
  const out = [];
  const wantRecent = Math.min(LIMIT, o.traces);
  const recent = await timeQuery(
    `${target} recent${LIMIT}`,
    () => client.recent(),
    [null, null, null],
    o,
    (r) => {
      if (!Array.isArray(r) || r.length !== wantRecent) {
        fail(`${target}: newest ${LIMIT}: ${Array.isArray(r) ? r.length : typeof r} traces`);
      }
    },
    pre?.recent,
  );
  out.push({ target, query: `recent${LIMIT}`, ...recent, checked: pre ? 1 : "-" });
  const acts = await timeQuery(
    `${target} activities`,
    (id) => client.activities(id),
    ids,
    o,
    (r) => {
      if (!Array.isArray(r) || r.length === 0) fail(`${target}: a trace with no activity records`);
    },
    pre?.activities,
  );
  out.push({ target, query: "activities", ...acts, checked: pre?.activities.checked ?? "-" });
  for (const r of out) {
    console.log(
      [
        "result",
        `traces=${o.traces}`,
        `target=${r.target}`,
        `query=${r.query}`,
        `n=${r.n}`,
        `p50_ms=${r.p50.toFixed(3)}`,
        `p99_ms=${r.p99.toFixed(3)}`,
        `max_ms=${r.max.toFixed(3)}`,
        `mean_ms=${r.mean.toFixed(3)}`,
        `seconds=${r.seconds.toFixed(2)}`,
        `sample=${r.sample}`,
        `checked=${r.checked}`,
      ].join(" "),
    );
  }
}

// ---------------------------------------------------------------- main

async function setup(o) {
  const store = await openKvStore(o.redis);
  try {
    await store.redis.config("SET", "appendonly", "no");
    await store.redis.config("SET", "save", "");
    const info = await store.redis.info("server");
    const v = (info.match(/^redis_version:(\S+)/m) ?? [])[1] ?? "unknown";
    console.log(`setup redis_version=${v}`);
  } finally {
    await store.close();
  }
}

// The store URL with another database number
function withDb(url, db) {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.href;
}

// The answer checks on one Fedify target, each call timed: the newest 100
// once, then the records of the check traces in order (the newest, the
// oldest, then the random ones).  Once a call has taken longer than the
// budget, the records check stops after the oldest: at a million traces
// one getActivitiesByTraceId on Redis takes longer than the budget, and
// the calls made are then the sample (timeQuery).
async function checkAll(name, client, newest, checkIds, apiRecords, o) {
  const timed = async (fn) => {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    return [r, Number(process.hrtime.bigint() - t0) / 1e6];
  };
  const [recent, recentMs] = await timed(() => client.recent());
  checkRecent(name, recent, newest);
  const ms = [];
  let slow = false;
  for (const id of checkIds) {
    const [got, t] = await timed(() => client.activities(id));
    checkActivities(name, id, got, apiRecords.get(id));
    ms.push(t);
    slow ||= t >= o.budget * 1000;
    if (slow && ms.length >= 2) break;
  }
  return { recent: { ms: [recentMs] }, activities: { ms, checked: ms.length } };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.setup) return setup(o);

  const store = await openKvStore(o.redis);
  const api = apiClient(o.api);
  const others = [];
  try {
    const keyPrefix = keyPrefixOf(o.redis);
    const gc = globalThis.gc ?? (() => {});
    const srcDb = Number(new URL(o.redis).pathname.replace(/^\/+/, "") || 0);
    if (o.ownDb === srcDb) fail(`--own-db ${o.ownDb} is the store's own database`);

    // the data: every summary, the expected newest 100, the trace ids
    say("reading the trace summaries in Redis");
    const summaries = (await readValues(
      store.redis,
      await scanFedifyKeys(store.redis, keyPrefix, false),
    )).map((e) => e.value);
    if (summaries.length !== o.traces) {
      fail(`Redis holds ${summaries.length} trace summaries, expected ${o.traces}`);
    }
    const newest = [...summaries].sort((a, b) => b.timestamp.localeCompare(a.timestamp))
      .slice(0, LIMIT).map(fedifyFields);
    const allIds = summaries.map((s) => s.traceId).sort();
    const rnd = prng(o.seed);
    const ids = Array.from({ length: o.queries }, () => allIds[rnd() % allIds.length]);
    const dbsize = await store.redis.dbsize();
    const info = await store.redis.info("server");
    const version = (info.match(/^redis_version:(\S+)/m) ?? [])[1] ?? "unknown";
    say(`${summaries.length} trace summaries in Redis (${dbsize} keys in the database)`);

    // the same answers first
    const fedRedis = fedifyClient(store.kv);
    checkRecent("fedtrace's API", await api.recent(), newest);
    const checkIds = [
      newest[0].traceId,
      summaries.reduce((o, s) => (s.timestamp.localeCompare(o.timestamp) < 0 ? s : o)).traceId,
    ];
    for (let i = 0; i < o.check; i++) checkIds.push(allIds[rnd() % allIds.length]);
    const apiRecords = new Map();
    let checkedRecords = 0;
    for (const id of checkIds) {
      const want = await api.activities(id);
      if (want.length === 0) fail(`fedtrace's API: trace ${id}: no activity records`);
      apiRecords.set(id, want);
      checkedRecords += want.length;
    }
    say(
      `fedtrace's API agrees with the summaries in Redis on the newest ${LIMIT}; ` +
        `${checkedRecords} records of ${checkIds.length} traces read from it to check Fedify's`,
    );

    gc();
    await measure(o, "fedtrace", api, ids);
    gc();
    say("Fedify on Redis: the answer checks, timed");
    let pre = await checkAll("Fedify on Redis", fedRedis, newest, checkIds, apiRecords, o);
    say(
      `Fedify on Redis agrees: the newest ${LIMIT}, and the records of ` +
        `${pre.activities.checked} of the ${checkIds.length} check traces`,
    );
    await measure(o, "fedify-redis", fedRedis, ids, pre);

    let fedifyKeys = null;
    let ownKeys = "-";
    if (o.ownDb >= 0) {
      const t0 = process.hrtime.bigint();
      fedifyKeys = await scanFedifyKeys(store.redis, keyPrefix, true);
      const ownUrl = withDb(o.redis, o.ownDb);
      const own = await openKvStore(ownUrl);
      others.push(own);
      // openKvStore's probe key is gone again: the database must be empty
      if ((await own.redis.dbsize()) !== 0) fail(`Redis database ${o.ownDb} is not empty`);
      say(`copying the records and summaries into Redis database ${o.ownDb} (COPY)`);
      await copyToDb(store.redis, fedifyKeys, o.ownDb);
      ownKeys = await own.redis.dbsize();
      say(
        `copied ${ownKeys} keys in ` +
          `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`,
      );
      const fedOwn = fedifyClient(own.kv);
      gc();
      pre = await checkAll("Fedify on Redis (its keys only)", fedOwn, newest, checkIds, apiRecords, o);
      say(`Fedify on Redis with its keys only agrees (${pre.activities.checked} traces' records)`);
      await measure(o, "fedify-redis-own", fedOwn, ids, pre);
      await own.redis.flushdb();
    }

    let records = "-";
    if (o.memory) {
      say("copying the records and summaries into a MemoryKvStore");
      const t0 = process.hrtime.bigint();
      fedifyKeys ??= await scanFedifyKeys(store.redis, keyPrefix, true);
      let entries = await readValues(store.redis, fedifyKeys);
      fedifyKeys = null;
      const mem = new MemoryKvStore();
      for (const { key, value } of entries) await mem.set(key, value);
      records = entries.length - summaries.length;
      say(
        `copied ${entries.length} entries (${records} records) in ` +
          `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`,
      );
      entries = null;
      const fedMem = fedifyClient(mem);
      gc();
      pre = await checkAll("Fedify on MemoryKvStore", fedMem, newest, checkIds, apiRecords, o);
      say(`Fedify on MemoryKvStore agrees (${pre.activities.checked} traces' records)`);
      await measure(o, "fedify-memory", fedMem, ids, pre);
    }
    console.log(
      `info redis_version=${version} dbsize=${dbsize} own_keys=${ownKeys} ` +
        `summaries=${summaries.length} records=${records}`,
    );
    console.log(
      `check traces=${o.traces} recent=ok activities=${checkIds.length} ` +
        `records=${checkedRecords} own=${o.ownDb >= 0 ? "ok" : "-"} ` +
        `memory=${o.memory ? "ok" : "-"}`,
    );
  } finally {
    api.close();
    for (const s of others) await s.close();
    await store.close();
  }
}

main().catch((err) => fail(err?.stack ?? String(err)));
