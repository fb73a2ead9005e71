# shellcheck shell=sh
# shellcheck disable=SC2034,SC2154 # globals shared with the sourcing scripts
# Helpers shared by the Fedify end-to-end tests; sourced (not run) by
# tests/e2e/fedify/run.sh and tests/e2e/fedify-kv/run.sh, next to
# install.sh:
#
#   e2e_name=e2e_fedify                 # prefix of every message
#   . "$fedify_dir/lib.sh"
#   fedify_e2e_clean_env
#   ...
#   fedify_e2e_traps
#   fedify_e2e_workdir "$fedify_dir" NAME [FILE...]
#
# Globals it reads and sets: bin (the fedtrace binary), tmp (the run's
# temporary directory, set by fedify_e2e_workdir), staging (install.sh's
# half-done install directory), daemons (the `fedtrace serve` processes
# still running), tag (the current round, in messages and log names).

# fedify_e2e_clean_env: settings from the caller's environment must not
# steer the daemon, the OpenTelemetry SDK (sampler, exporter headers,
# compression, ...) or the Fedify scenario (FEDIFY_KV).
fedify_e2e_clean_env() {
  for _var in $(env | sed -n 's/^\(FEDTRACE_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(OTEL_[A-Za-z0-9_]*\)=.*/\1/p'); do
    case $_var in FEDTRACE_E2E_*) ;; *) unset "$_var" ;; esac
  done
  unset FEDIFY_KV
}

say() { printf '%s\n' "$e2e_name: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
# skip REASON: exit 77, or fail under CI=true.
skip() {
  if [ "${CI:-}" = true ]; then
    die "$* (CI=true: not skipping)"
  fi
  say "SKIPPED: $*"
  exit 77
}

# fedify_e2e_check_bin: makes $bin absolute; it must be executable.
fedify_e2e_check_bin() {
  case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
  [ -x "$bin" ] || die "not an executable: $bin"
}

# cleanup: the EXIT trap; kills the daemons still running, removes a
# half-done install and the temporary directory (kept, and named, with
# FEDTRACE_E2E_KEEP=1).
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  for _pid in $daemons; do
    kill -KILL "$_pid" 2>/dev/null
    wait "$_pid" 2>/dev/null
  done
  [ -z "$staging" ] || rm -rf "$staging"
  if [ -n "$tmp" ]; then
    if [ -n "${FEDTRACE_E2E_KEEP:-}" ]; then
      say "kept $tmp"
    else
      rm -rf "$tmp"
    fi
  fi
}

fedify_e2e_traps() {
  staging=
  tmp=
  daemons=''
  trap cleanup EXIT
  trap 'exit 1' INT TERM HUP
}

# fedify_e2e_workdir FEDIFY_DIR NAME [FILE...]: installs the node side
# (FEDIFY_DIR/install.sh) and sets node22, tmp (a new directory
# ${TMPDIR:-/tmp}/NAME.XXXXXX) and work ($tmp/app: the Fedify scenario,
# compare.mjs and the FILEs, which resolve their packages through the
# node_modules next to them).
fedify_e2e_workdir() {
  _dir=$1
  # shellcheck source=SCRIPTDIR/install.sh
  . "$_dir/install.sh"
  fedify_e2e_install "$_dir"
  node22=$fedify_e2e_node
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX") || die "mktemp failed"
  shift 2
  work=$tmp/app
  mkdir -p "$work"
  cp "$_dir/app.mjs" "$_dir/server.mjs" "$_dir/compare.mjs" \
    "$_dir/package.json" "$@" "$work/"
  ln -s "$fedify_e2e_deps/node_modules" "$work/node_modules"
}

# alive PID: a process that exited but was not waited for yet still has
# /proc/PID: look at its state.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  _state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ -n "$_state" ] && [ "$_state" != Z ]
}

# show_daemon_log NAME: the end of daemon NAME's output ($tmp/$tag.NAME.*).
show_daemon_log() {
  say "fedtrace serve stdout ($tag, $1):"
  tail -n 20 "$tmp/$tag.$1.out" >&2
  say "fedtrace serve stderr ($tag, $1):"
  tail -n 40 "$tmp/$tag.$1.err" >&2
}

# start_daemon NAME STORE_URL on|off [ARG...]: `fedtrace serve` on that
# store, with or without its OTLP receiver, with the extra ARGs; sets pid,
# otlp and ui.
start_daemon() {
  _name=$1
  _store=$2
  _otlp_on=$3
  shift 3
  if [ "$_otlp_on" = on ]; then _listen=127.0.0.1:0; else _listen=off; fi
  "$bin" serve --store "$_store" --otlp-listen "$_listen" \
    --ui-listen 127.0.0.1:0 "$@" \
    >"$tmp/$tag.$_name.out" 2>"$tmp/$tag.$_name.err" </dev/null &
  pid=$!
  daemons="$daemons $pid"
  otlp=''
  ui=''
  _waited=0
  while [ -z "$ui" ] || { [ "$_otlp_on" = on ] && [ -z "$otlp" ]; }; do
    if ! alive "$pid"; then
      show_daemon_log "$_name"
      die "[$tag] fedtrace serve --store $_store exited before listening"
    fi
    if [ "$_waited" -ge 300 ]; then
      show_daemon_log "$_name"
      die "[$tag] fedtrace serve did not print its addresses within 30 s"
    fi
    sleep 0.1
    _waited=$((_waited + 1))
    otlp=$(sed -n 's|^fedtrace: otlp listening on \(http://[^ ]*\).*|\1|p' "$tmp/$tag.$_name.out" | head -n 1)
    ui=$(sed -n 's|^fedtrace: ui listening on \(http://[^ ]*\).*|\1|p' "$tmp/$tag.$_name.out" | head -n 1)
  done
  say "[$tag] $_name: fedtrace serve --store $_store: otlp ${otlp:-off}, ui $ui"
}

# stop_daemon NAME PID: SIGTERM; it must exit 0 within 30 s.
stop_daemon() {
  kill -TERM "$2" 2>/dev/null
  _waited=0
  while alive "$2" && [ "$_waited" -lt 300 ]; do
    sleep 0.1
    _waited=$((_waited + 1))
  done
  if alive "$2"; then
    show_daemon_log "$1"
    die "[$tag] fedtrace serve ($1) still running 30 s after SIGTERM"
  fi
  wait "$2"
  _status=$?
  _rest=''
  for _p in $daemons; do [ "$_p" = "$2" ] || _rest="$_rest $_p"; done
  daemons=$_rest
  if [ "$_status" -ne 0 ]; then
    show_daemon_log "$1"
    die "[$tag] fedtrace serve ($1) exited with status $_status after SIGTERM"
  fi
}
