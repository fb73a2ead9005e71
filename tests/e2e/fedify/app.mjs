// End-to-end scenario for fedtrace with two real Fedify 2.3.6 servers.
//
// Starts server.mjs twice (alice on server A as service fedify-a, bob on
// server B as fedify-b), each its own process exporting OTLP/HTTP to
// $OTLP_ENDPOINT (if set) and keeping Fedify's own FedifySpanExporter view
// (in memory, or both servers in the shared store $FEDIFY_KV), then
// plays: bob looks up alice; bob follows alice; alice accepts; alice sends
// Create(Note) to her followers; bob likes it; bob undoes the like; two
// deliveries to alice's inbox whose HTTP signatures fail (a forged
// signature under bob's key id, and an unknown key id).  Once both servers
// are quiet and flushed, writes Fedify's view to $OUT:
//   {traces, activities: {traceId: [record…]}, spans, stats}
// (traces and activities as getRecentTraces() / getActivitiesByTraceId()).
//
// Environment: OTLP_ENDPOINT (base URL; spans go to {base}/v1/traces;
// empty: no OTLP), OTLP_PROTOCOL=proto|json, FEDIFY_KV (a redis:// or
// postgres:// store for Fedify's exporters, see server.mjs), OUT,
// PORT_A / PORT_B (default 0: free ports), E2E_TIMEOUT_MS (bound for each
// step, default 30000).
// Runs under node >= 22 (Fedify 2.3.6 needs it).

import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { generateCryptoKeyPair, signRequest } from "@fedify/fedify";

const endpoint = process.env.OTLP_ENDPOINT ?? "";
const protocol = process.env.OTLP_PROTOCOL ?? "proto";
const sharedStore = process.env.FEDIFY_KV ?? "";
const outPath = process.env.OUT;
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? 30000);

if (!outPath || !["proto", "json"].includes(protocol)) {
  console.error("app.mjs: set OUT, OTLP_ENDPOINT and OTLP_PROTOCOL=proto|json");
  process.exit(2);
}

const log = (msg) => console.error(`app: ${msg}`);

function withTimeout(promise, what, ms = timeoutMs) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms: ${what}`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- children

const children = [];

function startServer(service, user, port) {
  const child = fork(
    fileURLToPath(new URL("./server.mjs", import.meta.url)),
    [],
    {
      env: {
        ...process.env,
        FEDIFY_SERVICE: service,
        FEDIFY_USER: user,
        FEDIFY_PORT: String(port ?? 0),
        OTLP_ENDPOINT: endpoint,
        OTLP_PROTOCOL: protocol,
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  children.push(child);
  const pending = new Map();
  let nextId = 1;
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once("exit", (code, sig) =>
      reject(new Error(`${service} exited early (${code ?? sig})`))
    );
  });
  child.on("message", (msg) => {
    if (msg.ready) return onReady(msg);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`${service}: ${msg.error}`));
  });
  child.on("exit", (code, sig) => {
    for (const p of pending.values()) {
      p.reject(new Error(`${service} exited (${code ?? sig})`));
    }
    pending.clear();
  });
  const call = (cmd, args) =>
    withTimeout(
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        child.send({ id, cmd, args });
      }),
      `${service} ${cmd}`,
    );
  return { service, child, call, ready: withTimeout(ready, `${service} start`) };
}

function killChildren() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  }
}
process.on("exit", killChildren);

// ---------------------------------------------------------------- scenario

async function badDelivery(inbox, actor, keyId, content, privateKey) {
  const origin = new URL(actor).origin;
  const activity = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${origin}/activities/${randomUUID()}`,
    type: "Create",
    actor,
    to: inbox.replace(/\/inbox$/, ""),
    object: {
      id: `${origin}/activities/${randomUUID()}`,
      type: "Note",
      attributedTo: actor,
      content,
    },
  };
  // No LD signature and no proof: only the HTTP signature counts.
  const request = new Request(inbox, {
    method: "POST",
    headers: {
      "Content-Type": "application/activity+json",
      Accept: "application/activity+json",
    },
    body: JSON.stringify(activity),
  });
  const signed = await signRequest(request, privateKey, new URL(keyId));
  const response = await withTimeout(fetch(signed), `delivery: ${content}`);
  await response.arrayBuffer();
  if (response.status < 400) {
    throw new Error(`inbox accepted a delivery with ${content}`);
  }
  log(`delivery with ${content}: HTTP ${response.status}`);
}

// Both servers quiet at once: repeat until a round sees no new span.
async function settle(servers) {
  let before = null;
  for (let round = 0; round < 50; round++) {
    const now = await Promise.all(servers.map((s) => s.call("quiet")));
    const key = JSON.stringify(now);
    if (key === before) return;
    before = key;
  }
  throw new Error("servers never went quiet");
}

async function main() {
  const a = startServer("fedify-a", "alice", process.env.PORT_A);
  const b = startServer("fedify-b", "bob", process.env.PORT_B);
  const [infoA, infoB] = await Promise.all([a.ready, b.ready]);
  log(
    `alice ${infoA.actor}, bob ${infoB.actor}; ` +
      (endpoint ? `OTLP ${protocol} to ${endpoint}` : "no OTLP") +
      (sharedStore ? "; Fedify's exporters share one store" : ""),
  );

  await b.call("lookup", { uri: infoA.actor });
  log("bob looked up alice");

  await b.call("follow", { uri: infoA.actor });
  await a.call("wait", { type: "Follow" });
  await b.call("wait", { type: "Accept" });
  log("Follow / Accept done");

  const post = await a.call("post", { content: "Hello, followers!" });
  const [created] = await b.call("wait", { type: "Create" });
  if (created.objectId !== post.noteId) {
    throw new Error(`bob got ${created.objectId}, expected ${post.noteId}`);
  }
  log("Create done");

  await b.call("like", { uri: infoA.actor, object: post.noteId });
  await a.call("wait", { type: "Like" });
  await b.call("undoLike", { uri: infoA.actor });
  await a.call("wait", { type: "Undo" });
  log("Like / Undo done");

  const stranger = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
  await badDelivery(
    infoA.inbox,
    infoB.actor,
    `${infoB.actor}#main-key`,
    "forged signature",
    stranger.privateKey,
  );
  await badDelivery(
    infoA.inbox,
    infoB.actor,
    new URL("/users/mallory#main-key", infoB.actor).href,
    "unknown key",
    stranger.privateKey,
  );
  const unverified = await a.call("wait", { type: "Unverified", count: 2 });
  const reasons = unverified.map((u) => u.reason).sort().join(", ");
  if (reasons !== "invalidSignature, keyFetchError") {
    throw new Error(`unexpected signature failures: ${reasons}`);
  }
  log(`alice refused both: ${reasons}`);

  await withTimeout(settle([a, b]), "servers to go quiet", timeoutMs * 2);
  // Both flushed before either reads: with a shared store each server's
  // view holds the other's records too.
  await Promise.all([a.call("flush"), b.call("flush")]);
  const views = await Promise.all([a.call("dump"), b.call("dump")]);

  // Fedify's view: each server's exporter, merged.  Fedify does not carry
  // trace context over federation HTTP, so a trace belongs to one server.
  // With a shared store both servers read the same records: they must
  // agree, and one view is all of it.
  const traces = [];
  const activities = {};
  const spans = [];
  if (sharedStore) {
    // In the same order (a store's listing order is its own business).
    const byKey = (key) => (x, y) => key(x).localeCompare(key(y));
    const canonical = (v) =>
      JSON.stringify({
        traces: [...v.traces].sort(byKey((t) => t.traceId)),
        activities: Object.keys(v.activities).sort().map((id) =>
          [...v.activities[id]].sort(
            byKey((r) => `${r.spanId} ${r.activityId}`),
          )
        ),
      });
    const [va, vb] = views.map(canonical);
    if (va !== vb) {
      throw new Error("the two servers read different things from the shared store");
    }
  }
  for (const v of sharedStore ? views.slice(0, 1) : views) {
    for (const t of v.traces) {
      if (t.traceId in activities) {
        throw new Error(`trace ${t.traceId} is in both servers' views`);
      }
      traces.push(t);
      activities[t.traceId] = v.activities[t.traceId];
    }
  }
  for (const v of views) spans.push(...v.spans);
  traces.sort((x, y) => y.timestamp.localeCompare(x.timestamp));
  const stats = views.map((v) => v.stats);
  await writeFile(
    outPath,
    JSON.stringify({ traces, activities, spans, stats }, null, 2) + "\n",
  );
  log(`wrote ${traces.length} traces, ${spans.length} spans to ${outPath}`);

  await Promise.all([a.call("exit"), b.call("exit")]);

  let ok = true;
  for (const s of stats) {
    if (s.fedifyExportFailures > 0 || s.storeErrors.length > 0) {
      log(
        `${s.service}: Fedify's exporter failed ${s.fedifyExportFailures} ` +
          `exports; store errors: ${s.storeErrors.join("; ") || "none"}`,
      );
      ok = false;
    }
    if (!endpoint) {
      log(`${s.service}: ${s.spansEnded} spans, no OTLP`);
      continue;
    }
    log(
      `${s.service}: OTLP ${s.protocol} accepted ${s.spansExported}/` +
        `${s.spansEnded} spans in ${s.exportBatches} requests`,
    );
    if (s.exportFailures.length > 0) {
      log(`${s.service}: OTLP export failed: ${s.exportFailures.join("; ")}`);
      ok = false;
    }
    if (s.spansExported !== s.spansEnded) {
      log(`${s.service}: ${s.spansEnded - s.spansExported} spans not exported`);
      ok = false;
    }
  }
  return ok;
}

try {
  const ok = await main();
  process.exit(ok ? 0 : 1);
} catch (err) {
  log(`FAILED: ${err?.stack ?? err}`);
  killChildren();
  process.exit(1);
}
