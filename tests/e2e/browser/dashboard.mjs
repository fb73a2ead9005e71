// Browser tests of fedtrace's dashboard: Debian's Chromium driven by
// playwright-core against one running `fedtrace serve` (started by run.sh).
//
//   node dashboard.mjs MODE
//
// MODE says which daemon run.sh started and which tests apply:
//   none      no UI auth, filled with the Fedify scenario: the list, live
//             updates, filters, the detail of a failed signature, a hostile
//             trace
//   password  --ui-password: login, cookie, logout, rate limit
//   user      --ui-user + --ui-password (+ --api-token): the same with a
//             user name, and the bearer token next to the session
//   token     --api-token + --otlp-token: the pages need a login with the
//             API token (a session cookie), the API takes either
//   basepath  --base-path /ft: everything under the prefix
//
// Environment (set by run.sh):
//   E2E_UI         the UI listener, http://127.0.0.1:PORT
//   E2E_OTLP       the OTLP listener
//   E2E_BASE_PATH  the --base-path given to the daemon (default /)
//   E2E_OUT        where screenshots go (MODE-NAME-1280.png, -360.png)
//   E2E_CHROMIUM   the Chromium binary (default /usr/bin/chromium)
//   E2E_PASSWORD, E2E_USER, E2E_API_TOKEN, E2E_OTLP_TOKEN: the daemon's
//                  credentials
//   E2E_WAIT_MS    how long to wait for a condition (default 15000)
//
// Elements are selected only through the data-testid / data-field /
// form-field names of the contract (docs: tests/e2e/browser/README.md).
// Prints "ok - NAME" / "not ok - NAME" with the reason, then
// "MODE: N passed, N failed"; writes "PASSED FAILED" to E2E_OUT/MODE.result.
// Exit status: 0 all passed, 1 a test failed, 2 the harness could not run.

import { mkdir, writeFile } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";

import { chromium } from "playwright-core";

import {
  CLOSE_SCRIPT,
  hostileTrace,
  LOG_BODY,
  PAYLOADS,
  plainTrace,
} from "./hostile.mjs";
import { servicesTests } from "./services.mjs";

const env = process.env;
const MODE = process.argv[2];
const MODES = ["none", "password", "user", "token", "basepath"];
if (!MODES.includes(MODE) || !env.E2E_UI || !env.E2E_OTLP || !env.E2E_OUT) {
  console.error(
    `usage: E2E_UI=… E2E_OTLP=… E2E_OUT=… node dashboard.mjs ${MODES.join("|")}`,
  );
  process.exit(2);
}
const UI = env.E2E_UI.replace(/\/+$/, "");
const ORIGIN = new URL(UI).origin;
const BASE_PATH = (env.E2E_BASE_PATH || "/").replace(/\/*$/, "/");
const BASE = ORIGIN + BASE_PATH;
const OTLP = env.E2E_OTLP.replace(/\/+$/, "");
const OUT = env.E2E_OUT;
const CHROMIUM = env.E2E_CHROMIUM || "/usr/bin/chromium";
const PASSWORD = env.E2E_PASSWORD ?? "";
const USER = env.E2E_USER ?? "";
const API_TOKEN = env.E2E_API_TOKEN ?? "";
const OTLP_TOKEN = env.E2E_OTLP_TOKEN ?? "";
const WAIT_MS = Number(env.E2E_WAIT_MS || 15000);
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 360, height: 740 };

// Selectors of the contract.
const T = (id) => `[data-testid="${id}"]`;
const ROW = T("trace-row");
const rowOf = (id) => `${ROW}[data-trace-id="${id}"]`;
const LOGIN_SUBMIT =
  `${T("login-form")} button:not([type=button]):not([type=reset]), ${T("login-form")} input[type=submit]`;

// ------------------------------------------------------------ assertions

class Failure extends Error {}

const show = (v) => {
  const s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 600 ? `${s.slice(0, 600)}…` : s;
};

function assert(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function assertEqual(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Failure(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

function setDiff(shown, expected) {
  const s = new Set(shown);
  const e = new Set(expected);
  const missing = [...e].filter((x) => !s.has(x));
  const extra = [...s].filter((x) => !e.has(x));
  const dups = shown.length !== s.size
    ? shown.filter((x, i) => shown.indexOf(x) !== i)
    : [];
  if (missing.length === 0 && extra.length === 0 && dups.length === 0) return null;
  return `missing ${show(missing)}, unexpected ${show(extra)}` +
    (dups.length ? `, shown twice ${show(dups)}` : "");
}

// until(WHAT, FN): polls FN until it returns true; anything else it
// returns (or throws) is the state shown when WAIT_MS runs out.
async function until(what, fn, timeout = WAIT_MS) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last === true) return;
    } catch (err) {
      if (err instanceof Failure) throw err;
      last = `error: ${err.message.split("\n")[0]}`;
    }
    if (Date.now() > end) {
      throw new Failure(
        `timed out after ${timeout} ms waiting for ${what}` +
          (last === undefined || last === false ? "" : `; last seen: ${typeof last === "string" ? last : show(last)}`),
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ------------------------------------------------------------ HTTP

// http(PATH, OPTS): a request to BASE + PATH (or an absolute URL) from
// node, never following redirects.  opts.bearer: a token (default: none);
// opts.cookie; opts.form: an object sent urlencoded.  Never reads an event
// stream's body.
async function http(path, opts = {}) {
  const url = /^https?:/.test(path) ? path : BASE + path;
  const headers = { ...(opts.headers ?? {}) };
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
  if (opts.cookie) headers.Cookie = opts.cookie;
  let body = opts.body;
  if (opts.form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(opts.form).toString();
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 30000);
  try {
    const r = await fetch(url, {
      method: opts.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      redirect: "manual",
      signal: abort.signal,
    });
    const type = r.headers.get("content-type") ?? "";
    let text = "";
    if (type.startsWith("text/event-stream")) await r.body?.cancel();
    else text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, type, text, json, url };
  } finally {
    clearTimeout(timer);
  }
}

// The API as the tests' reference: with the API token when there is one.
async function api(path, opts = {}) {
  const r = await http(`api/${path}`, { bearer: API_TOKEN || undefined, ...opts });
  assert(
    r.status === 200 && r.json !== undefined,
    `GET ${BASE_PATH}api/${path}: expected 200 JSON, got ${r.status} ${r.text.slice(0, 200)}`,
  );
  return r.json;
}

// apiPages(QUERY, LIMIT): the API's pages of api/traces?QUERY&limit=LIMIT,
// following X-Next-Cursor to the end: [[traceId…], …].
async function apiPages(query, limit) {
  const pages = [];
  let cursor = null;
  do {
    const q = new URLSearchParams(query);
    q.set("limit", String(limit));
    if (cursor) q.set("cursor", cursor);
    const r = await http(`api/traces?${q}`, { bearer: API_TOKEN || undefined });
    assert(r.status === 200 && Array.isArray(r.json),
      `GET api/traces?${q}: expected 200 and a list, got ${r.status} ${r.text.slice(0, 200)}`);
    pages.push(r.json.map((t) => t.traceId));
    cursor = r.headers.get("x-next-cursor");
    assert(pages.length <= 100, `api/traces?${query}: more than 100 pages of ${limit}`);
  } while (cursor);
  return pages;
}

async function postOtlp(kind, body, token = OTLP_TOKEN) {
  const r = await http(`${OTLP}/v1/${kind}`, {
    bearer: token || undefined,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert(r.status === 200, `POST /v1/${kind}: expected 200, got ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

function expect401Json(r, what) {
  assert(r.status === 401, `${what}: expected 401, got ${r.status} ${r.text.slice(0, 200)}`);
  assert(
    r.type.includes("json") && typeof r.json?.error === "string",
    `${what}: expected a JSON {"error": …} body, got ${r.type} ${r.text.slice(0, 200)}`,
  );
}

// ------------------------------------------------------------ browser

let browser;
let current = null; // the running test: {name, issues: [], pages: []}

async function newPage(opts = {}) {
  const context = await browser.newContext({ viewport: WIDE, ...opts });
  const page = await context.newPage();
  const test = current;
  page.dialogs = [];
  page.on("dialog", async (d) => {
    page.dialogs.push(`${d.type()}: ${d.message()}`);
    test.issues.push(`a ${d.type()} dialog fired: ${show(d.message())}`);
    await d.dismiss().catch(() => {});
  });
  page.on("pageerror", (err) => {
    test.issues.push(`uncaught error in the page: ${err.message.split("\n")[0]}`);
  });
  page.on("console", (msg) => {
    const text = msg.text();
    if (/content.security.policy|fedtrace-e2e csp/i.test(text)) {
      test.csp.push(`${page.url()}: ${text.slice(0, 300)}`);
    }
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.warn(
        `fedtrace-e2e CSP violation: ${e.violatedDirective} blocked ` +
          `${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber} ` +
          `sample ${JSON.stringify(e.sample)}`,
      );
    });
  });
  test.pages.push(page);
  return page;
}

// Sideways scrolling is a failure (the dashboard must be usable at 360 px
// and on a large screen); a row grown absurdly tall (a squeezed column
// wrapping one character per line) is a warning.
//
// How the sideways scrolling is measured: at the viewport's width, the
// page's scroll width (the larger of <html>'s and <body>'s scrollWidth)
// must not exceed <html>'s clientWidth (the viewport without a vertical
// scrollbar) by more than 1 px.  Wide content inside its own scroll box
// (a table in .table-wrap with overflow-x: auto) does not count: only the
// page itself scrolling does.  <html> and <body> must not hide their
// horizontal overflow (overflow-x: hidden or clip would cut the content
// off instead of scrolling, and make the measure meaningless).  The
// failure names up to 5 elements sticking out past the right edge.
async function layoutCheck(page) {
  return page.evaluate(() => {
    const de = document.documentElement;
    const body = document.body;
    const width = de.clientWidth;
    const overflow = [];
    for (const e of [de, body]) {
      if (!e) continue;
      const ox = getComputedStyle(e).overflowX;
      if (ox === "hidden" || ox === "clip") {
        overflow.push(`<${e.tagName.toLowerCase()}> has overflow-x: ${ox} (hides what sticks out)`);
      }
    }
    const sw = Math.max(de.scrollWidth, body ? body.scrollWidth : 0);
    if (sw > width + 1) {
      // Who sticks out: elements past the right edge whose ancestors do
      // not clip or scroll them.
      const describe = (e) => {
        let d = e.tagName.toLowerCase();
        if (e.getAttribute("data-testid")) d += `[data-testid=${e.getAttribute("data-testid")}]`;
        else if (e.id) d += `#${e.id}`;
        else if (e.className && typeof e.className === "string") d += `.${e.className.trim().split(/\s+/).join(".")}`;
        const t = (e.textContent ?? "").trim().replace(/\s+/g, " ");
        return `${d} (right edge ${Math.round(e.getBoundingClientRect().right)} px${t ? `, ${JSON.stringify(t.slice(0, 40))}` : ""})`;
      };
      const clipped = (e) => {
        for (let a = e.parentElement; a && a !== body && a !== de; a = a.parentElement) {
          if (getComputedStyle(a).overflowX !== "visible") return true;
        }
        return false;
      };
      const culprits = [];
      for (const e of body.querySelectorAll("*")) {
        const r = e.getBoundingClientRect();
        if (r.width === 0 || r.right <= width + 1 || clipped(e)) continue;
        // the outermost element sticking out, not each of its children
        if (culprits.some((c) => c.contains(e))) continue;
        culprits.push(e);
        if (culprits.length >= 5) break;
      }
      overflow.push(`the page is ${sw} px wide in a ${width} px viewport: it scrolls sideways` +
        (culprits.length ? `; sticking out: ${culprits.map(describe).join("; ")}` : ""));
    }
    const tall = [];
    for (const id of ["trace-row", "log-row", "span-row", "activity"]) {
      for (const el of document.querySelectorAll(`[data-testid="${id}"]`)) {
        const h = el.getBoundingClientRect().height;
        if (h > (id === "activity" ? 3000 : 800)) {
          tall.push(`a ${id} is ${Math.round(h)} px tall (a squeezed column?)`);
          break;
        }
      }
    }
    return { overflow, tall };
  });
}

// screenshot(PAGE, NAME): full-page screenshots at 1280x900 and 360x740
// (MODE-NAME-1280.png, -360.png); then fails when the page scrolls
// sideways at either width (see layoutCheck).  opts.suffix: "-dark" etc.
// after the name.
const shots = [];
async function screenshot(page, name, opts = {}) {
  const base = `${OUT}/${MODE}-${name}${opts.suffix ?? ""}`;
  const problems = [];
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    // a frame for the layout to follow the new width
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: `${base}-${size.width}.png`, fullPage: true });
    const found = await layoutCheck(page);
    for (const t of found.tall) warn(`${name} at ${size.width}x${size.height}: ${t}`);
    for (const o of found.overflow) problems.push(`${name} at ${size.width}x${size.height}: ${o}`);
  }
  await page.setViewportSize(WIDE);
  shots.push(`${base}-{1280,360}.png`);
  if (problems.length) throw new Failure(problems.join("\n  "));
}

// open(PAGE, URL): goto, and the page (after redirects) must be a 200.
async function open(page, url) {
  const r = await page.goto(url);
  assert(r && r.status() === 200, `GET ${url}: ${r ? r.status() : "no response"} at ${page.url()}`);
  return r;
}

const rowIds = (page) =>
  page.$$eval(ROW, (els) => els.map((e) => e.getAttribute("data-trace-id")));

const text = async (loc) => ((await loc.textContent()) ?? "").trim();

// The short name of an ActivityStreams type IRI ("…#Follow" → "Follow").
function shortType(t) {
  if (/^https?:\/\//.test(t)) return t.replace(/^.*[#/]/, "");
  return t;
}

async function waitForList(page, what) {
  await until(`${what}: the trace list`, async () =>
    (await page.locator(T("trace-list")).count()) > 0 ||
    (await page.locator(T("empty")).count()) > 0 ||
    `at ${page.url()}`);
}

// Waits until the list's rows are exactly `expected` (ids, in order when
// `ordered`), clicking [data-testid=more] while rows are missing.
async function expectRows(page, expected, what, ordered = false) {
  let clicked = 0;
  await until(`${what}: rows = the API's answer (${expected.length} traces)`, async () => {
    const ids = await rowIds(page);
    const diff = setDiff(ids, expected);
    if (diff === null) {
      if (ordered && !isDeepStrictEqual(ids, expected)) {
        return `same traces, other order: ${show(ids)} (API: ${show(expected)})`;
      }
      return true;
    }
    const more = page.locator(T("more"));
    if (ids.length < expected.length && clicked < 50 &&
      (await more.count()) > 0 && (await more.first().isVisible()) &&
      (await more.first().isEnabled())) {
      await more.first().click();
      clicked++;
    }
    return diff;
  });
}

// The safety checks of every page that shows remote data.
async function checkSafe(page, where) {
  assertEqual(page.dialogs, [], `${where}: dialogs`);
  const bad = await page.evaluate(() => {
    const out = [];
    if (typeof window.__pwned !== "undefined") {
      out.push(`window.__pwned is ${String(window.__pwned)}`);
    }
    const risky = document.querySelectorAll(
      '[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i], [formaction^="javascript:" i], [xlink\\:href^="javascript:" i]',
    );
    for (const el of risky) out.push(`javascript: URL on ${el.outerHTML.slice(0, 160)}`);
    for (const a of document.querySelectorAll("a[href]")) {
      let u;
      try {
        u = new URL(a.getAttribute("href"), document.baseURI);
      } catch {
        out.push(`unparseable href ${a.getAttribute("href")}`);
        continue;
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        out.push(`link to ${u.protocol}: ${a.outerHTML.slice(0, 160)}`);
      } else if (u.origin !== location.origin) {
        const rel = (a.getAttribute("rel") ?? "").split(/\s+/);
        if (!rel.includes("noopener") || !rel.includes("noreferrer")) {
          out.push(`link off-site without rel="noopener noreferrer": ${a.outerHTML.slice(0, 160)}`);
        }
      }
    }
    for (const img of document.querySelectorAll("img")) {
      if (img.getAttribute("src") === "x") out.push(`<img src=x>: ${img.outerHTML}`);
    }
    for (const el of document.querySelectorAll("*")) {
      for (const at of el.attributes) {
        if (/^on/i.test(at.name)) {
          out.push(`event handler attribute ${at.name} on <${el.tagName.toLowerCase()}>: ${at.value.slice(0, 80)}`);
        }
      }
    }
    for (const s of document.querySelectorAll("script")) {
      if (!s.getAttribute("src") || s.textContent.trim() !== "") {
        out.push(`inline script: ${s.outerHTML.slice(0, 160)}`);
      } else if (new URL(s.src).origin !== location.origin) {
        out.push(`script from another origin: ${s.src}`);
      }
    }
    for (const el of document.querySelectorAll("iframe, frame, object, embed, base, meta[http-equiv]")) {
      out.push(`unexpected <${el.tagName.toLowerCase()}>: ${el.outerHTML.slice(0, 160)}`);
    }
    return out;
  });
  assertEqual(bad, [], `${where}: unsafe content in the page`);
  assertEqual(
    await page.locator('a[href^="javascript:" i]').count(),
    0,
    `${where}: a[href^="javascript:"] elements`,
  );
}

// The status word the dashboard shows for an OTLP status (the API's
// span JSON): error, ok or unset.
function statusWord(st) {
  const c = st && typeof st === "object" ? st.code : undefined;
  if (c === 2 || c === "STATUS_CODE_ERROR" || c === "ERROR") return "error";
  if (c === 1 || c === "STATUS_CODE_OK" || c === "OK") return "ok";
  return "unset";
}

const resourceAttr = (s, key) => {
  const a = (s.resource?.attributes ?? []).find((x) => x.key === key);
  return a ? a.value?.stringValue ?? null : null;
};

// checkSpanDetail(PAGE, SPAN, WHERE): opens the span's details (a click on
// its span-row, unless open) and checks span-status against the API's
// status and span-node against the resource's host.name (or, without
// one, service.instance.id; no span-node without either).
async function checkSpanDetail(page, s, where) {
  const row = page.locator(`${T("span-row")}[data-span-id="${s.spanId}"]`);
  const sd = page.locator(`${T("span-detail")}[data-span-id="${s.spanId}"]`);
  assertEqual(await row.count(), 1, `${where}: span rows`);
  if ((await sd.count()) === 0) await row.click();
  await sd.waitFor({ state: "visible", timeout: WAIT_MS });
  const status = sd.locator(T("span-status"));
  assertEqual(await status.count(), 1, `${where}: [data-testid=span-status] in its span-detail`);
  assertEqual(await text(status), statusWord(s.status), `${where}: span-status (API status ${show(s.status)})`);
  const host = resourceAttr(s, "host.name");
  const node = host ?? resourceAttr(s, "service.instance.id");
  const shown = sd.locator(T("span-node"));
  if (node) {
    assertEqual(await shown.count(), 1, `${where}: [data-testid=span-node] (host.name ${show(host)})`);
    assertEqual(await shown.textContent(), node, `${where}: span-node`);
  } else {
    assertEqual(await shown.count(), 0, `${where}: [data-testid=span-node] without host.name`);
  }
  return { host };
}

// colours(PAGE, SELECTORS): in the page, the relative luminance (WCAG,
// 0 black … 1 white) of the page's background (<body>'s, else <html>'s)
// and text (<body>'s color); for each selector present, its first
// element's colour and effective background (its own or the nearest
// ancestor's non-transparent one, semi-transparent ones blended); and
// the visible text whose contrast with its background is below 3:1 (up to
// 8, worst first).
async function colours(page, selectors) {
  return page.evaluate((selectors) => {
    const parse = (c) => {
      const m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(c);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
    };
    const blend = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
    const lum = (c) => {
      const [r, g, b] = c.slice(0, 3).map((v) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => {
      const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
      return (hi + 0.05) / (lo + 0.05);
    };
    // the canvas under everything: the page's own background, or white/black
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    const canvas = dark ? [18, 18, 18, 1] : [255, 255, 255, 1];
    // What is painted under the middle of EL, top first: the elements at
    // that point from EL down (an absolutely placed label over a bar is
    // on the bar, not on its parent); off screen, EL and its ancestors.
    const under = (el) => {
      const r = el.getBoundingClientRect();
      const x = r.left + r.width / 2;
      const y = r.top + r.height / 2;
      if (x >= 0 && y >= 0 && x < innerWidth && y < innerHeight) {
        const stack = document.elementsFromPoint(x, y);
        const i = stack.indexOf(el);
        const rest = i >= 0 ? stack.slice(i) : stack.filter((e) => !el.contains(e) || e === el);
        if (rest.length) return rest;
      }
      const out = [];
      for (let e = el; e; e = e.parentElement) out.push(e);
      return out;
    };
    const background = (el) => {
      const layers = [];
      for (const e of under(el)) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c[3] > 0) {
          layers.push(c);
          if (c[3] >= 1) break;
        }
      }
      let out = canvas;
      for (const c of layers.reverse()) out = blend(c, out);
      return out;
    };
    const rgb = (c) => `rgb(${c.slice(0, 3).map(Math.round).join(",")})`;
    const bodyBg = background(document.body);
    const bodyFg = parse(getComputedStyle(document.body).color);
    const parts = {};
    for (const sel of selectors) {
      const e = document.querySelector(sel);
      if (!e) continue;
      const bg = background(e);
      const fg = blend(parse(getComputedStyle(e).color) ?? [0, 0, 0, 1], bg);
      parts[sel] = { bg: lum(bg), fg: lum(fg), bgColour: rgb(bg), fgColour: rgb(fg) };
    }
    const low = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      const e = t.parentElement;
      if (!e || seen.has(e) || !t.textContent.trim() || e.closest("svg")) continue;
      seen.add(e);
      const r = e.getBoundingClientRect();
      const cs = getComputedStyle(e);
      if (r.width === 0 || r.height === 0 || cs.visibility !== "visible" || e.closest("[hidden]")) continue;
      if (r.width <= 2 && r.height <= 2) continue; // visually hidden (screen-reader) text
      const bg = background(e);
      const fg = blend(parse(cs.color) ?? [0, 0, 0, 1], bg);
      const k = ratio(fg, bg);
      if (k < 3) {
        low.push({ k, what: `${e.tagName.toLowerCase()}.${[...e.classList].join(".")} ${JSON.stringify(t.textContent.trim().slice(0, 30))}: ${rgb(fg)} on ${rgb(bg)} = ${k.toFixed(2)}:1` });
      }
    }
    low.sort((a, b) => a.k - b.k);
    return {
      scheme: dark ? "dark" : "light",
      bg: lum(bodyBg), fg: lum(bodyFg ?? [0, 0, 0, 1]), bgColour: rgb(bodyBg), fgColour: rgb(bodyFg ?? [0, 0, 0, 1]),
      parts, low: low.slice(0, 8).map((x) => x.what), lowCount: low.length,
    };
  }, selectors);
}

// checkScheme(PAGE, SCHEME, WHERE, SELECTORS): the page is in SCHEME
// ("dark": background luminance < 0.2, text > 0.6; "light": background
// > 0.6, text < 0.2); each selector's element has a background of the
// scheme and text at 4.5:1 on it; no visible text is below 3:1 contrast.
async function checkScheme(page, scheme, where, selectors = []) {
  // The whole page in the viewport, so that what lies under each text can
  // be asked for (elementsFromPoint answers only inside the viewport).
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: size.width, height: Math.min(Math.max(height, size.height), 12000) });
  let c;
  try {
    c = await colours(page, selectors);
  } finally {
    await page.setViewportSize(size);
  }
  assertEqual(c.scheme, scheme, `${where}: prefers-color-scheme in the page`);
  const ok = (bg, fg) => (scheme === "dark" ? bg < 0.2 && fg > 0.6 : bg > 0.6 && fg < 0.2);
  const want = scheme === "dark" ? "background luminance < 0.2, text > 0.6" : "background luminance > 0.6, text < 0.2";
  assert(ok(c.bg, c.fg), `${where} (${scheme}): the page's background ${c.bgColour} (${c.bg.toFixed(3)}), ` +
    `text ${c.fgColour} (${c.fg.toFixed(3)}); expected ${want}`);
  // The parts: a background of the scheme, a text colour lighter (dark)
  // or darker (light) than it with at least 4.5:1 contrast (a link may be
  // a mid-light blue, not white).
  for (const sel of selectors) {
    const p = c.parts[sel];
    assert(p, `${where} (${scheme}): no ${sel} on the page`);
    const k = (Math.max(p.bg, p.fg) + 0.05) / (Math.min(p.bg, p.fg) + 0.05);
    const good = scheme === "dark" ? p.bg < 0.2 && p.fg > p.bg : p.bg > 0.6 && p.fg < p.bg;
    assert(good && k >= 4.5, `${where} (${scheme}): ${sel} shows ${p.fgColour} (${p.fg.toFixed(3)}) on ` +
      `${p.bgColour} (${p.bg.toFixed(3)}), ${k.toFixed(2)}:1; expected a ${scheme === "dark" ? "dark (< 0.2)" : "light (> 0.6)"} ` +
      `background and ${scheme === "dark" ? "lighter" : "darker"} text at 4.5:1 or more`);
  }
  assertEqual(c.low, [], `${where} (${scheme}): text below 3:1 contrast (${c.lowCount} elements)`);
}

// ------------------------------------------------------------ the runner

const results = [];
const warnings = [];

async function test(name, fn) {
  current = { name, issues: [], csp: [], pages: [] };
  const t0 = Date.now();
  let error = null;
  try {
    await fn();
  } catch (err) {
    error = err instanceof Failure
      ? err.message
      : `${err?.name ?? "Error"}: ${err?.message ?? err}`;
  }
  // Uncaught errors, dialogs and CSP violations fail the test they
  // happened in (the page inserted something the CSP had to stop, or the
  // dashboard relies on something the CSP forbids).
  const problems = [...current.issues];
  if (current.csp.length) {
    problems.push(`Content-Security-Policy violations:\n    ${current.csp.join("\n    ")}`);
  }
  if (problems.length && !error) error = problems.join("\n  ");
  else if (problems.length) error += `\n  also: ${problems.join("\n  ")}`;
  if (error) {
    // A screenshot of each page the test had open, to see why.
    let i = 0;
    for (const p of current.pages) {
      if (p.isClosed()) continue;
      const file = `${OUT}/${MODE}-FAILED-${name.replace(/[^A-Za-z0-9]+/g, "_").slice(0, 50)}-${i++}.png`;
      await p.screenshot({ path: file, fullPage: true }).then(
        () => (error += `\n  (screenshot of ${p.url()}: ${file})`),
        () => {},
      );
    }
  }
  for (const p of current.pages) await p.context().close().catch(() => {});
  const ms = Date.now() - t0;
  results.push({ name, ok: !error, error, ms });
  if (error) {
    console.log(`not ok - [${MODE}] ${name} (${ms} ms)\n  ${error}`);
  } else {
    console.log(`ok - [${MODE}] ${name} (${ms} ms)`);
  }
  current = null;
}

const warn = (msg) => {
  warnings.push(msg);
  console.log(`# WARNING [${MODE}]: ${msg}`);
};

// ============================================================ mode none

async function modeNone() {
  const scenarioTypes = ["Follow", "Accept", "Create", "Like", "Undo"];
  let all; // the API's list before the tests add traces
  let failedRecord; // {traceId, record}

  await test("1. the list shows the Fedify scenario's traces, as the API does", async () => {
    all = await api("traces?limit=100");
    const types = new Set(all.flatMap((t) => t.activityTypes.map(shortType)));
    for (const t of scenarioTypes) {
      assert(types.has(t), `the API has no ${t} trace: did the Fedify scenario run? (types: ${show([...types])})`);
    }
    assert(all.some((t) => t.verificationFailed), "the API marks no trace verificationFailed (summary field)");
    const session = await api("session");
    assertEqual(session, { mode: "none", user: null }, "GET api/session");

    const page = await newPage();
    const resp = await open(page, BASE);
    assert(resp.status() === 200, `GET ${BASE}: ${resp.status()}`);
    const csp = resp.headers()["content-security-policy"] ?? "";
    assert(/script-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp),
      `GET ${BASE}: Content-Security-Policy ${show(csp)}`);
    await waitForList(page, "GET /");
    await expectRows(page, all.map((t) => t.traceId), "the unfiltered list", true);

    for (const t of all) {
      const row = page.locator(rowOf(t.traceId));
      const where = `row ${t.traceId}`;
      const link = row.locator(`a${T("trace-link")}`);
      assertEqual(await link.count(), 1, `${where}: a[data-testid=trace-link] elements`);
      assertEqual(await text(link), t.traceId.slice(0, 8), `${where}: the link's text`);
      const href = new URL(await link.getAttribute("href"), page.url());
      assertEqual(href.href, `${BASE}traces/${t.traceId}`, `${where}: the link's href`);

      const typesText = await text(row.locator(T("trace-types")));
      const shown = new Set(typesText.split(/[^A-Za-z0-9_]+/).filter((w) => /^[A-Za-z]/.test(w)));
      const expected = new Set(t.activityTypes.map(shortType));
      assert(
        setDiff([...shown], [...expected]) === null,
        `${where}: trace-types ${show(typesText)} should name exactly ${show([...expected])}`,
      );
      const countText = await text(row.locator(T("trace-count")));
      assertEqual(countText.match(/\d+/)?.[0], String(t.activityCount), `${where}: trace-count (${show(countText)})`);
      assert((await text(row.locator(T("trace-time")))) !== "", `${where}: trace-time is empty`);
      const services = await text(row.locator(T("trace-services")));
      for (const s of t.services ?? []) {
        assert(services.includes(s), `${where}: trace-services ${show(services)} lacks ${show(s)}`);
      }
      assertEqual(await row.locator(T("mark-verify-failed")).count(), t.verificationFailed ? 1 : 0,
        `${where}: mark-verify-failed elements (verificationFailed ${t.verificationFailed})`);
      assertEqual(await row.locator(T("mark-error")).count(), t.hasError ? 1 : 0,
        `${where}: mark-error elements (hasError ${t.hasError})`);
    }
    assertEqual(await page.locator(T("logout")).count(), 0, "no auth: [data-testid=logout] elements");
    await checkSafe(page, "the list");
    await screenshot(page, "list");
  });

  await test("1b. paging: \"Older traces\" appends the API's next pages, then disappears", async () => {
    // ?limit=N in the page's URL is the page size of its API requests;
    // the run has about a dozen traces: pages of 4.
    const LIMIT = 4;
    const cases = [["", "the unfiltered list"], ["direction=inbound", "direction=inbound"]];
    for (const [query, what] of cases) {
      const pages = await apiPages(query, LIMIT);
      const joined = pages.flat();
      const whole = (await api(`traces?limit=1000${query ? `&${query}` : ""}`)).map((t) => t.traceId);
      assertEqual(joined, whole, `${what}: the API's pages of ${LIMIT} joined vs. one page of 1000`);
      assert(pages.length >= 3 || (query && pages.length >= 2),
        `${what}: only ${pages.length} API pages of ${LIMIT} (${joined.length} traces): too few to page through`);
      assert(pages.every((p) => p.length > 0), `${what}: an empty API page: ${show(pages)}`);

      const page = await newPage();
      await open(page, `${BASE}?${query ? `${query}&` : ""}limit=${LIMIT}`);
      await waitForList(page, what);
      const more = page.locator(T("more"));
      for (let i = 0; i < pages.length; i++) {
        const want = pages.slice(0, i + 1).flat();
        await until(`${what}: rows = the API's first ${i + 1} page(s) (${want.length} traces)`, async () => {
          const ids = await rowIds(page);
          return isDeepStrictEqual(ids, want) || `rows ${show(ids)}`;
        });
        const ids = await rowIds(page);
        assertEqual(new Set(ids).size, ids.length, `${what}: rows shown twice after page ${i + 1}`);
        if (i < pages.length - 1) {
          await until(`${what}: the "Older traces" button after page ${i + 1}`, async () =>
            ((await more.count()) === 1 && (await more.isVisible()) && (await more.isEnabled())) ||
            `${await more.count()} [data-testid=more]`);
          if (i === 0 && !query) await screenshot(page, "list-paged");
          await more.click();
        }
      }
      // The end: no cursor, no button; the rows stay.
      await until(`${what}: no "Older traces" button after the last page`, async () =>
        (await more.count()) === 0 || `${await more.count()} [data-testid=more], visible ${await more.first().isVisible()}`);
      assertEqual(await rowIds(page), joined, `${what}: rows after the last page`);
      assertEqual(new URL(page.url()).searchParams.get("limit"), String(LIMIT), `${what}: the URL's limit`);
      await checkSafe(page, `${what}, paged`);
    }
  });

  let live;
  await test("2. a new trace appears at the top of the open list without a reload", async () => {
    const page = await newPage();
    await open(page, BASE);
    await waitForList(page, "GET /");
    await until('[data-testid=live-status] to say "live"', async () =>
      (await text(page.locator(T("live-status")))) === "live" ||
      `live-status ${show(await page.locator(T("live-status")).textContent().catch(() => null))}`);
    const marker = `m${Math.random()}`;
    await page.evaluate((m) => { window.__marker = m; }, marker);
    const before = await rowIds(page);

    live = plainTrace({ activityType: "Create", service: "e2e-live" });
    await postOtlp("traces", live.body);
    await until(`the row of the new trace ${live.traceId}`, async () =>
      (await page.locator(rowOf(live.traceId)).count()) === 1 ||
      `rows ${show(await rowIds(page))}`);
    assertEqual(await page.evaluate(() => window.__marker), marker,
      "window.__marker (the page must not have been reloaded)");
    const ids = await rowIds(page);
    assertEqual(ids[0], live.traceId, "the first row");
    assertEqual(ids.slice(1), before, "the rows below the new one");
    const row = page.locator(rowOf(live.traceId));
    assertEqual((await text(row.locator(T("trace-count")))).match(/\d+/)?.[0], "1", "the new row's trace-count");
    assert((await text(row.locator(T("trace-types")))).includes("Create"), "the new row's trace-types lacks Create");
    assert((await text(row.locator(T("trace-services")))).includes("e2e-live"), "the new row's trace-services lacks e2e-live");
    await screenshot(page, "list-live");
  });

  await test("2b. a trace that changes is updated in place (upsert by trace id)", async () => {
    assert(live, "test 2 did not post its trace");
    const page = await newPage();
    await open(page, BASE);
    await until('[data-testid=live-status] to say "live"', async () =>
      (await text(page.locator(T("live-status")))) === "live");
    await page.locator(rowOf(live.traceId)).waitFor({ timeout: WAIT_MS });
    const marker = `m${Math.random()}`;
    await page.evaluate((m) => { window.__marker = m; }, marker);
    // A second span of the same trace, on another service, with an
    // outbound Accept.
    const more = plainTrace({ activityType: "Accept", service: "e2e-live-2" });
    const sp = more.body.resourceSpans[0].scopeSpans[0].spans[0];
    sp.traceId = live.traceId;
    sp.parentSpanId = live.spanId;
    sp.kind = 3;
    sp.events[0].name = "activitypub.activity.sent";
    sp.events[0].attributes.push(
      { key: "activitypub.inbox.url", value: { stringValue: "https://remote.example/users/carol/inbox" } },
    );
    await postOtlp("traces", more.body);
    const row = page.locator(rowOf(live.traceId));
    await until("the live trace's row to count 2 activities", async () => {
      const c = await text(row.locator(T("trace-count")));
      return c.match(/\d+/)?.[0] === "2" || `trace-count ${show(c)}`;
    });
    assertEqual(await page.locator(rowOf(live.traceId)).count(), 1, `rows for ${live.traceId}`);
    const types = await text(row.locator(T("trace-types")));
    assert(types.includes("Create") && types.includes("Accept"), `trace-types ${show(types)}: expected Create and Accept`);
    const services = await text(row.locator(T("trace-services")));
    assert(services.includes("e2e-live-2"), `trace-services ${show(services)} lacks e2e-live-2`);
    assertEqual(await page.evaluate(() => window.__marker), marker, "window.__marker");
  });

  // A filter through the form: PARAMS [[name, value]…] filled in (a
  // checkbox checked, a select selected, a text field typed), applied; the
  // rows must be the API's answer for the same query, which must be
  // non-empty and smaller than EVERYTHING; the URL carries exactly these
  // parameters; a reload keeps the form and the rows; clear restores all.
  async function checkFilter(page, name, params, everything) {
    const form = page.locator(T("filters"));
    const query = new URLSearchParams(params).toString();
    const expected = (await api(`traces?${query}&limit=1000`)).map((t) => t.traceId);
    assert(expected.length > 0, `${name}: the API returns no trace (the data has some)`);
    assert(expected.length < everything.length,
      `${name}: the API returns every trace (${expected.length}); the filter narrows nothing`);
    for (const [k, v] of params) {
      const field = form.locator(`[name="${k}"]`);
      assertEqual(await field.count(), 1, `${name}: form fields named ${k}`);
      const kind = await field.evaluate((e) => (e.tagName === "SELECT" ? "select" : e.type));
      if (kind === "checkbox") await field.check();
      else if (kind === "select") await field.selectOption(v);
      else await field.fill(v);
    }
    await form.locator(T("filter-apply")).click();
    await until(`${name}: the URL to carry the filter`, () => {
      const q = new URL(page.url()).searchParams;
      return params.every(([k, v]) => q.get(k) === v) || `URL ${page.url()}`;
    });
    const q = new URL(page.url()).searchParams;
    const others = [...q.entries()].filter(([k, v]) => !params.some(([pk]) => pk === k) && v !== "");
    assertEqual(others, [], `${name}: other non-empty parameters in the URL ${page.url()}`);
    await expectRows(page, expected, name, true);
    await screenshot(page, `filter-${params.map(([k]) => k).join("-")}`);

    await page.reload();
    await waitForList(page, `${name} after the reload`);
    for (const [k, v] of params) {
      const field = form.locator(`[name="${k}"]`);
      const kind = await field.evaluate((e) => (e.tagName === "SELECT" ? "select" : e.type));
      if (kind === "checkbox") assert(await field.isChecked(), `${name}: the ${k} checkbox is not checked after the reload`);
      else assertEqual(await field.inputValue(), v, `${name}: the ${k} field after the reload`);
    }
    await expectRows(page, expected, `${name} after the reload`, true);

    await page.locator(T("filter-clear")).click();
    await until(`${name}: filter-clear to drop the filter from the URL`, () =>
      params.every(([k]) => !new URL(page.url()).searchParams.get(k)) || `URL ${page.url()}`);
    await expectRows(page, everything, `${name} cleared`, true);
  }

  await test("3. a filter narrows the list to the API's answer and survives a reload", async () => {
    const page = await newPage();
    await open(page, BASE);
    await waitForList(page, "GET /");
    const everything = (await api("traces?limit=1000")).map((t) => t.traceId);
    await expectRows(page, everything, "before filtering", true);
    await checkFilter(page, "type=Follow", [["type", "Follow"]], everything);
    await checkFilter(page, "verification=failed", [["verification", "failed"]], everything);
    await checkFilter(page, "direction=outbound", [["direction", "outbound"]], everything);
  });

  await test("3b. actor, host, service, error and time-range filters: rows = the API's answer, in the URL, kept by a reload", async () => {
    const summaries = await api("traces?limit=1000");
    const everything = summaries.map((t) => t.traceId);
    // The first candidate value whose API answer is non-empty and smaller
    // than the whole list.
    const count = async (k, v) => (await api(`traces?${new URLSearchParams([[k, v]])}&limit=1000`)).length;
    async function pick(k, candidates) {
      const tried = [];
      for (const v of [...new Set(candidates)]) {
        const n = await count(k, v);
        if (n > 0 && n < everything.length) return v;
        tried.push(`${v}: ${n}`);
      }
      throw new Failure(`${k}: no value from the data narrows the list (of ${everything.length}): ${show(tried)}`);
    }
    const actors = summaries.flatMap((t) => t.actors ?? []);
    // part of an actor id, in another case ("…/users/bob" → "USERS/BOB"),
    // else the whole id
    const actor = await pick("actor", [
      ...actors.map((a) => a.replace(/^.*\/([^/]+\/[^/]+)$/, "$1").toUpperCase()),
      ...actors,
    ]);
    const host = await pick("host", summaries.flatMap((t) => t.hosts ?? []));
    const service = await pick("service", summaries.flatMap((t) => t.services ?? []));
    // Time: the first activity of a trace in the middle of the list.
    const times = [...new Set(summaries.map((t) => t.timestamp))].sort();
    assert(times.length >= 3, `only ${times.length} distinct trace timestamps`);
    const mid = times[Math.floor(times.length / 2)];
    const lo = times[Math.floor(times.length / 4)];
    const hi = times[Math.floor((3 * times.length) / 4)];

    const page = await newPage();
    await open(page, BASE);
    await waitForList(page, "GET /");
    await expectRows(page, everything, "before filtering", true);
    const cases = [
      [`actor=${actor}`, [["actor", actor]]],
      [`host=${host}`, [["host", host]]],
      [`service=${service}`, [["service", service]]],
      ["error=true", [["error", "true"]]],
      [`since=${mid}`, [["since", mid]]],
      [`until=${mid}`, [["until", mid]]],
      [`since=${lo}&until=${hi}`, [["since", lo], ["until", hi]]],
    ];
    for (const [name, params] of cases) await checkFilter(page, name, params, everything);
  });

  await test("4. the detail of a failed-signature activity shows every field, the JSON, the waterfall, logs and the download", async () => {
    // The failed record with the most signature details.
    const failing = await api("traces?verification=failed&limit=100");
    const candidates = [];
    for (const t of (failing.length ? failing : all.filter((x) => x.verificationFailed))) {
      for (const rec of await api(`traces/${t.traceId}`)) {
        if (rec.verified === false) candidates.push({ traceId: t.traceId, record: rec });
      }
    }
    assert(candidates.length > 0, "the API has no record with verified=false");
    candidates.sort((a, b) =>
      Object.keys(b.record.signatureDetails ?? {}).length -
      Object.keys(a.record.signatureDetails ?? {}).length);
    failedRecord = candidates[0];
    const { traceId, record } = failedRecord;
    const records = await api(`traces/${traceId}`);
    const spans = await api(`traces/${traceId}/spans`);
    const logs = await api(`logs/${traceId}`);

    // From the filtered list, through the row's link.
    const page = await newPage();
    await open(page, `${BASE}?verification=failed`);
    await waitForList(page, "?verification=failed");
    await page.locator(`${rowOf(traceId)} a${T("trace-link")}`).click();
    await until("the detail page's URL", () =>
      new URL(page.url()).pathname === `${BASE_PATH}traces/${traceId}` || `URL ${page.url()}`);
    const detail = page.locator(`${T("trace-detail")}[data-trace-id="${traceId}"]`);
    await detail.waitFor({ timeout: WAIT_MS });
    await until(`${records.length} activities`, async () =>
      (await page.locator(T("activity")).count()) === records.length ||
      `${await page.locator(T("activity")).count()} shown`);

    // The activity showing this record: the one whose spanId field is it.
    let act = page.locator(T("activity"));
    if (records.length > 1) {
      act = act.filter({ has: page.locator('[data-field="spanId"]', { hasText: record.spanId }) });
      if (record.activityId) {
        act = act.filter({ has: page.locator('[data-field="activityId"]', { hasText: record.activityId }) });
      }
    }
    assertEqual(await act.count(), 1, `[data-testid=activity] elements showing span ${record.spanId}`);

    const checkField = async (key, value, where) => {
      const el = act.locator(`[data-field="${key}"]`);
      const n = await el.count();
      assert(n >= 1, `${where}: no [data-field="${key}"] (value ${show(value)})`);
      const t = await text(el.first());
      // The value as text; a boolean may be a word ("yes"/"no") whose
      // data-value says which, a time a <time datetime>.
      const marked = await el.first().evaluate((e) => {
        const m = e.hasAttribute("data-value") ? e : e.querySelector("[data-value]");
        const d = e.hasAttribute("datetime") ? e : e.querySelector("[datetime]");
        return { value: m?.getAttribute("data-value") ?? null, datetime: d?.getAttribute("datetime") ?? null };
      });
      assert(t.includes(String(value)) ||
        (typeof value === "boolean" && marked.value === String(value)) ||
        (key === "timestamp" && marked.datetime === value),
        `${where}: [data-field="${key}"] shows ${show(t)}` +
          (marked.value !== null ? ` (data-value ${show(marked.value)})` : "") +
          `, expected ${show(String(value))}`);
    };
    for (const [key, value] of Object.entries(record)) {
      if (key === "activityJson") continue;
      if (value !== null && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) await checkField(k, v, `${key}.${k}`);
      } else {
        await checkField(key, value, key);
      }
    }
    assertEqual(record.verified, false, "the record's verified");

    // The activity JSON: collapsible, pretty-printed, the same JSON.
    const details = act.locator(`details${T("activity-json")}`);
    assertEqual(await details.count(), 1, "details[data-testid=activity-json] in the activity");
    if (!(await details.evaluate((d) => d.open))) {
      await details.locator("summary").click();
    }
    await until("the activity JSON to open", () => details.evaluate((d) => d.open));
    const pre = details.locator("pre");
    await pre.waitFor({ state: "visible", timeout: WAIT_MS });
    const preText = await pre.textContent();
    let parsed;
    try {
      parsed = JSON.parse(preText);
    } catch (err) {
      throw new Failure(`the activity JSON in <pre> does not parse: ${err.message}: ${show(preText)}`);
    }
    assertEqual(parsed, JSON.parse(record.activityJson), "the activity JSON shown");
    assert(preText.includes("\n"), "the activity JSON is not pretty-printed (one line)");

    // The waterfall: one row per span, clicking one shows its details.
    const wf = page.locator(T("waterfall"));
    await wf.waitFor({ timeout: WAIT_MS });
    await until(`${spans.length} span rows`, async () =>
      (await wf.locator(T("span-row")).count()) === spans.length ||
      `${await wf.locator(T("span-row")).count()} shown`);
    const shownSpans = await wf.locator(T("span-row")).evaluateAll((els) =>
      els.map((e) => e.getAttribute("data-span-id")));
    const d = setDiff(shownSpans, spans.map((s) => s.spanId));
    assert(d === null, `span rows' data-span-id: ${d}`);
    for (const s of spans) {
      const rowText = await text(wf.locator(`${T("span-row")}[data-span-id="${s.spanId}"]`));
      assert(rowText.includes(s.name), `span row ${s.spanId}: ${show(rowText)} lacks the name ${show(s.name)}`);
      const svc = s.resource?.attributes?.find((a) => a.key === "service.name")?.value?.stringValue;
      if (svc) assert(rowText.includes(svc), `span row ${s.spanId}: ${show(rowText)} lacks the service ${show(svc)}`);
    }
    await screenshot(page, "detail-failed-signature");
    const target = spans.find((s) => s.spanId === record.spanId) ?? spans[0];
    await wf.locator(`${T("span-row")}[data-span-id="${target.spanId}"]`).click();
    const sd = page.locator(T("span-detail"));
    await sd.first().waitFor({ state: "visible", timeout: WAIT_MS });
    await until(`span-detail of ${target.spanId} (${target.name})`, async () => {
      const t = (await sd.first().textContent()) ?? "";
      const missing = [
        ...(target.attributes ?? []).map((a) => a.key),
        ...(target.events ?? []).map((e) => e.name),
      ].filter((k) => !t.includes(k));
      return missing.length === 0 || `span-detail lacks ${show(missing)}`;
    });
    await screenshot(page, "detail-span-detail");
    // Every span's details: the status badge is the API's status, the
    // node is the resource's host.name (else service.instance.id).
    for (const s of spans) await checkSpanDetail(page, s, `the failed-signature trace's span ${s.spanId}`);

    // Logs and the download.
    await page.locator(T("logs")).waitFor({ state: "attached", timeout: WAIT_MS });
    assertEqual(await page.locator(`${T("logs")} ${T("log-row")}`).count(), logs.length,
      `log rows (api/logs/${traceId} has ${logs.length})`);
    const dl = page.locator(`a${T("download-otlp")}`);
    assertEqual(await dl.count(), 1, "a[data-testid=download-otlp] elements");
    const href = new URL(await dl.getAttribute("href"), page.url()).href;
    assertEqual(href, `${BASE}api/traces/${traceId}/otlp`, "the download link");
    const r = await page.context().request.get(href);
    assertEqual(r.status(), 200, `GET ${href}`);
    assert(/attachment/.test(r.headers()["content-disposition"] ?? ""),
      `GET ${href}: Content-Disposition ${show(r.headers()["content-disposition"])}`);
    const otlp = await r.json();
    assert(Array.isArray(otlp.resourceSpans) && otlp.resourceSpans.length > 0, "the download has no resourceSpans");
    const inFile = otlp.resourceSpans.flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []));
    const d2 = setDiff(inFile.map((s) => s.spanId), spans.map((s) => s.spanId));
    assert(d2 === null, `the download's spans: ${d2}`);
    assert(inFile.every((s) => s.traceId === traceId), "the download holds spans of another trace");
    await checkSafe(page, "the detail page");
  });

  await test("5. a hostile trace is shown as text and runs nothing", async () => {
    const h = hostileTrace();
    await postOtlp("traces", h.traces);
    await postOtlp("logs", h.logs);
    const records = await api(`traces/${h.traceId}`);
    assertEqual(records.length, 2, `api/traces/${h.traceId} records`);
    const [summary] = (await api("traces?limit=100")).filter((t) => t.traceId === h.traceId);
    assert(summary, "the hostile trace is not in api/traces");

    // The server never puts data into its HTML.
    for (const path of ["", `traces/${h.traceId}`]) {
      const r = await http(path);
      assertEqual(r.status, 200, `GET ${BASE}${path}`);
      assert(!r.text.includes("__pwned"), `GET ${BASE}${path}: the HTML carries the payload`);
    }
    const otlp = await http(`api/traces/${h.traceId}/otlp`);
    assert(otlp.type.startsWith("application/json"), `the OTLP download's Content-Type ${show(otlp.type)}`);
    assertEqual(otlp.headers.get("x-content-type-options"), "nosniff", "the OTLP download's X-Content-Type-Options");

    const page = await newPage();
    await open(page, BASE);
    await waitForList(page, "GET /");
    const row = page.locator(rowOf(h.traceId));
    await row.waitFor({ timeout: WAIT_MS });
    const rowText = await text(row);
    assert(rowText.includes(PAYLOADS.img), `the hostile row ${show(rowText)} does not show the type ${show(PAYLOADS.img)} as text`);
    assert((await text(row.locator(T("trace-services")))).includes(PAYLOADS.script),
      `the hostile row's services do not show ${show(PAYLOADS.script)} as text`);
    assertEqual(await row.locator(T("mark-verify-failed")).count(), summary.verificationFailed ? 1 : 0, "mark-verify-failed");
    assertEqual(await row.locator(T("mark-error")).count(), summary.hasError ? 1 : 0, "mark-error");
    await checkSafe(page, "the list with the hostile trace");
    await screenshot(page, "hostile-list");

    await row.locator(`a${T("trace-link")}`).click();
    await page.locator(`${T("trace-detail")}[data-trace-id="${h.traceId}"]`).waitFor({ timeout: WAIT_MS });
    await until("both hostile activities", async () =>
      (await page.locator(T("activity")).count()) === 2);
    await page.locator(T("waterfall")).waitFor({ timeout: WAIT_MS });
    await until("2 span rows", async () =>
      (await page.locator(T("span-row")).count()) === 2);
    await until("1 log row", async () =>
      (await page.locator(`${T("logs")} ${T("log-row")}`).count()) === 1);
    await checkSafe(page, "the hostile detail page, as loaded");

    // Open everything, click everything that is not a link away.
    for (const s of await page.locator("details > summary").all()) {
      if (!(await s.evaluate((e) => e.parentElement.open))) await s.click();
    }
    for (const r of await page.locator(T("span-row")).all()) {
      await r.click();
      await page.locator(T("span-detail")).first().waitFor({ state: "visible", timeout: WAIT_MS });
      await checkSafe(page, `after clicking span row ${await r.getAttribute("data-span-id")}`);
    }
    // The hostile spans' details: status and the hostile host name, as text.
    const hostileSpans = await api(`traces/${h.traceId}/spans`);
    let hosts = 0;
    for (const s of hostileSpans) {
      if ((await checkSpanDetail(page, s, `hostile span ${s.spanId}`)).host) hosts++;
    }
    assert(hosts > 0, "no hostile span has a host.name in its resource");
    await checkSafe(page, "the hostile detail page, every span open");
    for (const r of await page.locator(T("log-row")).all()) await r.click();
    for (const s of await page.locator("details > summary").all()) {
      if (!(await s.evaluate((e) => e.parentElement.open))) await s.click();
    }
    for (const a of await page.locator(T("activity")).all()) await a.click({ position: { x: 2, y: 2 } });
    await checkSafe(page, "the hostile detail page, everything open");

    const visible = await page.evaluate(() => document.body.innerText);
    for (const [name, p] of Object.entries(PAYLOADS)) {
      assert(visible.includes(p), `the detail page does not show the ${name} payload ${show(p)} as text`);
    }
    assert(visible.includes(CLOSE_SCRIPT), `the detail page does not show ${show(CLOSE_SCRIPT)} from the JSON as text`);
    const logsText = await page.locator(T("logs")).evaluate((e) => e.innerText);
    assert(logsText.includes(LOG_BODY), `the logs do not show the log body ${show(LOG_BODY)} as text: ${show(logsText)}`);

    // The JSON shown is the JSON received (the </script> inside survived).
    const shown = await page.locator(`details${T("activity-json")} pre`).evaluateAll((els) =>
      els.map((e) => e.textContent));
    const parsed = shown.map((s) => {
      try {
        return JSON.parse(s);
      } catch {
        return s;
      }
    });
    for (const rec of records) {
      const want = JSON.parse(rec.activityJson);
      assert(parsed.some((p) => isDeepStrictEqual(p, want)),
        `the ${rec.direction} activity's JSON is not shown intact (shown: ${show(shown)})`);
    }
    // URLs that are not http(s) are text, never links.
    for (const key of ["actorId", "inboxUrl", "activityId", "httpSignaturesKeyId"]) {
      const els = page.locator(`[data-field="${key}"]`);
      assert((await els.count()) > 0, `no [data-field="${key}"] on the hostile detail page`);
      for (const el of await els.all()) {
        const t = await text(el);
        assert(t.includes("javascript:window.__pwned=3"), `[data-field="${key}"] shows ${show(t)}`);
        const href = await el.evaluate((e) => e.closest("a")?.getAttribute("href") ??
          e.querySelector("a")?.getAttribute("href") ?? null);
        assertEqual(href, null, `[data-field="${key}"]: a link`);
      }
    }
    await screenshot(page, "hostile-detail");
    assertEqual(await page.evaluate(() => typeof window.__pwned), "undefined", "typeof window.__pwned");
  });

  // 9. services, map, slow queries, inferred services and linked traces.
  await servicesTests({
    test, api, postOtlp, newPage, open, screenshot, checkSafe, until, assert, assertEqual,
    setDiff, show, text, T, BASE, BASE_PATH, WAIT_MS, NARROW, WIDE,
  });

  await test("10. light and dark: the list and a detail page follow prefers-color-scheme", async () => {
    assert(failedRecord, "test 4 found no failed-signature record");
    const { traceId, record } = failedRecord;
    const listParts = [ROW, `${ROW} ${T("trace-link")}`, T("filters")];
    const detailParts = [T("activity"), T("waterfall"), T("span-row"), T("span-detail"), `${T("activity")} [data-field="actorId"]`];
    for (const scheme of ["light", "dark"]) {
      const page = await newPage({ colorScheme: scheme });
      await open(page, BASE);
      await waitForList(page, `the list (${scheme})`);
      await page.locator(ROW).first().waitFor({ timeout: WAIT_MS });
      await checkScheme(page, scheme, "the list", listParts);
      if (scheme === "dark") await screenshot(page, "list", { suffix: "-dark" });

      await open(page, `${BASE}traces/${traceId}`);
      await page.locator(`${T("trace-detail")}[data-trace-id="${traceId}"]`).waitFor({ timeout: WAIT_MS });
      await page.locator(T("activity")).first().waitFor({ timeout: WAIT_MS });
      const row = page.locator(`${T("span-row")}[data-span-id="${record.spanId}"]`);
      await row.waitFor({ timeout: WAIT_MS });
      await row.click();
      await page.locator(T("span-detail")).first().waitFor({ state: "visible", timeout: WAIT_MS });
      for (const d of await page.locator(`details${T("activity-json")}`).all()) {
        if (!(await d.evaluate((e) => e.open))) await d.locator("summary").click();
      }
      await checkScheme(page, scheme, "the failed-signature detail", detailParts);
      if (scheme === "dark") await screenshot(page, "detail-failed-signature", { suffix: "-dark" });
      await checkSafe(page, `the detail (${scheme})`);
    }
  });
}

// ============================================================ auth modes

async function loginForm(page, { user, password }) {
  const form = page.locator(T("login-form"));
  await form.waitFor({ timeout: WAIT_MS });
  if (MODE === "user") await form.locator('[name="user"]').fill(user);
  await form.locator('input[type="password"][name="password"]').fill(password);
  const submit = page.locator(LOGIN_SUBMIT).first();
  const [resp] = await Promise.all([
    page.waitForResponse((r) =>
      r.request().method() === "POST" &&
      new URL(r.url()).pathname === `${BASE_PATH}login`, { timeout: WAIT_MS }),
    submit.click(),
  ]);
  return resp;
}

async function modeLogin() {
  const plain = plainTrace({ activityType: "Follow", service: `e2e-${MODE}` });
  await postOtlp("traces", plain.body);
  const good = { user: USER, password: PASSWORD };
  const loginPath = `${BASE_PATH}login`;
  let session = null; // the cookie value while logged in

  await test("6a. without credentials: pages redirect to the login, the API answers 401 JSON", async () => {
    for (const path of ["", `traces/${plain.traceId}`]) {
      const r = await http(path);
      if (r.status === 401) continue;
      assert([302, 303, 307].includes(r.status), `GET ${BASE}${path}: expected a redirect to the login (or 401), got ${r.status}`);
      const loc = new URL(r.headers.get("location") ?? "", BASE);
      assertEqual(loc.origin + loc.pathname, BASE + "login", `GET ${BASE}${path}: Location`);
      assertEqual(loc.searchParams.get("next"), BASE_PATH + path, `GET ${BASE}${path}: Location's next`);
    }
    for (const path of ["api/traces", `api/traces/${plain.traceId}`, `api/traces/${plain.traceId}/spans`,
      `api/logs/${plain.traceId}`, `api/traces/${plain.traceId}/otlp`, "api/session", "api/events"]) {
      expect401Json(await http(path), `GET ${BASE}${path} without credentials`);
    }
    expect401Json(await http("api/traces", { bearer: "wrong-token" }), "GET api/traces with a wrong bearer token");
    expect401Json(await http("api/traces", { cookie: "fedtrace_session=forged" }), "GET api/traces with a forged session cookie");
  });

  await test("6b. the login page; a wrong password is refused with 401 and an error", async () => {
    const page = await newPage();
    await open(page, BASE);
    await until("the redirect to the login page", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    await page.locator(T("login-form")).waitFor({ timeout: WAIT_MS });
    assertEqual(await page.locator(T("login-error")).count(), 0, "login-error before any attempt");
    assertEqual(await page.locator(`${T("login-form")} [name="user"]`).count(), MODE === "user" ? 1 : 0,
      `${MODE} mode: the user field`);
    assertEqual(await page.locator(`${T("login-form")} input[type="password"][name="password"]`).count(), 1, "the password field");
    assertEqual(await page.locator(`${T("login-form")} input[type="hidden"][name="next"]`).inputValue(), BASE_PATH, "the hidden next field");
    await checkSafe(page, "the login page");
    await screenshot(page, "login");
    const dark = await newPage({ colorScheme: "dark" });
    await open(dark, `${BASE}login`);
    await checkScheme(dark, "dark", "the login page", [T("login-form"), `${T("login-form")} [name="password"]`]);
    await screenshot(dark, "login", { suffix: "-dark" });

    const wrong = "wrong-password-<b>x</b>";
    let r = await loginForm(page, { user: USER, password: wrong });
    assertEqual(r.status(), 401, "POST login with a wrong password");
    await page.locator(T("login-error")).waitFor({ timeout: WAIT_MS });
    assert(!(await page.content()).includes("wrong-password"), "the login page echoes the wrong password back");
    assertEqual((await page.context().cookies()).filter((c) => c.name === "fedtrace_session").length, 0,
      "session cookies after a failed login");
    await screenshot(page, "login-error");
    if (MODE === "user") {
      r = await loginForm(page, { user: `${USER}x`, password: PASSWORD });
      assertEqual(r.status(), 401, "POST login with the right password and a wrong user name");
      await page.locator(T("login-error")).waitFor({ timeout: WAIT_MS });
    }
  });

  await test("6c. the right credentials show the list; the cookie is HttpOnly and SameSite=Strict; logout ends the session", async () => {
    const page = await newPage();
    await open(page, BASE);
    const r = await loginForm(page, good);
    assert([200, 303].includes(r.status()), `POST login with the right credentials: ${r.status()}`);
    await until("the list after logging in", () =>
      new URL(page.url()).pathname === BASE_PATH || `URL ${page.url()}`);
    await page.locator(rowOf(plain.traceId)).waitFor({ timeout: WAIT_MS });
    const cookies = (await page.context().cookies()).filter((c) => c.name === "fedtrace_session");
    assertEqual(cookies.length, 1, "fedtrace_session cookies");
    const [c] = cookies;
    assertEqual(c.httpOnly, true, "the session cookie's HttpOnly");
    assertEqual(c.sameSite, "Strict", "the session cookie's SameSite");
    assert(c.path === BASE_PATH || c.path === BASE_PATH.replace(/\/$/, ""), `the session cookie's Path ${show(c.path)}`);
    assert(!(await page.evaluate(() => document.cookie)).includes("fedtrace_session"),
      "document.cookie shows the session cookie");
    session = `fedtrace_session=${c.value}`;
    const s = await page.context().request.get(`${BASE}api/session`);
    assertEqual(s.status(), 200, "GET api/session with the session");
    assertEqual(await s.json(), { mode: MODE, user: MODE === "user" ? USER : null }, "api/session");
    const t = await page.context().request.get(`${BASE}api/traces`);
    assertEqual(t.status(), 200, "GET api/traces with the session");
    const logout = page.locator(T("logout"));
    await logout.waitFor({ timeout: WAIT_MS });
    if (MODE === "user") {
      assert((await text(logout)).includes(USER) ||
        (await text(page.locator(`form:has(${T("logout")})`))).includes(USER),
        `the logout control does not name the user ${USER}`);
    }
    await checkSafe(page, "the list after login");
    await screenshot(page, "list-logged-in");

    await logout.click();
    await until("the login page after logout", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    await page.locator(T("login-form")).waitFor({ timeout: WAIT_MS });
    const after = await page.context().request.get(`${BASE}api/traces`, { maxRedirects: 0 });
    assertEqual(after.status(), 401, "GET api/traces with the same browser context after logout");
    await open(page, BASE);
    await until("the login page again", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    // Logout revokes the session on the server, not only in this browser:
    // the old cookie, replayed from node and from a fresh context, is 401.
    expect401Json(await http("api/traces", { cookie: session }),
      "GET api/traces replaying the logged-out session cookie from node");
    const fresh = await newPage();
    await fresh.context().addCookies([{ name: "fedtrace_session", value: c.value, url: BASE }]);
    const replay = await fresh.context().request.get(`${BASE}api/traces`, { maxRedirects: 0 });
    assertEqual(replay.status(), 401, "GET api/traces replaying the logged-out session cookie in a fresh context");
    const replayPage = await fresh.goto(BASE);
    await until("the login page for the logged-out cookie", () =>
      new URL(fresh.url()).pathname === loginPath || `URL ${fresh.url()} (status ${replayPage?.status()})`);
  });

  await test("6d. a deep link survives the login (next)", async () => {
    const page = await newPage();
    await open(page, `${BASE}traces/${plain.traceId}`);
    await until("the login page", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    assertEqual(await page.locator(`${T("login-form")} input[name="next"]`).inputValue(),
      `${BASE_PATH}traces/${plain.traceId}`, "the hidden next field");
    await loginForm(page, good);
    await until("the trace's page after logging in", () =>
      new URL(page.url()).pathname === `${BASE_PATH}traces/${plain.traceId}` || `URL ${page.url()}`);
    await page.locator(`${T("trace-detail")}[data-trace-id="${plain.traceId}"]`).waitFor({ timeout: WAIT_MS });
    await page.locator(T("activity")).first().waitFor({ timeout: WAIT_MS });
    await screenshot(page, "detail-logged-in");
  });

  await test("6e. POST login from node: 303, Set-Cookie HttpOnly SameSite=Strict; next cannot leave the site", async () => {
    const form = (next) => ({ ...(MODE === "user" ? { user: USER } : {}), password: PASSWORD, next });
    const r = await http("login", { form: form(`${BASE_PATH}traces/${plain.traceId}`) });
    assertEqual(r.status, 303, "POST login");
    assertEqual(new URL(r.headers.get("location"), BASE).href, `${BASE}traces/${plain.traceId}`, "Location");
    const sc = r.headers.getSetCookie().find((h) => h.startsWith("fedtrace_session="));
    assert(sc, `no fedtrace_session in Set-Cookie ${show(r.headers.getSetCookie())}`);
    assert(/;\s*HttpOnly/i.test(sc), `Set-Cookie without HttpOnly: ${sc}`);
    assert(/;\s*SameSite=Strict/i.test(sc), `Set-Cookie without SameSite=Strict: ${sc}`);
    const cookie = sc.split(";")[0];
    const ok = await http("api/traces", { cookie });
    assertEqual(ok.status, 200, "GET api/traces with that cookie");
    for (const evil of ["//evil.example/x", "https://evil.example/", "/\\evil.example/", "javascript:alert(1)"]) {
      const e = await http("login", { form: form(evil) });
      if (e.status === 400) continue;
      assert([302, 303].includes(e.status), `POST login with next=${evil}: ${e.status}`);
      const loc = new URL(e.headers.get("location") ?? "", BASE);
      assertEqual(loc.origin, ORIGIN, `POST login with next=${evil}: the redirect's origin (Location ${e.headers.get("location")})`);
    }
  });

  if (MODE === "user" && API_TOKEN) {
    await test("6f. the API token works next to the session; a wrong token is refused", async () => {
      const r = await http("api/traces", { bearer: API_TOKEN });
      assertEqual(r.status, 200, "GET api/traces with the right bearer token");
      assert(r.json.some((t) => t.traceId === plain.traceId), "api/traces lacks the posted trace");
      expect401Json(await http("api/traces", { bearer: `${API_TOKEN}x` }), "GET api/traces with a wrong bearer token");
    });
  }

  // Last: it locks this client (127.0.0.1) out of the login.
  await test("6g. repeated failed logins are slowed down: 429 with Retry-After", async () => {
    const form = { ...(MODE === "user" ? { user: USER } : {}), password: "not-the-password", next: BASE_PATH };
    const statuses = [];
    let limited = null;
    for (let i = 0; i < 30 && !limited; i++) {
      const r = await http("login", { form });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
      else assertEqual(r.status, 401, `failed login #${i + 1}`);
    }
    assert(limited, `30 failed logins and no 429: ${show(statuses)}`);
    const ra = limited.headers.get("retry-after") ?? "";
    assert(/^\d+$/.test(ra) && Number(ra) > 0 || !Number.isNaN(Date.parse(ra)),
      `the 429's Retry-After ${show(ra)}`);
    assert(limited.type.startsWith("text/html") && limited.text.includes("login-error"),
      `the 429 is not the login page with its error: ${limited.type} ${limited.text.slice(0, 200)}`);
    console.log(`# [${MODE}] 429 after ${statuses.length} failed logins (Retry-After: ${ra})`);
  });
}

// ============================================================ token mode

async function modeToken() {
  const plain = plainTrace({ activityType: "Like", service: "e2e-token" });

  await test("6h. OTLP token: ingest needs the bearer token", async () => {
    for (const [token, what] of [["", "no token"], [`${OTLP_TOKEN}x`, "a wrong token"]]) {
      const r = await http(`${OTLP}/v1/traces`, {
        bearer: token || undefined,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(plain.body),
      });
      assertEqual(r.status, 401, `POST /v1/traces with ${what}`);
    }
    await postOtlp("traces", plain.body, OTLP_TOKEN);
  });

  await test("6i. API token: 401 JSON without it or with a wrong one, 200 with it; the pages redirect to the login", async () => {
    for (const path of ["api/traces", `api/traces/${plain.traceId}`, "api/session", "metrics"]) {
      const none = await http(path);
      assertEqual(none.status, 401, `GET ${path} without a token`);
      if (path.startsWith("api/")) expect401Json(none, `GET ${path} without a token`);
      expect401Json(await http(path, { bearer: `${API_TOKEN}x` }), `GET ${path} with a wrong token`);
      const ok = await http(path, { bearer: API_TOKEN });
      assertEqual(ok.status, 200, `GET ${path} with the token`);
    }
    const list = await http("api/traces", { bearer: API_TOKEN });
    assert(list.json.some((t) => t.traceId === plain.traceId), "api/traces lacks the posted trace");
    assertEqual((await http("api/session", { bearer: API_TOKEN })).json, { mode: "token", user: null },
      "GET api/session with the token");
    // The pages: 303 to the login, as in password mode; the token as a
    // bearer does not open them (a browser has no way to send it).
    for (const path of ["", `traces/${plain.traceId}`, "services"]) {
      for (const bearer of [undefined, `${API_TOKEN}x`]) {
        const r = await http(path, { bearer });
        const what = `GET ${BASE}${path}${bearer ? " with a wrong token" : ""}`;
        assertEqual(r.status, 303, `${what}: status`);
        const loc = new URL(r.headers.get("location") ?? "", BASE);
        assertEqual(loc.origin + loc.pathname, `${BASE}login`, `${what}: Location`);
        assertEqual(loc.searchParams.get("next"), BASE_PATH + path, `${what}: Location's next`);
      }
    }
    const login = await http("login");
    assertEqual(login.status, 200, `GET ${BASE}login`);
  });

  await test("6j. token mode: the login form takes the API token; the session cookie; logout ends it", async () => {
    const loginPath = `${BASE_PATH}login`;
    const page = await newPage();
    await open(page, BASE);
    await until("the redirect to the login page", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    const form = page.locator(T("login-form"));
    await form.waitFor({ timeout: WAIT_MS });
    assertEqual(await form.locator('[name="user"]').count(), 0, "token mode: the user field");
    const field = form.locator('input[name="password"]');
    assertEqual(await field.count(), 1, "the login form's password field");
    const label = await field.evaluate((e) =>
      [...(e.labels ?? [])].map((l) => l.textContent.trim()).join(" ") || e.getAttribute("aria-label") || "");
    assert(/API token/i.test(label), `the field's label ${show(label)} does not say "API token"`);
    assertEqual(await form.locator('input[type="hidden"][name="next"]').inputValue(), BASE_PATH, "the hidden next field");
    assertEqual(await page.locator(T("login-error")).count(), 0, "login-error before any attempt");
    await checkSafe(page, "the login page");
    await screenshot(page, "login");

    // A wrong token: 401, the error, no cookie, the token not echoed.
    const wrong = `${API_TOKEN}-wrong-<b>x</b>`;
    let r = await loginForm(page, { password: wrong });
    assertEqual(r.status(), 401, "POST login with a wrong token");
    await page.locator(T("login-error")).waitFor({ timeout: WAIT_MS });
    assert(!(await page.content()).includes("-wrong-"), "the login page echoes the wrong token back");
    assertEqual((await page.context().cookies()).filter((c) => c.name === "fedtrace_session").length, 0,
      "session cookies after a failed login");
    await screenshot(page, "login-error");

    // The right token: the list, the session cookie.
    r = await loginForm(page, { password: API_TOKEN });
    assert([200, 303].includes(r.status()), `POST login with the API token: ${r.status()}`);
    await until("the list after logging in", () =>
      new URL(page.url()).pathname === BASE_PATH || `URL ${page.url()}`);
    await page.locator(rowOf(plain.traceId)).waitFor({ timeout: WAIT_MS });
    const cookies = (await page.context().cookies()).filter((c) => c.name === "fedtrace_session");
    assertEqual(cookies.length, 1, "fedtrace_session cookies");
    const [c] = cookies;
    assertEqual(c.httpOnly, true, "the session cookie's HttpOnly");
    assertEqual(c.sameSite, "Strict", "the session cookie's SameSite");
    assert(!c.value.includes(API_TOKEN), "the session cookie carries the API token itself");
    const s = await page.context().request.get(`${BASE}api/session`);
    assertEqual(s.status(), 200, "GET api/session with the session");
    assertEqual(await s.json(), { mode: "token", user: null }, "api/session");
    const t = await page.context().request.get(`${BASE}api/traces`);
    assertEqual(t.status(), 200, "GET api/traces with the session (no bearer)");
    const cookie = `fedtrace_session=${c.value}`;
    assertEqual((await http("api/traces", { cookie })).status, 200, "GET api/traces with the session cookie from node");
    await until('[data-testid=live-status] to say "live"', async () =>
      (await text(page.locator(T("live-status")))) === "live" ||
      `live-status ${show(await page.locator(T("live-status")).textContent().catch(() => null))}`);
    await checkSafe(page, "the list after login");
    await screenshot(page, "list-logged-in");

    // Logout: the login page; the session is gone, here and replayed.
    const logout = page.locator(T("logout"));
    await logout.waitFor({ timeout: WAIT_MS });
    await logout.click();
    await until("the login page after logout", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    await page.locator(T("login-form")).waitFor({ timeout: WAIT_MS });
    const after = await page.context().request.get(`${BASE}api/traces`, { maxRedirects: 0 });
    assertEqual(after.status(), 401, "GET api/traces with the same browser context after logout");
    expect401Json(await http("api/traces", { cookie }), "GET api/traces replaying the logged-out session cookie");
    await open(page, BASE);
    await until("the login page again", () =>
      new URL(page.url()).pathname === loginPath || `URL ${page.url()}`);
    // The token itself still works as a bearer.
    assertEqual((await http("api/traces", { bearer: API_TOKEN })).status, 200, "GET api/traces with the token after logout");
  });
}

// ============================================================ base path

async function modeBasePath() {
  const plain = plainTrace({ activityType: "Undo", service: "e2e-basepath" });
  await postOtlp("traces", plain.body);

  await test("8. --base-path: pages, assets, API, stream and links under the prefix", async () => {
    assert(BASE_PATH !== "/", "run.sh gave no base path");
    const outside = await http(`${ORIGIN}/api/traces`);
    assert(outside.status === 404, `GET /api/traces outside the base path: ${outside.status}`);
    const list = await api("traces");
    assert(list.some((t) => t.traceId === plain.traceId), "the API under the prefix lacks the trace");
    const page = await newPage();
    await open(page, BASE);
    await page.locator(rowOf(plain.traceId)).waitFor({ timeout: WAIT_MS });
    const assets = await page.evaluate(() => [
      ...[...document.querySelectorAll("script[src]")].map((s) => s.src),
      ...[...document.querySelectorAll('link[rel~="stylesheet"], link[rel~="icon"]')].map((l) => l.href),
    ]);
    assert(assets.length > 0, "no script or stylesheet on the page");
    for (const a of assets) assert(a.startsWith(`${BASE}assets/`), `an asset outside ${BASE}assets/: ${a}`);
    await until('[data-testid=live-status] to say "live"', async () =>
      (await text(page.locator(T("live-status")))) === "live");
    const fresh = plainTrace({ activityType: "Create", service: "e2e-basepath" });
    await postOtlp("traces", fresh.body);
    await page.locator(rowOf(fresh.traceId)).waitFor({ timeout: WAIT_MS });
    const link = page.locator(`${rowOf(plain.traceId)} a${T("trace-link")}`);
    assertEqual(new URL(await link.getAttribute("href"), page.url()).href, `${BASE}traces/${plain.traceId}`, "the trace link");
    await link.click();
    await page.locator(`${T("trace-detail")}[data-trace-id="${plain.traceId}"]`).waitFor({ timeout: WAIT_MS });
    await page.locator(T("activity")).first().waitFor({ timeout: WAIT_MS });
    const dl = new URL(await page.locator(`a${T("download-otlp")}`).getAttribute("href"), page.url()).href;
    assertEqual(dl, `${BASE}api/traces/${plain.traceId}/otlp`, "the download link");
    await page.reload();
    await page.locator(`${T("trace-detail")}[data-trace-id="${plain.traceId}"]`).waitFor({ timeout: WAIT_MS });
    await checkSafe(page, "the detail page under the prefix");
    await screenshot(page, "detail");
  });
}

// ============================================================ main

async function main() {
  await mkdir(OUT, { recursive: true });
  // As root Chromium refuses to start its sandbox; elsewhere the sandbox
  // may need user namespaces the machine does not give: then without.
  const root = process.getuid?.() === 0;
  for (const args of root ? [["--no-sandbox"]] : [[], ["--no-sandbox"]]) {
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 });
      break;
    } catch (err) {
      console.error(`dashboard.mjs: cannot launch ${CHROMIUM} ${args.join(" ")}: ${err.message.split("\n").slice(0, 6).join("\n")}`);
    }
  }
  if (!browser) process.exit(2);
  console.log(`# [${MODE}] ${CHROMIUM} ${browser.version()}; dashboard at ${BASE}`);
  try {
    if (MODE === "none") await modeNone();
    else if (MODE === "password" || MODE === "user") await modeLogin();
    else if (MODE === "token") await modeToken();
    else await modeBasePath();
  } catch (err) {
    // Set-up outside a test (posting the fixture trace) failed.
    results.push({ name: "set-up", ok: false, error: err.message });
    console.log(`not ok - [${MODE}] set-up\n  ${err.message}`);
  } finally {
    await browser.close().catch(() => {});
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  for (const s of shots) console.log(`# screenshot ${s}`);
  console.log(`${MODE}: ${passed} passed, ${failed} failed` +
    (warnings.length ? `, ${warnings.length} warnings` : ""));
  await writeFile(`${OUT}/${MODE}.result`, `${passed} ${failed}\n`);
  process.exit(failed ? 1 : 0);
}

await main();
