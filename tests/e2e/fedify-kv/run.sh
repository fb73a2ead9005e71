#!/bin/sh
# End-to-end test: fedtrace and real Fedify 2.3.6 servers sharing one store.
#
#   sh tests/e2e/fedify-kv/run.sh FEDTRACE_BIN REDIS_URL POSTGRES_URL TEST_DATA
#
# REDIS_URL / POSTGRES_URL: a running server each (driver.c starts them);
# an empty argument means that server is not available here.  TEST_DATA:
# tests/data (for the fedify-2.3.6 OTLP fixtures).
#
# For each store, three namespaces (Redis databases 1-3, PostgreSQL
# databases fedtrace_e2e_1-3), each checked with compare.mjs (fedtrace's
# /api/traces and /api/traces/{id} against a Fedify view of the same
# traces):
#
#  1. Fedify -> store -> fedtrace: the scenario of tests/e2e/fedify/app.mjs
#     with both servers' FedifySpanExporter writing into the store through
#     RedisKvStore / PostgresKvStore, no OTLP anywhere; then a UI-only
#     `fedtrace serve --store URL --otlp-listen off` must show what Fedify's
#     exporter reads back from the store.
#  2. fedtrace -> store -> Fedify, fixtures: the captured OTLP requests of
#     tests/data/fedify-2.3.6 sent to `fedtrace serve --store URL`; its API
#     must equal reference.json (what Fedify stored from the same spans), and
#     a FedifySpanExporter over the same store must read exactly what the
#     API returns (getRecentTraces = /api/traces, getActivitiesByTraceId =
#     /api/traces/{id}).
#  3. fedtrace -> store -> Fedify, live: the scenario exporting OTLP to
#     `fedtrace serve --store URL`; the API must equal the servers' own
#     in-memory exporters, and a FedifySpanExporter over the store must read
#     what the API returns.
#
# Exit status: 0 passed, 1 failed, 77 skipped (node/npm or a server
# missing, or the install failed; with CI=true those fail instead).
# FEDTRACE_E2E_KEEP=1 keeps the temporary directory (views, raw store
# dumps, daemon output).

set -u

here=$(cd "$(dirname "$0")" && pwd)
fedify_dir=$(cd "$here/../fedify" && pwd)
bin=${1:-}
redis_url=${2:-}
pg_url=${3:-}
data=${4:-}

e2e_name=e2e_fedify_kv
# shellcheck source=SCRIPTDIR/../fedify/lib.sh
. "$fedify_dir/lib.sh"
fedify_e2e_clean_env

[ $# -eq 4 ] || die "usage: run.sh FEDTRACE_BIN REDIS_URL POSTGRES_URL TEST_DATA"
fedify_e2e_check_bin
fixtures=$data/fedify-2.3.6
[ -f "$fixtures/reference.json" ] || die "no fixtures in $fixtures"
[ -n "$redis_url" ] || [ -n "$pg_url" ] ||
  skip "neither Redis nor PostgreSQL is available"

started=$(date +%s)
fedify_e2e_traps

# ------------------------------------------------------------ node side

fedify_e2e_workdir "$fedify_dir" fedtrace-e2e-kv "$here/stores.mjs" \
  "$here/tool.mjs"

# ------------------------------------------------------------ the daemons

# start_daemon (lib.sh) with a maintenance round every second: it indexes
# what others wrote quickly.
start_kv_daemon() {
  start_daemon "$1" "$2" "$3" --sweep-interval 1s
}

# What the store holds, by key shape (and in $tmp/$tag.raw.json).
show_store() {
  timeout 60 "$node22" "$work/tool.mjs" raw "$url" "$tmp/$tag.raw.json" || true
}

# compare WANT_JSON UI NAME LABEL: fedtrace's API (daemon NAME at UI)
# against a Fedify view.  A difference fails the test but not at once: the
# other rounds still run, so that one run shows every disagreement.
failures=''
compare() {
  if ! timeout 120 "$node22" "$work/compare.mjs" "$1" "$2" "[$tag] $4"; then
    show_store
    show_daemon_log "$3"
    say "[$tag] FAILED: $4: fedtrace and Fedify disagree" \
      "(FEDTRACE_E2E_KEEP=1 keeps the views and the store dump)"
    failures="$failures
  [$tag] $4"
  fi
}

# ------------------------------------------------------------ the rounds

# fresh BASE_URL N: sets url to an empty namespace of that server.
fresh() {
  url=$(timeout 60 "$node22" "$work/tool.mjs" fresh "$1" "$2") ||
    die "[$tag] cannot prepare a namespace on $1"
}

# view OUT: what a FedifySpanExporter over the store reads, to OUT; a
# store it cannot read is a failure (recorded) and returns 1.
view() {
  if ! timeout 120 "$node22" "$work/tool.mjs" view "$url" "$1"; then
    show_store
    say "[$tag] FAILED: Fedify's FedifySpanExporter cannot read the store fedtrace wrote"
    failures="$failures
  [$tag] Fedify cannot read fedtrace's store"
    return 1
  fi
}

round_start() {
  tag=$1
  failures_before=$failures
}
round_end() {
  if [ "$failures" = "$failures_before" ]; then
    say "[$tag] passed"
  else
    say "[$tag] FAILED"
  fi
}

# 1. Fedify writes, fedtrace reads: one UI node started before the Fedify
#    servers write (it must see what arrives while it runs), one after
#    (it must see what was there when it opened the store).
fedify_writes() {
  round_start "$kind-fedify-writes"
  fresh "$base" 1
  # Fedify's own writes carry no fedtrace index entries: on Redis the
  # nodes rebuild the key index from a SCAN in their maintenance rounds
  # (reindex=1); on both stores those rounds index Fedify's summaries
  case $url in
    redis:*\?*) url="$url&reindex=1" ;;
    redis:*) url="$url?reindex=1" ;;
  esac
  start_kv_daemon before "$url" off
  before_pid=$pid before_ui=$ui
  say "[$tag] Fedify's exporters write into $url (no OTLP)"
  if ! FEDIFY_KV=$url OTLP_ENDPOINT='' OUT=$tmp/$tag.fedify.json \
    timeout 300 "$node22" "$work/app.mjs"; then
    die "[$tag] the Fedify scenario failed"
  fi
  start_kv_daemon after "$url" off
  after_pid=$pid after_ui=$ui
  sleep 3 # two maintenance rounds of the node that was already running
  compare "$tmp/$tag.fedify.json" "$before_ui" before \
    "Fedify's exporter vs fedtrace started before Fedify wrote"
  compare "$tmp/$tag.fedify.json" "$after_ui" after \
    "Fedify's exporter vs fedtrace started after Fedify wrote"
  stop_daemon before "$before_pid"
  stop_daemon after "$after_pid"
  round_end
}

# 2. fedtrace writes the fixtures, Fedify reads.
fedtrace_writes_fixtures() {
  round_start "$kind-fixtures"
  fresh "$base" 2
  start_kv_daemon serve "$url" on
  if ! timeout 120 "$node22" "$work/tool.mjs" replay "$fixtures" "$otlp"; then
    show_daemon_log serve
    die "[$tag] fedtrace did not store the fixtures"
  fi
  compare "$fixtures/reference.json" "$ui" serve "fedtrace vs reference.json"
  show_store
  view "$tmp/$tag.fedify.json" &&
    compare "$tmp/$tag.fedify.json" "$ui" serve \
      "Fedify reading fedtrace's store vs fedtrace"
  stop_daemon serve "$pid"
  round_end
}

# 3. fedtrace writes what live Fedify servers export, Fedify reads.
fedtrace_writes_live() {
  round_start "$kind-live"
  fresh "$base" 3
  start_kv_daemon serve "$url" on
  if ! OTLP_ENDPOINT=$otlp OTLP_PROTOCOL=proto OUT=$tmp/$tag.memory.json \
    timeout 300 "$node22" "$work/app.mjs"; then
    show_daemon_log serve
    die "[$tag] the Fedify scenario failed"
  fi
  compare "$tmp/$tag.memory.json" "$ui" serve \
    "Fedify's in-memory exporters vs fedtrace"
  view "$tmp/$tag.fedify.json" &&
    compare "$tmp/$tag.fedify.json" "$ui" serve \
      "Fedify reading fedtrace's store vs fedtrace"
  stop_daemon serve "$pid"
  round_end
}

skipped=''
for kind in redis postgres; do
  if [ "$kind" = redis ]; then base=$redis_url; else base=$pg_url; fi
  if [ -z "$base" ]; then
    skipped="$skipped $kind"
    continue
  fi
  if [ "$kind" = redis ]; then
    # RedisKvStore's default key prefix, spelled out for fedtrace.
    case $base in
      *'?'*prefix=*) ;;
      *'?'*) base="$base&prefix=fedify::" ;;
      *) base="$base?prefix=fedify::" ;;
    esac
  fi
  kind_started=$(date +%s)
  fedify_writes
  fedtrace_writes_fixtures
  fedtrace_writes_live
  say "$kind: done in $(($(date +%s) - kind_started)) s"
done

if [ -n "$failures" ]; then
  die "fedtrace and Fedify disagree in:$failures"
fi
if [ -n "$skipped" ]; then
  skip "passed for the others in $(($(date +%s) - started)) s, but not run for:$skipped (server not available)"
fi
say "passed (Redis and PostgreSQL) in $(($(date +%s) - started)) s"
exit 0
