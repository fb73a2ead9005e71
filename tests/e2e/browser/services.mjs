// Browser tests of the services, service, map pages and of what the trace
// detail shows of inferred services and linked traces (test 9 of the
// "none" round).  Imported by dashboard.mjs, which passes its runner and
// helpers (servicesTests(h)); the OTLP/JSON requests are built here.
//
// The traces, as Mastodon's Ruby instrumentation sends them (timestamps
// of now, so they fall in the last minute of every window):
//   web      service "mastodon/web": server span "GET /api/v1/timelines/home"
//            with client spans: two "SELECT mastodon" (postgresql,
//            mastodon_production, one statement with different literals),
//            a redis "GET" (redis.internal), an http.rb "HTTP POST" to
//            https://remote.example/users/bob/inbox failing (status ERROR),
//            and a producer "PushUpdateWorker publish" (sidekiq, default)
//   sidekiq  service "mastodon/sidekiq": consumer "PushUpdateWorker process"
//            (sidekiq, default) with a span link to the web trace's producer
//   hostile  service "<img src=x onerror=window.__pwned=9>": a server span
//            and a redis client span (an edge to redis.internal)
//
// Run as a script it prints the request (for curl):
//   node services.mjs > req.json

import { randomBytes } from "node:crypto";

const hex = (bytes) => randomBytes(bytes).toString("hex");
const str = (key, v) => ({ key, value: { stringValue: v } });
const int = (key, v) => ({ key, value: { intValue: String(v) } });
const ms = 1000000n;

export const HOSTILE_SERVICE = "<img src=x onerror=window.__pwned=9>";
export const STATEMENT_LITERALS = ["109876543210", "'alice'", "424242", "'bob'"];
const statement = (id, user) =>
  `SELECT "accounts".* FROM "accounts" WHERE "accounts"."id" = ${id} AND "accounts"."username" = ${user} LIMIT 1`;

const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const SERVER = 2;

function resource(service, host) {
  return {
    attributes: [
      str("service.name", service),
      str("host.name", host),
      str("service.instance.id", `${host}-1`),
    ],
  };
}

function span({ traceId, spanId, parentSpanId, name, kind, start, durMs,
  attributes = [], status = { code: 0 }, links }) {
  const s = {
    traceId,
    spanId,
    name,
    kind,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + BigInt(durMs) * ms),
    attributes,
    status,
  };
  if (parentSpanId) s.parentSpanId = parentSpanId;
  if (links) s.links = links;
  return s;
}

const body = (service, host, scopeName, spans) => ({
  resource: resource(service, host),
  scopeSpans: [{ scope: { name: scopeName, version: "0.1.0" }, spans }],
});

// mastodonTraces(): {web, sidekiq, hostile, body}; each trace is
// {traceId, ids: {NAME: spanId}}.
export function mastodonTraces() {
  const t0 = BigInt(Date.now() - 5000) * ms;
  const at = (offMs) => t0 + BigInt(offMs) * ms;

  const web = { traceId: hex(16), ids: {} };
  for (const k of ["server", "pg1", "pg2", "redis", "http", "producer"]) web.ids[k] = hex(8);
  const w = (k, rest) => span({ traceId: web.traceId, spanId: web.ids[k], ...rest });
  const child = (k, rest) => w(k, { parentSpanId: web.ids.server, ...rest });
  const pg = (k, off, dur, id, user) => child(k, {
    name: "SELECT mastodon", kind: CLIENT, start: at(off), durMs: dur,
    attributes: [
      str("db.system", "postgresql"),
      str("db.name", "mastodon_production"),
      str("db.user", "mastodon"),
      str("db.statement", statement(id, user)),
      str("net.peer.name", "db.internal"),
      int("net.peer.port", 5432),
    ],
  });
  const webSpans = [
    w("server", {
      name: "GET /api/v1/timelines/home", kind: SERVER, start: at(0), durMs: 120,
      attributes: [
        str("http.method", "GET"),
        str("http.target", "/api/v1/timelines/home"),
        str("http.host", "mastodon.example"),
        str("http.scheme", "https"),
        int("http.status_code", 200),
      ],
    }),
    pg("pg1", 2, 9, STATEMENT_LITERALS[0], STATEMENT_LITERALS[1]),
    pg("pg2", 14, 4, STATEMENT_LITERALS[2], STATEMENT_LITERALS[3]),
    child("redis", {
      name: "GET", kind: CLIENT, start: at(20), durMs: 1,
      attributes: [
        str("db.system", "redis"),
        str("db.statement", "GET timeline:home:1"),
        str("net.peer.name", "redis.internal"),
        int("net.peer.port", 6379),
      ],
    }),
    child("http", {
      name: "HTTP POST", kind: CLIENT, start: at(25), durMs: 60,
      attributes: [
        str("http.method", "POST"),
        str("http.url", "https://remote.example/users/bob/inbox"),
        str("net.peer.name", "remote.example"),
        int("http.status_code", 503),
      ],
      status: { code: 2, message: "503 Service Unavailable" },
    }),
    child("producer", {
      name: "PushUpdateWorker publish", kind: PRODUCER, start: at(90), durMs: 2,
      attributes: [
        str("messaging.system", "sidekiq"),
        str("messaging.destination", "default"),
        str("messaging.sidekiq.job_class", "PushUpdateWorker"),
      ],
    }),
  ];

  const sidekiq = { traceId: hex(16), ids: { consumer: hex(8) } };
  const sidekiqSpans = [span({
    traceId: sidekiq.traceId, spanId: sidekiq.ids.consumer,
    name: "PushUpdateWorker process", kind: CONSUMER, start: at(300), durMs: 15,
    attributes: [
      str("messaging.system", "sidekiq"),
      str("messaging.destination", "default"),
      str("messaging.sidekiq.job_class", "PushUpdateWorker"),
    ],
    links: [{ traceId: web.traceId, spanId: web.ids.producer, attributes: [] }],
  })];

  const hostile = { traceId: hex(16), ids: { server: hex(8), redis: hex(8) } };
  const hostileSpans = [
    span({
      traceId: hostile.traceId, spanId: hostile.ids.server,
      name: "GET /<script>window.__pwned=10</script>", kind: SERVER, start: at(400), durMs: 5,
      attributes: [str("http.method", "GET")],
    }),
    span({
      traceId: hostile.traceId, spanId: hostile.ids.redis, parentSpanId: hostile.ids.server,
      name: "GET", kind: CLIENT, start: at(401), durMs: 1,
      attributes: [str("db.system", "redis"), str("net.peer.name", "redis.internal")],
    }),
  ];

  return {
    web,
    sidekiq,
    hostile,
    body: {
      resourceSpans: [
        body("mastodon/web", "web-1", "OpenTelemetry::Instrumentation::Rack", webSpans),
        body("mastodon/sidekiq", "sidekiq-1", "OpenTelemetry::Instrumentation::Sidekiq", sidekiqSpans),
        body(HOSTILE_SERVICE, "hostile-1", "hostile", hostileSpans),
      ],
    },
  };
}

// ------------------------------------------------------------ the tests

export async function servicesTests(h) {
  const {
    test, api, postOtlp, newPage, open, screenshot, checkSafe, until, assert,
    assertEqual, setDiff, show, text, T, BASE, BASE_PATH, WAIT_MS, NARROW, WIDE,
  } = h;
  const esc = (v) => v.replace(/["\\]/g, "\\$&"); // inside [attr="…"]
  const svcPath = (name) => `services/${encodeURIComponent(name)}`;
  const inferred = {
    mastodon_production: "database",
    "redis.internal": "cache",
    "remote.example": "instance",
    default: "queue",
  };

  let m; // the posted traces
  let services; // api/services?since=10m once everything is counted

  await test("9a. services: the list equals the API's, inferred services show their kinds", async () => {
    m = mastodonTraces();
    await postOtlp("traces", m.body);
    // The counts reach the store about once a second.
    const want = ["mastodon/web", "mastodon/sidekiq", HOSTILE_SERVICE, ...Object.keys(inferred)];
    await until(`api/services?since=10m to list ${show(want)}`, async () => {
      services = (await api("services?since=10m")).services;
      const names = services.map((s) => s.name);
      const missing = want.filter((n) => !names.includes(n));
      if (missing.length) return `missing ${show(missing)} in ${show(names)}`;
      // Every request counted (the web server span, both pg calls, the
      // hostile redis call too).
      const by = Object.fromEntries(services.map((s) => [s.name, s]));
      return (by["mastodon/web"].requests >= 1 && by.mastodon_production.requests >= 2 &&
        by["redis.internal"].requests >= 2) || `requests ${show(services.map((s) => [s.name, s.requests]))}`;
    });
    for (const [name, kind] of Object.entries(inferred)) {
      assertEqual(services.find((s) => s.name === name).kind, kind, `api/services: the kind of ${name}`);
    }
    for (const name of ["mastodon/web", "mastodon/sidekiq", HOSTILE_SERVICE]) {
      assertEqual(services.find((s) => s.name === name).kind, "instrumented", `api/services: the kind of ${show(name)}`);
    }

    const page = await newPage();
    await open(page, `${BASE}services?since=10m`);
    const list = page.locator(T("services-list"));
    await list.waitFor({ timeout: WAIT_MS });
    const rows = list.locator(T("service-row"));
    // The page may have loaded before the last flush: reload until equal.
    const shownNames = () => rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-service")));
    await until("the service rows = api/services?since=10m", async () => {
      services = (await api("services?since=10m")).services;
      const d = setDiff(await shownNames(), services.map((s) => s.name));
      if (d === null) return true;
      await page.reload();
      await list.waitFor({ timeout: WAIT_MS });
      return d;
    });
    // Default order: by requests, as the API sorts.
    assertEqual(
      (await shownNames()).map((n) => services.find((s) => s.name === n).requests),
      services.map((s) => s.requests),
      "the rows' requests in page order (sorted by requests, as the API)",
    );
    for (const s of services) {
      const row = list.locator(`${T("service-row")}[data-service="${esc(s.name)}"]`);
      const where = `service row ${show(s.name)}`;
      assertEqual(await row.count(), 1, `${where}: rows`);
      const link = row.locator(`a${T("service-link")}`);
      assertEqual(await text(link), s.name, `${where}: the link's text`);
      assertEqual(new URL(await link.getAttribute("href"), page.url()).pathname,
        `${BASE_PATH}${svcPath(s.name)}`, `${where}: the link's path`);
      const badge = row.locator(T("service-kind"));
      assertEqual(await badge.getAttribute("data-kind"), s.kind, `${where}: service-kind's data-kind`);
      assert((await text(badge)).includes(s.kind), `${where}: service-kind shows ${show(await text(badge))}, not ${show(s.kind)}`);
      assertEqual(await row.locator(T("service-requests")).getAttribute("data-value"), String(s.requests),
        `${where}: service-requests' data-value`);
      assertEqual(await row.locator(T("service-errors")).getAttribute("data-value"), String(s.errors),
        `${where}: service-errors' data-value`);
    }
    const visible = await page.evaluate(() => document.body.innerText);
    assert(visible.includes(HOSTILE_SERVICE), `the services page does not show ${show(HOSTILE_SERVICE)} as text`);
    const remote = services.find((s) => s.name === "remote.example");
    assert(remote.errors >= 1, `api/services: remote.example has ${remote.errors} errors (the POST failed)`);
    assertEqual(await page.locator(`${T("nav-services")}[aria-current="page"]`).count(), 1,
      "nav-services marked aria-current=page");
    await checkSafe(page, "the services page");
    assertEqual(await page.evaluate(() => typeof window.__pwned), "undefined", "typeof window.__pwned");
    await screenshot(page, "services");
  });

  await test("9b. a service's page: operations, callees, the slow query as the API has them", async () => {
    assert(services, "test 9a found no services");
    const web = await api(`${svcPath("mastodon/web")}?since=10m`);
    const page = await newPage();
    await open(page, `${BASE}services?since=10m`);
    const link = page.locator(`${T("service-row")}[data-service="mastodon/web"] a${T("service-link")}`);
    await link.click();
    await until("the page of mastodon/web", () =>
      new URL(page.url()).pathname === `${BASE_PATH}${svcPath("mastodon/web")}` || `URL ${page.url()}`);
    assertEqual(new URL(page.url()).searchParams.get("since"), "10m", "the service page's since (the window is kept)");
    const detail = page.locator(`${T("service-detail")}[data-service="mastodon/web"]`);
    await detail.waitFor({ timeout: WAIT_MS });
    await until(`${web.operations.length} operation rows`, async () =>
      (await detail.locator(T("operation-row")).count()) === web.operations.length ||
      `${await detail.locator(T("operation-row")).count()} shown`);
    const ops = await detail.locator(T("operation-row")).evaluateAll((els) => els.map((e) => e.getAttribute("data-operation")));
    const od = setDiff(ops, web.operations.map((o) => o.name));
    assert(od === null, `operation rows' data-operation: ${od}`);
    for (const name of ["GET /api/v1/timelines/home", "SELECT mastodon", "HTTP POST", "PushUpdateWorker publish"]) {
      assert(ops.includes(name), `operation rows ${show(ops)} lack ${show(name)}`);
    }
    assertEqual(await detail.locator(T("service-kind")).getAttribute("data-kind"), "instrumented", "the title's service-kind");
    assertEqual(await detail.locator(T("red-requests")).getAttribute("data-value"), String(web.requests), "red-requests' data-value");

    const slow = web.slowQueries.filter((q) => q.service === "mastodon_production");
    assertEqual(slow.length, 1, `api: slow queries of mastodon_production issued by mastodon/web (${show(web.slowQueries)})`);
    const [q] = slow;
    assertEqual(q.count, 2, "api: the statement's count (two literals, one statement)");
    assert(q.statement.includes("?") && !STATEMENT_LITERALS.some((l) => q.statement.includes(l)),
      `api: the statement keeps a literal: ${show(q.statement)}`);
    const rows = detail.locator(T("slow-query-row"));
    assertEqual(await rows.count(), web.slowQueries.length, "slow-query rows (api slowQueries)");
    const stmts = await rows.locator(T("slow-query-statement")).allTextContents();
    assert(stmts.includes(q.statement), `slow-query statements ${show(stmts)} lack the API's ${show(q.statement)}`);
    const row = rows.filter({ has: page.locator(T("slow-query-statement"), { hasText: q.statement }) }).first();
    const ex = row.locator(`a${T("slow-query-trace")}`);
    assertEqual(new URL(await ex.getAttribute("href"), page.url()).pathname, `${BASE_PATH}traces/${q.exampleTraceId}`,
      "the slow query's example trace link");
    assertEqual(q.exampleTraceId, m.web.traceId, "api: the slow query's exampleTraceId");
    await checkSafe(page, "the mastodon/web page");
    await screenshot(page, "service-web");

    // Last, so that a failure here leaves the rest checked.  The API's
    // callees are edges as in api/map ({from, to, toKind, calls, …}).
    const apiCallees = web.callees.map((c) => c.to);
    assert(apiCallees.includes("mastodon_production"),
      `api/services/mastodon%2Fweb: callees ${show(web.callees)} lack mastodon_production`);
    const callees = await detail.locator(`${T("callees")} ${T("callee")}`).evaluateAll((els) =>
      els.map((e) => e.getAttribute("data-service")));
    const cd = setDiff(callees, apiCallees);
    assert(cd === null, `callee items' data-service = the API's callees[].to: ${cd}` +
      (callees.length ? "" : ` (the callees box reads ${show(await text(detail.locator(T("callees"))))})`));
  });

  await test("9c. the map: a node per API node, the edge to mastodon_production, a node opens its service", async () => {
    const map = await api("map?since=10m");
    const page = await newPage();
    await open(page, `${BASE}map?since=10m`);
    const svg = page.locator(`svg${T("service-map")}`);
    await svg.waitFor({ timeout: WAIT_MS });
    const nodes = await svg.locator(T("map-node")).evaluateAll((els) => els.map((e) => e.getAttribute("data-service")));
    const nd = setDiff(nodes, map.nodes.map((n) => n.name));
    assert(nd === null, `map-node data-service = api/map nodes: ${nd}`);
    const edges = await svg.locator(T("map-edge")).evaluateAll((els) =>
      els.map((e) => `${e.getAttribute("data-from")} -> ${e.getAttribute("data-to")}`));
    const ed = setDiff(edges, map.edges.map((e) => `${e.from} -> ${e.to}`));
    assert(ed === null, `map-edge from/to = api/map edges: ${ed}`);
    assertEqual(await svg.locator(`${T("map-edge")}[data-from="mastodon/web"][data-to="mastodon_production"]`).count(), 1,
      'map-edge[data-from="mastodon/web"][data-to="mastodon_production"]');
    // The hostile name: a node, its name as text (the <title> has it whole).
    const evil = svg.locator(`${T("map-node")}[data-service="${esc(HOSTILE_SERVICE)}"]`);
    assertEqual(await evil.count(), 1, "the hostile service's map-node");
    assert((await evil.textContent()).includes(HOSTILE_SERVICE),
      `the hostile map-node's text ${show(await evil.textContent())} lacks ${show(HOSTILE_SERVICE)}`);
    assertEqual(await page.locator(`${T("nav-map")}[aria-current="page"]`).count(), 1, "nav-map marked aria-current=page");
    await checkSafe(page, "the map");
    assertEqual(await page.evaluate(() => typeof window.__pwned), "undefined", "typeof window.__pwned");
    await screenshot(page, "map");

    await svg.locator(`${T("map-node")}[data-service="mastodon_production"]`).click();
    await until("the page of mastodon_production", () =>
      new URL(page.url()).pathname === `${BASE_PATH}${svcPath("mastodon_production")}` || `URL ${page.url()}`);
    const detail = page.locator(`${T("service-detail")}[data-service="mastodon_production"]`);
    await detail.waitFor({ timeout: WAIT_MS });
    await until("the database's kind badge", async () =>
      (await detail.locator(T("service-kind")).getAttribute("data-kind").catch(() => null)) === "database");
    await checkSafe(page, "the mastodon_production page");
  });

  await test("9d. the trace detail: inferred services on span rows, linked traces both ways", async () => {
    const page = await newPage();
    await open(page, `${BASE}traces/${m.web.traceId}`);
    await page.locator(`${T("trace-detail")}[data-trace-id="${m.web.traceId}"]`).waitFor({ timeout: WAIT_MS });
    const wf = page.locator(T("waterfall"));
    await until("6 span rows", async () =>
      (await wf.locator(T("span-row")).count()) === 6 || `${await wf.locator(T("span-row")).count()} shown`);
    const expect = [
      ["pg1", "mastodon_production", "database"],
      ["pg2", "mastodon_production", "database"],
      ["redis", "redis.internal", "cache"],
      ["http", "remote.example", "instance"],
      ["producer", "default", "queue"],
    ];
    for (const [k, peer, kind] of expect) {
      const row = wf.locator(`${T("span-row")}[data-span-id="${m.web.ids[k]}"]`);
      const where = `span row ${k} (${m.web.ids[k]})`;
      assertEqual(await row.getAttribute("data-peer"), peer, `${where}: data-peer`);
      assertEqual(await row.getAttribute("data-peer-kind"), kind, `${where}: data-peer-kind`);
      assertEqual(await row.getAttribute("data-service"), "mastodon/web", `${where}: data-service`);
      const p = row.locator(T("span-peer"));
      assertEqual(await p.count(), 1, `${where}: span-peer elements`);
      assert((await text(p)).includes(peer), `${where}: span-peer ${show(await text(p))} lacks ${show(peer)}`);
      assertEqual(await p.getAttribute("data-kind"), kind, `${where}: span-peer's data-kind`);
    }
    const server = wf.locator(`${T("span-row")}[data-span-id="${m.web.ids.server}"]`);
    assertEqual(await server.getAttribute("data-peer"), null, "the server span row's data-peer");

    const linked = page.locator(T("linked-traces"));
    const incoming = linked.locator(`${T("linked-trace")}[data-direction="incoming"][data-trace-id="${m.sidekiq.traceId}"]`);
    await incoming.waitFor({ timeout: WAIT_MS });
    assertEqual(await linked.locator(`${T("linked-trace")}[data-direction="outgoing"]`).count(), 0,
      "outgoing linked traces of the web trace");
    assert((await text(incoming)).includes("PushUpdateWorker process"),
      `the incoming link ${show(await text(incoming))} lacks the consumer's name`);
    const inLink = incoming.locator(`a${T("linked-link")}`);
    assertEqual(new URL(await inLink.getAttribute("href"), page.url()).pathname, `${BASE_PATH}traces/${m.sidekiq.traceId}`,
      "the incoming link's path");
    await checkSafe(page, "the web trace's detail");
    await screenshot(page, "trace-inferred");
    await page.setViewportSize(NARROW);
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(sw <= NARROW.width + 1, `the web trace's detail at ${NARROW.width} px is ${sw} px wide: it scrolls sideways`);
    await page.setViewportSize(WIDE);

    await inLink.click();
    await page.locator(`${T("trace-detail")}[data-trace-id="${m.sidekiq.traceId}"]`).waitFor({ timeout: WAIT_MS });
    const out = page.locator(`${T("linked-traces")} ${T("linked-trace")}[data-direction="outgoing"][data-trace-id="${m.web.traceId}"]`);
    await out.waitFor({ timeout: WAIT_MS });
    assertEqual(await page.locator(`${T("linked-traces")} ${T("linked-trace")}[data-direction="incoming"]`).count(), 0,
      "incoming linked traces of the sidekiq trace");
    const consumer = page.locator(`${T("span-row")}[data-span-id="${m.sidekiq.ids.consumer}"]`);
    await consumer.waitFor({ timeout: WAIT_MS });
    assertEqual(await consumer.getAttribute("data-service"), "mastodon/sidekiq", "the consumer row's data-service");
    await checkSafe(page, "the sidekiq trace's detail");
    await screenshot(page, "trace-linked");
    await page.setViewportSize(NARROW);
    const sw2 = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(sw2 <= NARROW.width + 1, `the sidekiq trace's detail at ${NARROW.width} px is ${sw2} px wide: it scrolls sideways`);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(mastodonTraces().body, null, 2));
}
