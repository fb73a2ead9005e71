// OTLP/JSON requests for the browser tests (dashboard.mjs): a plain trace
// with one inbound activity (the live-update test, the auth rounds), and a
// hostile trace whose every remote-controlled string tries to run script in
// the dashboard.
//
// The span events carry the attributes Fedify 2.3.6 sets and fedtrace's
// exporter reads (src/trace/record.c):
//   activitypub.activity.received: activitypub.activity.json (required),
//     activitypub.activity.verified, http_signatures.verified,
//     http_signatures.key_id, http_signatures.failure_reason,
//     http_signatures.key_fetch_status, http_signatures.key_fetch_error,
//     ld_signatures.verified
//   activitypub.activity.sent: activitypub.activity.type,
//     activitypub.activity.id, activitypub.actor.id, activitypub.inbox.url,
//     activitypub.activity.json
//
// Run as a script it prints the requests (for curl):
//   node hostile.mjs traces|logs|plain > req.json

import { randomBytes } from "node:crypto";

// What an attacker puts in the fields a remote server controls.
export const PAYLOADS = {
  script: "<script>window.__pwned=1</script>",
  img: '<img src=x onerror="window.__pwned=2">',
  js: "javascript:window.__pwned=3",
};
// A closing </script> inside the activity JSON: harmless as text, fatal
// when the JSON is pasted into an inline <script>.
export const CLOSE_SCRIPT = "</script><script>window.__pwned=4</script>";
// The log record's body (one string: every payload at once).
export const LOG_BODY =
  `log ${PAYLOADS.script} ${PAYLOADS.img} ${PAYLOADS.js} ${CLOSE_SCRIPT}`;

export const hex = (bytes) => randomBytes(bytes).toString("hex");
const nowNs = () => BigInt(Date.now()) * 1000000n;

const str = (key, v) => ({ key, value: { stringValue: v } });
const bool = (key, v) => ({ key, value: { boolValue: v } });
const int = (key, v) => ({ key, value: { intValue: String(v) } });

function resource(service, host) {
  return {
    attributes: [
      str("service.name", service),
      str("host.name", host),
      str("service.instance.id", `${host}-1`),
    ],
  };
}

function span({ traceId, spanId, parentSpanId, name, kind, start, durNs,
  attributes = [], events = [], status = { code: 0 } }) {
  const s = {
    traceId,
    spanId,
    name,
    kind,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + durNs),
    attributes,
    events,
    status,
  };
  if (parentSpanId) s.parentSpanId = parentSpanId;
  return s;
}

const scope = { name: "@fedify/fedify", version: "2.3.6" };

// plainTrace({activityType, service, content}): one server span receiving
// one verified activity.  Returns {traceId, spanId, body, activity}.
export function plainTrace({
  activityType = "Create",
  service = "e2e-browser",
  content = "hello from the browser test",
  origin = "https://remote.example",
} = {}) {
  const traceId = hex(16);
  const spanId = hex(8);
  const start = nowNs();
  const activity = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${origin}/activities/${traceId}`,
    type: activityType,
    actor: `${origin}/users/carol`,
    object: { id: `${origin}/notes/${traceId}`, type: "Note", content },
  };
  const body = {
    resourceSpans: [{
      resource: resource(service, "node-plain"),
      scopeSpans: [{
        scope,
        spans: [span({
          traceId,
          spanId,
          name: "activitypub.inbox",
          kind: 2,
          start,
          durNs: 3000000n,
          attributes: [str("http.request.method", "POST")],
          events: [{
            timeUnixNano: String(start + 1000000n),
            name: "activitypub.activity.received",
            attributes: [
              str("activitypub.activity.json", JSON.stringify(activity)),
              bool("activitypub.activity.verified", true),
              bool("http_signatures.verified", true),
              str("http_signatures.key_id", `${origin}/users/carol#main-key`),
              bool("ld_signatures.verified", false),
            ],
          }],
          status: { code: 1 },
        })],
      }],
    }],
  };
  return { traceId, spanId, body, activity };
}

// hostileTrace(): one trace over two resources (two "servers"):
//  - an inbound server span whose activity JSON has a hostile type, id,
//    actor (a javascript: URL), content with </script>, an unverified
//    signature with hostile key id and failure reason;
//  - a child client span sending an activity to a javascript: inbox, with
//    a javascript: actor id and a hostile activity type;
//  - a hostile span name, attributes, event and status message;
//  - a log record (hostileLogs) with the payloads in body, severity text
//    and attributes.
// Returns {traceId, spans: [ids], traces: body, logs: body, activity}.
export function hostileTrace() {
  const traceId = hex(16);
  const inSpan = hex(8);
  const outSpan = hex(8);
  const start = nowNs();
  const activity = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${PAYLOADS.js}//activity`,
    type: PAYLOADS.img,
    actor: PAYLOADS.js,
    summary: PAYLOADS.script,
    url: PAYLOADS.js,
    object: {
      id: `${PAYLOADS.js}//note`,
      type: "Note",
      content: `${CLOSE_SCRIPT} ${PAYLOADS.img}`,
      attributedTo: { id: PAYLOADS.js, name: PAYLOADS.script },
    },
  };
  const sent = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${PAYLOADS.js}//sent`,
    type: "Accept",
    actor: PAYLOADS.js,
    object: activity.id,
    content: CLOSE_SCRIPT,
  };
  const traces = {
    resourceSpans: [
      {
        resource: resource(PAYLOADS.script, PAYLOADS.img),
        scopeSpans: [{
          scope: { name: PAYLOADS.script, version: PAYLOADS.img },
          spans: [span({
            traceId,
            spanId: inSpan,
            name: PAYLOADS.img,
            kind: 2,
            start,
            durNs: 20000000n,
            attributes: [
              str("url.full", PAYLOADS.js),
              str(PAYLOADS.script, PAYLOADS.img),
              int("http.response.status_code", 401),
            ],
            events: [
              {
                timeUnixNano: String(start + 2000000n),
                name: "activitypub.activity.received",
                attributes: [
                  str("activitypub.activity.json", JSON.stringify(activity)),
                  bool("activitypub.activity.verified", false),
                  bool("http_signatures.verified", false),
                  str("http_signatures.key_id", PAYLOADS.js),
                  str("http_signatures.failure_reason", PAYLOADS.script),
                  int("http_signatures.key_fetch_status", 404),
                  str("http_signatures.key_fetch_error", PAYLOADS.img),
                  bool("ld_signatures.verified", false),
                ],
              },
              {
                timeUnixNano: String(start + 3000000n),
                name: PAYLOADS.script,
                attributes: [str("exception.message", PAYLOADS.img)],
              },
            ],
            status: { code: 2, message: PAYLOADS.script },
          })],
        }],
      },
      {
        resource: resource("e2e-hostile-sender", "node-b"),
        scopeSpans: [{
          scope,
          spans: [span({
            traceId,
            spanId: outSpan,
            parentSpanId: inSpan,
            name: `activitypub.send ${PAYLOADS.js}`,
            kind: 3,
            start: start + 5000000n,
            durNs: 10000000n,
            attributes: [str("url.full", PAYLOADS.js)],
            events: [{
              timeUnixNano: String(start + 6000000n),
              name: "activitypub.activity.sent",
              attributes: [
                str("activitypub.activity.type", PAYLOADS.script),
                str("activitypub.activity.id", `${PAYLOADS.js}//sent`),
                str("activitypub.actor.id", PAYLOADS.js),
                str("activitypub.inbox.url", PAYLOADS.js),
                str("activitypub.activity.json", JSON.stringify(sent)),
              ],
            }],
            status: { code: 2, message: PAYLOADS.img },
          })],
        }],
      },
    ],
  };
  const logs = {
    resourceLogs: [{
      resource: resource(PAYLOADS.script, PAYLOADS.img),
      scopeLogs: [{
        scope: { name: PAYLOADS.img },
        logRecords: [{
          timeUnixNano: String(start + 4000000n),
          observedTimeUnixNano: String(start + 4000000n),
          severityNumber: 17,
          severityText: PAYLOADS.img,
          body: { stringValue: LOG_BODY },
          attributes: [str(PAYLOADS.img, PAYLOADS.js)],
          traceId,
          spanId: inSpan,
        }],
      }],
    }],
  };
  return { traceId, spans: [inSpan, outSpan], traces, logs, activity, sent };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const what = process.argv[2] ?? "traces";
  const h = hostileTrace();
  const out = what === "logs" ? h.logs : what === "plain" ? plainTrace().body : h.traces;
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
}
