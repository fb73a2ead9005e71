// One real Fedify 2.3.6 server with one local user, run as a child of
// app.mjs (which drives the scenario over the IPC channel).
//
// Its spans go through one NodeTracerProvider (registered as the process's
// global provider, so that spans Fedify starts without an explicit provider
// land under the same service) to two processors: a BatchSpanProcessor with
// an OTLP/HTTP exporter (protobuf or JSON; none when OTLP_ENDPOINT is
// empty) and Fedify's own FedifySpanExporter, over a MemoryKvStore or, when
// FEDIFY_KV names a redis:// or postgres:// store, over that store
// (RedisKvStore / PostgresKvStore, opened by stores.mjs from
// tests/e2e/fedify-kv/, which the caller copies next to this file).
//
// Environment: FEDIFY_SERVICE (service.name), FEDIFY_USER, FEDIFY_PORT
// (0 = any free port), OTLP_ENDPOINT, OTLP_PROTOCOL=proto|json, FEDIFY_KV.

import { createServer } from "node:http";
import { randomUUID } from "node:crypto";

import {
  createFederation,
  generateCryptoKeyPair,
  InProcessMessageQueue,
  MemoryKvStore,
} from "@fedify/fedify";
import { FedifySpanExporter } from "@fedify/fedify/otel";
import {
  Accept,
  Create,
  Follow,
  Like,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Undo,
} from "@fedify/fedify/vocab";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";

const HOST = "127.0.0.1";
const service = process.env.FEDIFY_SERVICE;
const user = process.env.FEDIFY_USER;
const port = Number(process.env.FEDIFY_PORT ?? 0);
const endpoint = (process.env.OTLP_ENDPOINT ?? "").replace(/\/+$/, "");
const protocol = process.env.OTLP_PROTOCOL ?? "proto";
const kvUrl = process.env.FEDIFY_KV ?? "";

if (!process.send || !service || !user) {
  console.error("server.mjs runs as a child of app.mjs");
  process.exit(2);
}

const log = (msg) => console.error(`${service}: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- tracing

const stats = {
  service,
  protocol: endpoint === "" ? "none" : protocol,
  spansEnded: 0,
  spansExported: 0,
  exportBatches: 0,
  exportFailures: [],
  fedifyExportFailures: 0,
  storeErrors: [],
};

// The store behind Fedify's own exporter.  FedifySpanExporter only logs
// why a write failed (to LogTape, unconfigured here), so the store's
// errors are noted on the way out.
const traceStore = kvUrl === ""
  ? { kv: new MemoryKvStore(), describe: "MemoryKvStore", close: async () => {} }
  : await (await import("./stores.mjs")).openKvStore(kvUrl);
const notingKv = new Proxy(traceStore.kv, {
  get(target, prop) {
    const value = target[prop];
    if (typeof value !== "function") return value;
    return (...args) => {
      const result = value.apply(target, args);
      if (typeof result?.then !== "function") return result;
      return result.catch((err) => {
        stats.storeErrors.push(`${String(prop)}: ${err?.message ?? err}`);
        throw err;
      });
    };
  },
});
const fedifyExporter = new FedifySpanExporter(notingKv);

// FedifySpanExporter updates a trace's summary by read, modify, write
// (compare-and-swap only when the store has cas(), which RedisKvStore and
// PostgresKvStore lack), and SimpleSpanProcessor does not wait for one
// export before starting the next: two spans of one trace ending together
// could lose a count against a networked store.  One export at a time.
let exportChain = Promise.resolve();
const serialExporter = {
  export(spans, done) {
    exportChain = exportChain.then(() =>
      new Promise((resolve) =>
        fedifyExporter.export(spans, (result) => {
          if (result.code !== 0) stats.fedifyExportFailures++;
          done(result);
          resolve();
        })
      )
    );
  },
  forceFlush: () => exportChain,
  shutdown: () => exportChain,
};

// Wraps the OTLP exporter to count what the receiver accepted: a rejected
// batch must fail the run, not surface later as "missing traces".
let exportsInFlight = 0;
function countingExporter(inner) {
  return {
    export(spans, done) {
      exportsInFlight++;
      inner.export(spans, (result) => {
        exportsInFlight--;
        stats.exportBatches++;
        if (result.code === 0) stats.spansExported += spans.length;
        else {
          stats.exportFailures.push(
            String(result.error?.message ?? result.error ?? "unknown error"),
          );
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

// Tracks open spans (to tell when the server has gone quiet) and lists
// every ended span (for diagnosis).
let openSpans = 0;
let lastSpanActivity = Date.now();
const endedSpans = [];
const watcher = {
  onStart() {
    openSpans++;
    lastSpanActivity = Date.now();
  },
  onEnd(span) {
    openSpans--;
    stats.spansEnded++;
    lastSpanActivity = Date.now();
    const ctx = span.spanContext();
    endedSpans.push({
      service,
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      name: span.name,
      events: span.events.map((e) => e.name),
    });
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

const spanProcessors = [watcher];
if (endpoint !== "") {
  const url = `${endpoint}/v1/traces`;
  const otlp = protocol === "json"
    ? new JsonExporter({ url })
    : new ProtoExporter({ url });
  spanProcessors.push(
    new BatchSpanProcessor(countingExporter(otlp), {
      scheduledDelayMillis: 500,
    }),
  );
}
spanProcessors.push(new SimpleSpanProcessor(serialExporter));
const tracerProvider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": service }),
  spanProcessors,
});
tracerProvider.register();

// ---------------------------------------------------------------- federation

const keys = [
  await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
  await generateCryptoKeyPair("Ed25519"),
];
const queue = new InProcessMessageQueue();
const federation = createFederation({
  kv: new MemoryKvStore(),
  queue,
  allowPrivateAddress: true,
  tracerProvider,
});
const followers = new Map(); // follower actor id -> inbox id

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== user) return null;
    const pairs = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: identifier,
      inbox: ctx.getInboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      publicKey: pairs[0].cryptographicKey,
      assertionMethods: pairs.map((p) => p.multikey),
    });
  })
  .setKeyPairsDispatcher((_ctx, identifier) => identifier === user ? keys : []);

federation.setFollowersDispatcher(
  "/users/{identifier}/followers",
  (_ctx, identifier) => {
    if (identifier !== user) return null;
    return {
      items: [...followers].map(([id, inbox]) => ({
        id: new URL(id),
        inboxId: new URL(inbox),
      })),
    };
  },
);

// Inbound activities by type, for the driver's "wait" command.
const received = new Map(); // type -> [{ activity, reason? }]
let waiters = [];
function note(type, activity, reason) {
  const list = received.get(type) ?? [];
  list.push({ activity, reason });
  received.set(type, list);
  waiters = waiters.filter((w) => !w.check());
}
function waitFor(type, count) {
  return new Promise((resolve) => {
    const check = () => {
      const list = received.get(type) ?? [];
      if (list.length < count) return false;
      resolve(list);
      return true;
    };
    if (!check()) waiters.push({ check });
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox")
  .on(Follow, async (ctx, follow) => {
    // Accept every Follow of the local user.
    if (follow.objectId?.href !== ctx.getActorUri(user).href) return;
    const follower = await follow.getActor(ctx);
    if (follower?.id == null || follower.inboxId == null) return;
    followers.set(follower.id.href, follower.inboxId.href);
    await ctx.sendActivity(
      { identifier: user },
      follower,
      new Accept({
        id: new URL(`/activities/${randomUUID()}`, ctx.origin),
        actor: ctx.getActorUri(user),
        object: follow,
      }),
    );
    note("Follow", follow);
  })
  .on(Accept, (_ctx, activity) => note("Accept", activity))
  .on(Create, (_ctx, activity) => note("Create", activity))
  .on(Like, (_ctx, activity) => note("Like", activity))
  .on(Undo, (_ctx, activity) => note("Undo", activity))
  // Deliveries whose signatures fail: noted, then answered 401 by Fedify.
  // (Fedify records the received activity on the span only when such a
  // handler is set.)
  .onUnverifiedActivity((_ctx, activity, reason) => {
    note("Unverified", activity, reason.type);
  });

// ---------------------------------------------------------------- HTTP

// Minimal node:http adapter around federation.fetch().
const server = createServer(async (req, res) => {
  try {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const request = new Request(
      new URL(req.url, `http://${req.headers.host ?? HOST}`),
      {
        method: req.method,
        headers,
        body: hasBody ? Buffer.concat(chunks) : undefined,
      },
    );
    const response = await federation.fetch(request, {
      contextData: undefined,
      onNotFound: () => new Response("Not Found", { status: 404 }),
      onNotAcceptable: () => new Response("Not Acceptable", { status: 406 }),
    });
    const body = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(body);
  } catch (err) {
    log(`request failed: ${err?.stack ?? err}`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  }
});
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(port, HOST, resolve);
});
const origin = `http://${HOST}:${server.address().port}`;
const ctx = federation.createContext(new URL(origin), undefined);
const me = ctx.getActorUri(user);
const newId = () => new URL(`/activities/${randomUUID()}`, origin);

// ---------------------------------------------------------------- commands

let lastLike = null;
const actors = new Map(); // looked-up actors by URI

async function lookupActor(uri) {
  const actor = await ctx.lookupObject(uri);
  if (!(actor instanceof Person)) throw new Error(`${uri} is not a Person`);
  actors.set(uri, actor);
  return actor;
}
const actorFor = async (uri) => actors.get(uri) ?? await lookupActor(uri);

const commands = {
  // The driver's "bob looks up alice".
  async lookup({ uri }) {
    const actor = await lookupActor(uri);
    return { id: actor.id.href, inbox: actor.inboxId?.href };
  },
  async follow({ uri }) {
    const actor = await actorFor(uri);
    const follow = new Follow({ id: newId(), actor: me, object: actor.id });
    await ctx.sendActivity({ identifier: user }, actor, follow);
    return { id: follow.id.href };
  },
  // Create(Note) to the followers collection (fan-out queue).
  async post({ content }) {
    const followersUri = ctx.getFollowersUri(user);
    const create = new Create({
      id: newId(),
      actor: me,
      to: PUBLIC_COLLECTION,
      cc: followersUri,
      object: new Note({
        id: new URL(`/users/${user}/notes/${randomUUID()}`, origin),
        attribution: me,
        to: PUBLIC_COLLECTION,
        cc: followersUri,
        content,
      }),
    });
    await ctx.sendActivity({ identifier: user }, "followers", create);
    return { id: create.id.href, noteId: create.objectId.href };
  },
  async like({ uri, object }) {
    const actor = await actorFor(uri);
    lastLike = new Like({ id: newId(), actor: me, object: new URL(object) });
    await ctx.sendActivity({ identifier: user }, actor, lastLike);
    return { id: lastLike.id.href };
  },
  async undoLike({ uri }) {
    if (lastLike == null) throw new Error("nothing to undo");
    const actor = await actorFor(uri);
    const undo = new Undo({ id: newId(), actor: me, object: lastLike });
    await ctx.sendActivity({ identifier: user }, actor, undo);
    return { id: undo.id.href };
  },
  // Resolves once `count` inbound activities of that type reached a
  // listener ("Unverified": the unverified-activity handler).
  async wait({ type, count = 1 }) {
    const list = await waitFor(type, count);
    return await Promise.all(list.map(async ({ activity, reason }) => ({
      id: activity.id?.href,
      objectId: activity instanceof Create
        ? (await activity.getObject())?.id?.href
        : activity.objectId?.href,
      reason,
    })));
  },
  // Quiet: queue empty, no open span, nothing started or ended lately.
  async quiet({ quietMs = 500 } = {}) {
    for (;;) {
      const depth = await queue.getDepth();
      if (
        depth.queued === 0 && openSpans === 0 &&
        Date.now() - lastSpanActivity >= quietMs
      ) return { spansEnded: stats.spansEnded };
      await sleep(50);
    }
  },
  // Flush every processor.  forceFlush() does not wait for an export the
  // batch timer already started, so wait for those too.
  async flush() {
    await tracerProvider.forceFlush();
    while (exportsInFlight > 0) await sleep(20);
    await tracerProvider.forceFlush();
    await exportChain;
    return {};
  },
  // Flush, then return what Fedify's exporter stored (with a shared
  // store: what every server's exporter stored).
  async dump() {
    await commands.flush();
    const traces = await fedifyExporter.getRecentTraces();
    const activities = {};
    for (const t of traces) {
      activities[t.traceId] = await fedifyExporter.getActivitiesByTraceId(
        t.traceId,
      );
    }
    return { traces, activities, spans: endedSpans, stats };
  },
  async exit() {
    await tracerProvider.shutdown().catch(() => {});
    await traceStore.close().catch(() => {});
    server.close();
    server.closeAllConnections();
    // The in-process queue keeps listening; leave once the reply is out.
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

process.on("message", async ({ id, cmd, args }) => {
  try {
    const fn = commands[cmd];
    if (!fn) throw new Error(`unknown command ${cmd}`);
    process.send({ id, ok: true, result: await fn(args ?? {}) });
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack ?? err) });
  }
});
// The driver went away: do not linger.
process.on("disconnect", () => process.exit(1));

process.send({ ready: true, origin, actor: me.href, inbox: ctx.getInboxUri(user).href });
log(`${user} at ${origin}; Fedify's exporter writes to ${traceStore.describe}`);
