#!/bin/sh
# limits.sh - fedtrace's ingest against what its store can do by itself
# with the same bytes (issue 7, "Against the limits").
#
#   sh bench/limits.sh BUILD_DIR > section.md
#
# Prints one markdown section on stdout; progress goes to stderr.  Per run:
#
# LMDB: `fedtrace serve` on a fresh LMDB directory takes ft_loadgen's
#   spans for LIMITS_SECONDS (no warm-up, so the store holds exactly the
#   measured spans); after the daemon has stopped, ft_lmdb_floor copies
#   every entry of the store's "data" database, bytes as stored (zstd
#   frames stay compressed), into a fresh LMDB environment with a plain
#   put loop, one synced commit per request ft_loadgen made, in the order
#   the daemon wrote the keys (LIMITS_ORDER).  Ratio: fedtrace's spans/s
#   over the put loop's (entries/s times spans per entry).
# Redis: a throwaway Redis from ft_store_server (as the tests run it:
#   append-only file, appendfsync always), `fedtrace serve` on it, the same
#   ft_loadgen run; the bytes of values it stored are the sum of STRLEN over
#   its keys (INFO commandstats gives its SET count: a key set twice counts
#   once, so this is a lower bound of what it wrote).  Then, on a second
#   fresh Redis with the same settings, `redis-benchmark -t set -P 64` with
#   values of fedtrace's average size.  Ratio: fedtrace's value bytes/s over
#   redis-benchmark's SETs/s times the value size; the target is 1/2.
#
# Environment (defaults in brackets):
#   LIMITS_STORES        what to measure ["lmdb redis"]
#   LIMITS_RUNS          runs per store; the run with the median ratio is
#                        reported, and every run [3]
#   LIMITS_SECONDS       length of fedtrace's ingest run [10]
#   LIMITS_BATCH         spans per request [512]
#   LIMITS_CONNECTIONS   ft_loadgen's keep-alive connections [4]
#   LIMITS_ORDER         ft_lmdb_floor --order: arrival or key [arrival]
#   LIMITS_LMDB_TARGET   target ratio for LMDB ["": none]
#   LIMITS_REDIS_TARGET  target ratio for Redis [0.5]
#   LIMITS_RB_PIPELINE   redis-benchmark -P [64]
#   LIMITS_RB_CLIENTS    redis-benchmark -c [50, its default]
#   LIMITS_RB_MIN        redis-benchmark -n is the number of values fedtrace
#                        stored (the same bytes), but at least this [100000]
#   LIMITS_RB_KEYSPACE   redis-benchmark -r [1000000000]
#   LIMITS_NO_PIN        1: do not pin with taskset
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh bench/limits.sh BUILD_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
fedtrace=$build/fedtrace
loadgen=$build/bench/ft_loadgen
floor=$build/bench/ft_lmdb_floor
store_server=$build/bench/ft_store_server

stores=${LIMITS_STORES:-lmdb redis}
runs=${LIMITS_RUNS:-3}
seconds=${LIMITS_SECONDS:-10}
batch=${LIMITS_BATCH:-512}
conns=${LIMITS_CONNECTIONS:-4}
order=${LIMITS_ORDER:-arrival}
lmdb_target=${LIMITS_LMDB_TARGET:-}
redis_target=${LIMITS_REDIS_TARGET:-0.5}
rb_pipeline=${LIMITS_RB_PIPELINE:-64}
rb_clients=${LIMITS_RB_CLIENTS:-50}
rb_min=${LIMITS_RB_MIN:-100000}
rb_keyspace=${LIMITS_RB_KEYSPACE:-1000000000}

die() {
    echo "limits: $*" >&2
    exit 1
}
. "$root/bench/lib.sh"

for v in "$runs" "$seconds" "$batch" "$conns" "$rb_pipeline" "$rb_clients" "$rb_min" "$rb_keyspace"; do
    case $v in
    '' | *[!0-9]* | 0) die "LIMITS_*: '$v' is not a positive integer" ;;
    esac
done
for t in "$lmdb_target" "$redis_target"; do
    case $t in
    '' | [0-9]* | .[0-9]*) ;;
    *) die "LIMITS_*_TARGET: '$t' is not a number" ;;
    esac
done
case $order in
arrival | key) ;;
*) die "LIMITS_ORDER: '$order' is not arrival or key" ;;
esac
[ -n "$stores" ] || die "LIMITS_STORES is empty"
[ -x "$fedtrace" ] || die "$fedtrace is missing (make build)"
[ -x "$loadgen" ] || die "$loadgen is missing (make build)"
for store in $stores; do
    case $store in
    lmdb) [ -x "$floor" ] || die "$floor is missing (make build)" ;;
    redis)
        [ -x "$store_server" ] || die "$store_server is missing (make build)"
        for tool in redis-benchmark redis-cli; do
            command -v "$tool" >/dev/null 2>&1 ||
                die "$tool is not installed (Debian: redis-tools, which redis-server depends on)"
        done
        ;;
    *) die "LIMITS_STORES: unknown store '$store' (lmdb, redis)" ;;
    esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedtrace-limits.XXXXXX")
daemon=
ss_pid=
cleanup() {
    if [ -n "$daemon" ]; then
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    if [ -n "$ss_pid" ]; then
        exec 3>&-
        kill -TERM "$ss_pid" 2>/dev/null || true
        wait "$ss_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The daemon (and the put loop) on one CPU, the clients on another.
pin_d=
pin_l=
pinning="none"
pick_cpus "${LIMITS_NO_PIN:-0}"
if [ -n "$cpu_first" ]; then
    pin_d="taskset -c $cpu_first"
    pin_l="taskset -c $cpu_second"
    pinning="\`fedtrace serve\` and \`ft_lmdb_floor\` on CPU $cpu_first, \`ft_loadgen\` and \`redis-benchmark\` on CPU $cpu_second (taskset); the Redis servers not pinned"
fi


# ---- processes ------------------------------------------------------------------

# stop_checked NAME: stop_daemon (lib.sh), then show what in its log looks
# like trouble
stop_checked() {
    stop_daemon "$1"
    # the daemon logs to stderr: show what looks like trouble
    if grep -Eiq 'error|warn|fail|refus|full|abort|sanitizer|overload|reject' "$tmp/daemon-$1.err"; then
        echo "limits: $1: fedtrace serve logged what looks like trouble:" >&2
        grep -Ei 'error|warn|fail|refus|full|abort|sanitizer|overload|reject' "$tmp/daemon-$1.err" |
            head -n 5 | sed "s|$tmp|TMP|g" >&2
    fi
}

# ingest NAME SEED: one ft_loadgen run against $url; its result line on stdout
ingest() {
    if ! $pin_l "$loadgen" --url "$url" --batch "$batch" --connections "$conns" \
        --seconds "$seconds" --seed "$2" >"$tmp/lg.out" 2>"$tmp/lg.err" 3>&-; then
        cat "$tmp/lg.err" >&2
        echo "--- fedtrace serve stderr:" >&2
        tail -n 20 "$tmp/daemon-$1.err" >&2 || true
        die "ft_loadgen failed ($1)"
    fi
    sed -n 's/^ft_loadgen: /  fedtrace: /p' "$tmp/lg.out" >&2
    line=$(grep '^result ' "$tmp/lg.out" | head -n 1)
    [ -n "$line" ] || die "ft_loadgen printed no result ($1)"
    echo "$line"
}

# redis_store TAG: a throwaway Redis (lib.sh's start_store); sets $ss_pid,
# $ss_url, $ss_host and $ss_port
redis_store() {
    if ! start_store redis "$1"; then
        cat "$tmp/ss-$1.err" >&2
        die "Redis could not be started (ft_store_server redis)"
    fi
    # redis://[user:password@]HOST:PORT[/DB][?...]
    hp=$(echo "$ss_url" | sed 's|^redis://||; s|^.*@||; s|[/?].*$||')
    ss_host=${hp%:*}
    ss_port=${hp##*:}
    case $ss_port in
    '' | *[!0-9]*) die "cannot read host and port from $ss_url" ;;
    esac
}

rcli() {
    redis-cli -h "$ss_host" -p "$ss_port" "$@" 3>&-
}

# cmd_calls NAME: how many NAME commands the server ran (INFO commandstats;
# commands run by scripts included)
cmd_calls() {
    rcli INFO commandstats | tr -d '\r' |
        sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}

# ---- LMDB -----------------------------------------------------------------------

results=$tmp/results
: >"$results"

run_lmdb() {
    r=$1
    name=lmdb-$r
    echo "limits: LMDB, run $r of $runs: fedtrace serve, ${seconds}s of ingest" >&2
    start_daemon "$name" "lmdb:$tmp/store-$r"
    line=$(ingest "$name" "$r")
    stop_checked "$name"
    spans=$(field "$line" spans)
    requests=$(field "$line" requests)
    [ "${spans:-0}" -gt 0 ] || die "LMDB, run $r: no spans were stored"
    echo "limits: LMDB, run $r of $runs: ft_lmdb_floor, $requests commits" >&2
    if ! $pin_d "$floor" --from "$tmp/store-$r" --to "$tmp/floor-$r" --spans "$spans" \
        --requests "$requests" --order "$order" >"$tmp/fl.out" 2>"$tmp/fl.err" 3>&-; then
        cat "$tmp/fl.err" >&2
        die "ft_lmdb_floor failed (run $r)"
    fi
    sed -n 's/^ft_lmdb_floor: /  floor: /p' "$tmp/fl.out" >&2
    fl=$(grep '^result ' "$tmp/fl.out" | head -n 1)
    rm -rf "$tmp/store-$r" "$tmp/floor-$r"
    awk -v r="$r" -v sps="$(field "$line" spans_per_s)" -v secs="$(field "$line" seconds)" \
        -v spans="$spans" -v reqs="$requests" -v bytes="$(field "$fl" bytes)" \
        -v entries="$(field "$fl" entries)" -v zv="$(field "$fl" zstd_values)" \
        -v ops="$(field "$fl" entries_per_s)" -v fbps="$(field "$fl" bytes_per_s)" \
        -v fsps="$(field "$fl" spans_per_s)" -v fsecs="$(field "$fl" seconds)" \
        -v vb="$(field "$fl" value_bytes)" 'BEGIN {
        printf "store=lmdb run=%s ft_spans_per_s=%.1f ft_bytes_per_s=%.0f floor_ops_per_s=%.1f", r, sps, bytes / secs, ops
        printf " floor_bytes_per_s=%.0f floor_spans_per_s=%.1f ratio=%.4f spans=%.0f requests=%.0f", fbps, fsps, sps / fsps, spans, reqs
        printf " seconds=%.3f floor_seconds=%.3f entries=%.0f bytes=%.0f value_bytes=%.0f zstd_values=%.0f\n", secs, fsecs, entries, bytes, vb, zv
    }' >>"$results"
}

# ---- Redis ----------------------------------------------------------------------

# the Lua script that sums STRLEN over the string keys matching ARGV[1]
strlen_sum='local c, n, b = "0", 0, 0
repeat
  local r = redis.call("SCAN", c, "MATCH", ARGV[1], "COUNT", 1000)
  c = r[1]
  for _, k in ipairs(r[2]) do
    if redis.call("TYPE", k).ok == "string" then
      n = n + 1
      b = b + redis.call("STRLEN", k)
    end
  end
until c == "0"
return {n, b}'

redis_settings=
run_redis() {
    r=$1
    name=redis-$r
    echo "limits: Redis, run $r of $runs: fedtrace serve, ${seconds}s of ingest" >&2
    redis_store "ft-$r"
    if [ -z "$redis_settings" ]; then
        for s in appendonly appendfsync save; do
            rcli --raw CONFIG GET "$s" | awk 'NR == 1 { n = $0 } NR == 2 { v = $0 } END { if (n != "") printf "%s %s\n", n, (v == "" ? "\"\"" : v) }'
        done >"$tmp/redis-settings"
        redis_settings=$(awk '{ printf "%s`%s`", sep, $0; sep = ", " }' "$tmp/redis-settings")
        redis_version=$(redis-server --version 2>/dev/null | sed 's/^Redis server v=\([^ ]*\).*/\1/' | head -n 1)
        rb_version=$(redis-benchmark --version 2>/dev/null | sed 's/^redis-benchmark \([^ ]*\).*/\1/' | head -n 1)
    fi
    case $ss_url in
    *\?*) surl="$ss_url&prefix=limits::" ;;
    *) surl="$ss_url?prefix=limits::" ;;
    esac
    start_daemon "$name" "$surl"
    line=$(ingest "$name" "$r")
    stop_checked "$name"
    sum=$(rcli --raw EVAL "$strlen_sum" 0 'limits::*' | tr -d '\r' | tr '\n' ' ')
    keys=$(echo "$sum" | awk '{ print $1 + 0 }')
    vbytes=$(echo "$sum" | awk '{ print $2 + 0 }')
    sets=$(cmd_calls set)
    scripts=$(cmd_calls evalsha)
    [ "$keys" -gt 0 ] || die "Redis, run $r: fedtrace stored no keys"
    stop_store redis "ft-$r" || die "ft_store_server redis did not stop cleanly"
    size=$(awk -v b="$vbytes" -v n="$keys" 'BEGIN { s = int(b / n + 0.5); print s < 1 ? 1 : s }')
    n=$keys
    [ "$n" -ge "$rb_min" ] || n=$rb_min
    echo "limits: Redis, run $r of $runs: redis-benchmark, $n SETs of $size bytes on a fresh Redis" >&2
    redis_store "rb-$r"
    if ! $pin_l redis-benchmark -h "$ss_host" -p "$ss_port" -t set -P "$rb_pipeline" \
        -c "$rb_clients" -d "$size" -n "$n" -r "$rb_keyspace" --csv \
        >"$tmp/rb.out" 2>"$tmp/rb.err" 3>&-; then
        cat "$tmp/rb.out" "$tmp/rb.err" >&2
        die "redis-benchmark failed (run $r)"
    fi
    rps=$(tr -d '"\r' <"$tmp/rb.out" | awk -F, '$1 == "SET" { print $2; exit }')
    rb_sets=$(cmd_calls set)
    stop_store redis "rb-$r" || die "ft_store_server redis did not stop cleanly"
    case $rps in
    '' | *[!0-9.]*)
        cat "$tmp/rb.out" "$tmp/rb.err" >&2
        die "redis-benchmark printed no SET rate (run $r)"
        ;;
    esac
    [ "$rb_sets" -ge "$n" ] || die "redis-benchmark: the server ran $rb_sets SETs, not $n"
    echo "  redis-benchmark: $rps SETs/s of $size bytes" >&2
    awk -v r="$r" -v sps="$(field "$line" spans_per_s)" -v secs="$(field "$line" seconds)" \
        -v spans="$(field "$line" spans)" -v reqs="$(field "$line" requests)" \
        -v keys="$keys" -v vb="$vbytes" -v sets="$sets" -v size="$size" -v n="$n" -v ev="$scripts" \
        -v rps="$rps" 'BEGIN {
        printf "store=redis run=%s ft_spans_per_s=%.1f ft_bytes_per_s=%.0f floor_ops_per_s=%.1f", r, sps, vb / secs, rps
        printf " floor_bytes_per_s=%.0f ratio=%.4f spans=%.0f requests=%.0f seconds=%.3f", rps * size, vb / secs / (rps * size), spans, reqs, secs
        printf " keys=%.0f value_bytes=%.0f sets=%.0f scripts=%.0f size=%.0f rb_requests=%.0f\n", keys, vb, sets, ev, size, n
    }' >>"$results"
}

# ---- the runs -------------------------------------------------------------------

started=$(date +%s)
r=1
while [ "$r" -le "$runs" ]; do
    for store in $stores; do
        case $store in
        lmdb) run_lmdb "$r" ;;
        redis) run_redis "$r" ;;
        esac
    done
    r=$((r + 1))
done
elapsed=$(($(date +%s) - started))
echo "limits: done in ${elapsed}s" >&2

# ---- the report -----------------------------------------------------------------

# median_line STORE: the result line of STORE's run with the median ratio
# (of an even number of runs, the lower of the two middle ones), so that
# the figures of the summary come from one run and agree with its ratio
median_line() {
    grep "^store=$1 " "$results" | awk '
    {
        for (i = 1; i <= NF; i++)
            if (substr($i, 1, 6) == "ratio=") print substr($i, 7), NR
    }' | sort -g | awk '{ r[n++] = $2 } END { if (n) print r[int((n - 1) / 2)] }' >"$tmp/pick"
    grep "^store=$1 " "$results" | sed -n "$(cat "$tmp/pick")p"
}

rate() {
    awk -v x="$1" 'BEGIN { printf "%.0f", x }'
}
mbs() {
    awk -v x="$1" 'BEGIN { printf "%.1f MB/s", x / 1e6 }'
}
ratio() {
    awk -v x="$1" 'BEGIN { printf "%.2f", x }'
}
# verdict RATIO TARGET
verdict() {
    if [ -z "$2" ]; then
        echo "—"
    else
        awk -v x="$1" -v t="$2" 'BEGIN { print (x >= t ? "**met**" : "**not met**") }'
    fi
}

has() {
    case " $stores " in *" $1 "*) return 0 ;; esac
    return 1
}

cat <<EOF
## Against the limits: fedtrace's ingest vs its store alone

\`bench/limits.sh\` stores the same bytes twice: once through \`fedtrace
serve\` (OTLP/HTTP protobuf from \`ft_loadgen --batch $batch --connections
$conns --seconds $seconds\`, a fresh store, no warm-up), and once with the
store's own fastest path and nothing of fedtrace around it. **Ratio** is
fedtrace's rate over that floor: 1 would mean fedtrace costs nothing beyond
writing its bytes; the rest is HTTP, decoding, building records, indexes,
compression and extra round trips or commits. $runs run(s) per store,
interleaved; the table shows, per store, the run with the median ratio
(all runs are listed below).

| store | fedtrace spans/s | fedtrace bytes/s | floor | floor ops/s | floor bytes/s | ratio | target | met |
|---|--:|--:|---|--:|--:|--:|--:|---|
EOF
if has lmdb; then
    m=$(median_line lmdb)
    printf '| LMDB | %s | %s | put loop (%s order), one commit per request | %s puts/s | %s | %s | %s | %s |\n' \
        "$(rate "$(field "$m" ft_spans_per_s)")" "$(mbs "$(field "$m" ft_bytes_per_s)")" "$order" \
        "$(rate "$(field "$m" floor_ops_per_s)")" "$(mbs "$(field "$m" floor_bytes_per_s)")" \
        "$(ratio "$(field "$m" ratio)")" "${lmdb_target:-none}" "$(verdict "$(field "$m" ratio)" "$lmdb_target")"
fi
if has redis; then
    m=$(median_line redis)
    # shellcheck disable=SC2016 # backquotes for markdown
    printf '| Redis | %s | %s (values) | `redis-benchmark -t set -P %s`, %s-byte values | %s SETs/s | %s (values) | %s | %s | %s |\n' \
        "$(rate "$(field "$m" ft_spans_per_s)")" "$(mbs "$(field "$m" ft_bytes_per_s)")" \
        "$rb_pipeline" "$(field "$m" size)" \
        "$(rate "$(field "$m" floor_ops_per_s)")" "$(mbs "$(field "$m" floor_bytes_per_s)")" \
        "$(ratio "$(field "$m" ratio)")" "$redis_target" "$(verdict "$(field "$m" ratio)" "$redis_target")"
fi
echo
echo "How to read it:"
echo
if has lmdb; then
    cat <<EOF
- **LMDB**: after \`fedtrace serve\` (default \`sync=full\`: every commit
  synced) has stored the run and stopped, \`ft_lmdb_floor\` reads every
  entry of the store's \`data\` database as it is on disk (the encoded
  key; the 8-byte expiry word and the value, zstd frames still
  compressed) and writes them with \`mdb_put\` into a fresh environment
  with LMDB's default flush, in as many write transactions as
  \`ft_loadgen\` made requests (one commit each), timing only the puts and
  commits. Order: \`$order\`$(if [ "$order" = arrival ]; then echo " (the order of the keys' last write, read from the store's expiry index)"; else echo " (the keys' sorted order: kinder to LMDB than arrival order)"; fi).
  Bytes: keys plus stored values. fedtrace bytes/s is those bytes over
  the ingest run's time; the ratio is fedtrace's spans/s over the put
  loop's entries/s times spans per entry (the same thing). Not in the
  floor: the \`exp\` index entry fedtrace writes next to each key, its
  reads before writing, compression, and the extra commit of a request
  whose traces carry activity records (the trace summaries'
  compare-and-swap).
EOF
fi
if has redis; then
    cat <<EOF
- **Redis** (${redis_version:-version unknown}; ${redis_settings:-settings unknown}; two
  fresh servers per run from \`ft_store_server redis\`, one for each
  side): fedtrace bytes/s is the sum of \`STRLEN\` over the string keys
  fedtrace left (its key prefix), over the ingest run's time: bytes of
  values, not counting key names, the index sorted sets or the protocol.
  A key written twice counts once, so it is a lower bound (see SETs
  against keys below). The floor is \`redis-benchmark${rb_version:+ $rb_version}
  -t set -P $rb_pipeline -c $rb_clients -d SIZE -n N -r $rb_keyspace --csv\`: SIZE
  the average value fedtrace stored, N the number of its keys (at least
  $rb_min), random keys; bytes/s is its SETs/s times SIZE. Target: $redis_target.
EOF
fi
echo "- Pinning: $pinning."
echo "- Noise: both sides of each ratio wait for the disk (every commit or"
echo "  write is fsynced), so disk activity elsewhere on the machine moves"
echo "  them; the spread of the runs below shows by how much."
echo
echo "Every run:"
echo
echo "| store | run | spans (requests) | fedtrace spans/s | fedtrace bytes/s | what the floor wrote | floor s | floor ops/s | floor bytes/s | ratio |"
echo "|---|--:|--:|--:|--:|---|--:|--:|--:|--:|"
while read -r line; do
    st=$(field "$line" store)
    case $st in
    lmdb)
        what=$(awk -v e="$(field "$line" entries)" -v b="$(field "$line" bytes)" -v z="$(field "$line" zstd_values)" \
            'BEGIN { printf "%.0f entries, %.1f MB (%.0f values zstd)", e, b / 1e6, z }')
        fs=$(field "$line" floor_seconds)
        sn=LMDB
        ;;
    redis)
        what=$(awk -v k="$(field "$line" keys)" -v b="$(field "$line" value_bytes)" -v s="$(field "$line" sets)" \
            -v z="$(field "$line" size)" -v n="$(field "$line" rb_requests)" \
            -v e="$(field "$line" scripts)" -v q="$(field "$line" requests)" \
            'BEGIN { printf "fedtrace: %.0f keys, %.1f MB of values, %.0f SETs in %.0f EVALSHA (%.0f per request); redis-benchmark: %.0f × %.0f B", k, b / 1e6, s, e, e / q, n, z }')
        fs=$(awk -v n="$(field "$line" rb_requests)" -v r="$(field "$line" floor_ops_per_s)" 'BEGIN { printf "%.3f", n / r }')
        sn=Redis
        ;;
    esac
    printf '| %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s |\n' "$sn" "$(field "$line" run)" \
        "$(field "$line" spans)" "$(field "$line" requests)" "$(rate "$(field "$line" ft_spans_per_s)")" \
        "$(mbs "$(field "$line" ft_bytes_per_s)")" "$what" "$fs" \
        "$(rate "$(field "$line" floor_ops_per_s)")" "$(mbs "$(field "$line" floor_bytes_per_s)")" \
        "$(ratio "$(field "$line" ratio)")"
done <"$results"
echo
echo "Command: \`LIMITS_RUNS=$runs LIMITS_SECONDS=$seconds sh bench/limits.sh BUILD\`, ${elapsed} s."
