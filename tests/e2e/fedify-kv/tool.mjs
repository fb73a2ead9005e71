// Helpers for tests/e2e/fedify-kv/run.sh, run under node 22:
//
//   node tool.mjs fresh STORE_URL N     prints the URL of an empty namespace
//                                       of that server (stores.mjs)
//   node tool.mjs view STORE_URL OUT    writes what Fedify's own
//                                       FedifySpanExporter reads from the
//                                       store: {traces, activities} as
//                                       getRecentTraces() and
//                                       getActivitiesByTraceId(), the shape
//                                       compare.mjs takes
//   node tool.mjs raw STORE_URL OUT     writes every entry of the store
//                                       (for diagnosis: key, type, value)
//                                       and prints its key shapes
//   node tool.mjs replay DIR OTLP_URL   POSTs DIR's NNNN-traces.pb (with the
//                                       content type of NNNN-traces.headers.json)
//                                       to OTLP_URL/v1/traces; fails unless
//                                       each is answered 200 with nothing
//                                       rejected

import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { FedifySpanExporter } from "@fedify/fedify/otel";

import { freshStoreUrl, openKvStore } from "./stores.mjs";

const [cmd, ...args] = process.argv.slice(2);

async function view(url, out) {
  const store = await openKvStore(url);
  try {
    const exporter = new FedifySpanExporter(store.kv);
    const traces = await exporter.getRecentTraces();
    const activities = {};
    for (const t of traces) {
      activities[t.traceId] = await exporter.getActivitiesByTraceId(t.traceId);
    }
    await writeFile(out, JSON.stringify({ traces, activities }, null, 2) + "\n");
    const records = Object.values(activities).reduce((n, a) => n + a.length, 0);
    console.error(
      `view: Fedify's FedifySpanExporter over ${store.describe}: ` +
        `${traces.length} traces, ${records} activity records`,
    );
  } finally {
    await store.close();
  }
}

// Everything in the namespace, whatever wrote it, without assuming the
// entries are Fedify's (a Redis key of another type is listed by type).
async function raw(url, out) {
  const store = await openKvStore(url);
  const entries = [];
  try {
    if (store.kind === "redis") {
      const { redis } = store;
      let cursor = "0";
      const seen = new Set();
      do {
        const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
        cursor = next;
        for (const key of keys) {
          if (seen.has(key)) continue;
          seen.add(key);
          const type = await redis.type(key);
          const ttl = await redis.pttl(key);
          const entry = { key, type, ttlMs: ttl };
          if (type === "string") {
            const text = await redis.get(key);
            try {
              entry.value = JSON.parse(text);
            } catch {
              entry.text = text;
            }
          } else if (type === "zset") {
            entry.size = await redis.zcard(key);
            entry.first = await redis.zrange(key, 0, 4, "WITHSCORES");
          } else if (type === "set") {
            entry.size = await redis.scard(key);
          } else if (type === "hash") {
            entry.size = await redis.hlen(key);
          } else if (type === "list") {
            entry.size = await redis.llen(key);
          }
          entries.push(entry);
        }
      } while (cursor !== "0");
      entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    } else {
      const { sql, table } = store;
      const rows = await sql`
        SELECT key, value, created, ttl::text AS ttl FROM ${sql(table)}
        ORDER BY key`;
      for (const r of rows) entries.push({ ...r });
    }
    await writeFile(out, JSON.stringify(entries, null, 1) + "\n");
    console.error(`raw: ${entries.length} entries in ${store.describe}:`);
    // Key shapes: ids replaced by what they are, counted.
    const shapes = new Map();
    for (const e of entries) {
      const key = (Array.isArray(e.key) ? e.key.join(" | ") : e.key)
        .replace(/\b[0-9a-f]{32}\b/g, "<traceId>")
        .replace(/\b[0-9a-f]{16}\b/g, "<spanId>")
        .replace(/\d{6,}/g, "<n>");
      const shape = `${key}${e.type ? ` (${e.type})` : ""}`;
      shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
    }
    for (const [shape, n] of [...shapes].sort()) {
      console.error(`  ${String(n).padStart(5)}  ${shape}`);
    }
  } finally {
    await store.close();
  }
}

async function replay(dir, otlpBase) {
  const url = `${otlpBase.replace(/\/+$/, "")}/v1/traces`;
  const bodies = (await readdir(dir)).filter((f) => /^\d+-traces\.pb$/.test(f))
    .sort();
  if (bodies.length === 0) throw new Error(`no NNNN-traces.pb in ${dir}`);
  for (const name of bodies) {
    const headers = JSON.parse(
      await readFile(join(dir, name.replace(/\.pb$/, ".headers.json")), "utf8"),
    );
    const body = await readFile(join(dir, name));
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": headers["content-type"] },
      body,
      signal: AbortSignal.timeout(30000),
    });
    const answer = Buffer.from(await res.arrayBuffer());
    // An empty ExportTraceServiceResponse: everything was stored.
    if (res.status !== 200 || answer.length !== 0) {
      throw new Error(
        `${name}: HTTP ${res.status}, ${answer.length} bytes of answer ` +
          `(${answer.toString("latin1").replace(/[^ -~]/g, ".").slice(0, 200)})`,
      );
    }
  }
  console.error(`replay: ${bodies.length} OTLP requests from ${dir} stored`);
}

try {
  if (cmd === "fresh" && args.length === 2) {
    console.log(await freshStoreUrl(args[0], args[1]));
  } else if (cmd === "view" && args.length === 2) {
    await view(args[0], args[1]);
  } else if (cmd === "raw" && args.length === 2) {
    await raw(args[0], args[1]);
  } else if (cmd === "replay" && args.length === 2) {
    await replay(args[0], args[1]);
  } else {
    console.error(
      "usage: tool.mjs fresh URL N | view URL OUT | raw URL OUT | replay DIR OTLP_URL",
    );
    process.exit(2);
  }
  process.exit(0);
} catch (err) {
  console.error(`tool.mjs ${cmd}: ${err?.stack ?? err}`);
  process.exit(1);
}
