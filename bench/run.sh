#!/bin/sh
# run.sh - the `make bench` driver: OTLP/HTTP protobuf ingest into LMDB.
#
#   sh bench/run.sh BUILD_DIR
#
# For each batch size it starts `fedtrace serve` on a fresh LMDB store in a
# temporary directory (OTLP on a free port, no UI), warms it up, runs
# ft_loadgen several times, stops the daemon with SIGTERM and checks that
# the data is there; then it writes docs/benchmarks.md with the medians, the
# machine, every run, and (when it was built) the decoder comparison of
# bench/decode_compare.sh.  See bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_BATCHES      spans per request to measure ["1 64 512"]
#   BENCH_RUNS         measured runs per batch size; the median is reported [3]
#   BENCH_SECONDS      length of one run [5]
#   BENCH_WARMUP       length of the warm-up run before them [2]
#   BENCH_CONNECTIONS  keep-alive connections of the load generator [4]
#   BENCH_OUT          the report [docs/benchmarks.md]; "-" for stdout
#   BENCH_NO_PIN       set to 1 to skip pinning with taskset
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh bench/run.sh BUILD_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
fedtrace=$build/fedtrace
loadgen=$build/bench/ft_loadgen

batches=${BENCH_BATCHES:-1 64 512}
runs=${BENCH_RUNS:-3}
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-2}
conns=${BENCH_CONNECTIONS:-4}
out=${BENCH_OUT:-$root/docs/benchmarks.md}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ -x "$fedtrace" ] || die "$fedtrace is missing (make build)"
[ -x "$loadgen" ] || die "$loadgen is missing (make build)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedtrace-bench.XXXXXX")
daemon=
cleanup() {
    if [ -n "$daemon" ]; then
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Pin the daemon and the load generator to different CPUs when we can.
pin_d=
pin_l=
pinning="none"
if [ "${BENCH_NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null 2>&1; then
    cpus=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//')
    first=$(echo "$cpus" | awk -F '[,-]' '{ print $1 }')
    second=$(awk -v list="$cpus" -v first="$first" 'BEGIN {
        n = split(list, parts, ",")
        for (i = 1; i <= n; i++) {
            if (split(parts[i], r, "-") == 2) { lo = r[1]; hi = r[2] } else { lo = hi = parts[i] }
            for (c = lo; c <= hi; c++) if (c != first) { print c; exit }
        }
    }')
    if [ -n "$first" ] && [ -n "$second" ]; then
        pin_d="taskset -c $first"
        pin_l="taskset -c $second"
        pinning="fedtrace serve on CPU $first, ft_loadgen on CPU $second (taskset)"
    fi
fi

# start_daemon NAME: fedtrace serve on a fresh store; sets $daemon and $url.
start_daemon() {
    store=$tmp/store-$1
    log=$tmp/daemon-$1
    $pin_d "$fedtrace" serve --store "lmdb:$store" \
        --otlp-listen 127.0.0.1:0 --ui-listen off >"$log.out" 2>"$log.err" &
    daemon=$!
    url=
    i=0
    while [ $i -lt 100 ]; do
        url=$(sed -n 's/^fedtrace: otlp listening on \(http:[^ ]*\).*$/\1/p' \
            "$log.out" | head -n 1)
        [ -n "$url" ] && return 0
        if ! kill -0 "$daemon" 2>/dev/null; then
            cat "$log.err" >&2
            daemon=
            die "fedtrace serve exited before listening"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    cat "$log.err" >&2
    die "fedtrace serve did not print its OTLP address within 10 s"
}

# stop_daemon NAME: SIGTERM, then wait up to 20 s; fails if it does not
# exit cleanly.
stop_daemon() {
    kill -TERM "$daemon"
    i=0
    while kill -0 "$daemon" 2>/dev/null && [ $i -lt 200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$daemon" 2>/dev/null; then
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        daemon=
        die "fedtrace serve did not stop within 20 s of SIGTERM"
    fi
    st=0
    wait "$daemon" || st=$?
    daemon=
    if [ "$st" -ne 0 ]; then
        cat "$tmp/daemon-$1.err" >&2
        die "fedtrace serve exited with status $st"
    fi
}

# field LINE KEY: the value of KEY=... in a result line
field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# loadgen ARGS...: one run; its "result" line goes to stdout.
loadgen() {
    if ! $pin_l "$loadgen" --url "$url" --connections "$conns" "$@" \
        >"$tmp/lg.out" 2>"$tmp/lg.err"; then
        cat "$tmp/lg.err" >&2
        echo "--- fedtrace serve stderr:" >&2
        tail -n 20 "$tmp/daemon-$batch.err" >&2 || true
        die "ft_loadgen failed: $*"
    fi
    sed -n 's/^ft_loadgen: /  /p' "$tmp/lg.out" >&2
    grep '^result ' "$tmp/lg.out"
}

results=$tmp/results
: >"$results"
notes=$tmp/notes
: >"$notes"
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

for batch in $batches; do
    echo "bench: batch $batch: starting fedtrace serve" >&2
    before=$(cpu_ticks)
    start_daemon "$batch"
    echo "bench: batch $batch: warm-up, ${warmup}s" >&2
    line=$(loadgen --batch "$batch" --seconds "$warmup" --seed 1000)
    lg_cpu=$(field "$line" cpu_s)
    all_spans=$(field "$line" spans)
    r=1
    while [ "$r" -le "$runs" ]; do
        echo "bench: batch $batch: run $r of $runs, ${seconds}s" >&2
        line=$(loadgen --batch "$batch" --seconds "$seconds" --seed "$r")
        echo "run=$r $line" >>"$results"
        lg_cpu=$(awk -v a="$lg_cpu" -v b="$(field "$line" cpu_s)" 'BEGIN { print a + b }')
        all_spans=$((all_spans + $(field "$line" spans)))
        r=$((r + 1))
    done
    # the daemon's CPU time (utime + stime, in ticks), then the machine's
    d_ticks=$(awk '{ print $14 + $15 }' "/proc/$daemon/stat" 2>/dev/null || true)
    after=$(cpu_ticks)
    stop_daemon "$batch"
    # how much of the machine went to other processes meanwhile
    others=$(awk -v b="$before" -v a="$after" -v d="${d_ticks:-x}" -v l="$lg_cpu" -v hz="$hz" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        total = y[1] - x[1]; busy = y[2] - x[2]
        if (b == "" || a == "" || d == "x" || total <= 0) { print "?"; exit }
        o = (busy - d - l * hz) / total * 100
        printf "%.0f", o < 0 ? 0 : o
    }')
    d_cpu=$(awk -v d="${d_ticks:-x}" -v hz="$hz" 'BEGIN { if (d == "x") print "?"; else printf "%.1f", d / hz }')
    if [ "$others" != "?" ] && [ "$others" -ge 15 ]; then
        echo "bench: batch $batch: other processes kept $others% of the CPU time busy; the figures are skewed" >&2
    fi
    # the data must be there, readable by the CLI
    if ! "$fedtrace" traces --store "lmdb:$tmp/store-$batch" --limit 1 \
        --json >"$tmp/check" 2>&1 || ! grep -q traceId "$tmp/check"; then
        cat "$tmp/check" >&2
        die "batch $batch: no traces in the store after the run"
    fi
    kb=$(du -sk "$tmp/store-$batch" | awk '{ print $1 }')
    # the daemon logs to stderr; show what looks like trouble
    problems=$tmp/problems-$batch
    grep -Ei 'error|warn|fail|refus|denied|full|abort|sanitizer|leak|overload|too many|reject|(^|[^0-9])(413|429|500|503)([^0-9]|$)' \
        "$tmp/daemon-$batch.err" | sed "s|$tmp|TMP|g" >"$problems" || true
    errs=$(grep -c . "$problems" || true)
    echo "batch=$batch store_kb=$kb daemon_problem_lines=$errs daemon_cpu_s=$d_cpu" \
        "all_spans=$all_spans others_pct=$others" >>"$notes"
    if [ "$errs" -gt 0 ]; then
        echo "bench: batch $batch: fedtrace serve logged $errs line(s) that look like trouble:" >&2
        head -n 20 "$problems" >&2
    fi
    rm -rf "$tmp/store-$batch"
done

# ---- the report ---------------------------------------------------------------

# median BATCH KEY: the median over the runs of one batch size
median() {
    awk -v b="$1" -v k="$2" '
    {
        for (i = 1; i <= NF; i++) {
            split($i, kv, "=")
            f[kv[1]] = kv[2]
        }
        if (f["batch"] == b) v[n++] = f[k] + 0
    }
    END {
        for (i = 1; i < n; i++)
            for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        if (n == 0) print "?"
        else if (n % 2) print v[int(n / 2)]
        else print (v[n / 2 - 1] + v[n / 2]) / 2
    }' "$results"
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
    libs=$(dpkg-query -W -f '${Package} ${Version}, ' liblmdb0 libmicrohttpd12 2>/dev/null |
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

decode=
if [ -f "$root/bench/decode_compare.sh" ] && [ -x "$build/bench/decode_compare" ]; then
    echo "bench: decoder comparison (bench/decode_compare.sh)" >&2
    decode=$(sh "$root/bench/decode_compare.sh" "$build") ||
        die "bench/decode_compare.sh failed"
fi

report() {
    cat <<EOF
# Benchmarks

Written by \`make bench\` (\`bench/run.sh\`, with \`bench/loadgen.c\`);
run it again to refresh this page rather than editing it.  How the
figures are made, and how to run the load generator by hand:
[bench/README.md](../bench/README.md).

## Ingest: OTLP/HTTP protobuf into LMDB

\`fedtrace serve --store lmdb:DIR\` receiving \`POST /v1/traces\`
(\`application/x-protobuf\`, uncompressed) from $conns keep-alive
connections, at $(echo "$batches" | sed 's/ /, /g') spans per request.  Each figure is the median of $runs
runs of $seconds s, after a $warmup s warm-up, on a fresh store per batch
size.

| spans per request | spans/s | requests/s | p50 latency (ms) | p99 latency (ms) |
|--:|--:|--:|--:|--:|
EOF
    for batch in $batches; do
        printf '| %s | %.0f | %.0f | %.2f | %.2f |\n' "$batch" \
            "$(median "$batch" spans_per_s)" "$(median "$batch" requests_per_s)" \
            "$(median "$batch" p50_ms)" "$(median "$batch" p99_ms)"
    done
    cat <<EOF

Machine and build:

- CPU: ${cpu:-unknown}, $cores cores online${mem:+, $mem RAM}
- Kernel: $kernel; the stores live in a temporary directory on ${fs:-an unknown file system}
- Compiler: ${ccver:-unknown}, \`CMAKE_BUILD_TYPE=${btype:-unknown}\`
- fedtrace: revision $rev${libs:+; $libs}
- Pinning: $pinning
- Date: $date; the machine was ${idle_busy}% busy in the second before the runs
- Command: \`make bench\`

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
  across the runs of one batch size, as in real use; the store lives in
  a temporary directory on the machine's disk, with fedtrace's default
  settings.  After the runs the daemon is stopped with SIGTERM and the
  CLI must find the traces in the store.

Every run:

| spans per request | run | spans/s | requests/s | p50 ms | p99 ms | max ms | requests | bytes/span |
|--:|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
    while read -r line; do
        printf '| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %s | %s |\n' \
            "$(field "$line" batch)" "$(field "$line" run)" \
            "$(field "$line" spans_per_s)" "$(field "$line" requests_per_s)" \
            "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" \
            "$(field "$line" max_ms)" "$(field "$line" requests)" \
            "$(field "$line" bytes_per_span)"
    done <"$results"
    echo
    cat <<EOF
Each daemon (one per batch size), from start to SIGTERM, warm-up
included.  "Others" is the share of the machine's CPU time that went to
processes other than the daemon and the load generator meanwhile (from
\`/proc/stat\`; the kernel's own disk writeback counts here, a few
percent): above about 15%, the figures above are skewed.

| spans per request | spans stored | store on disk | daemon CPU | daemon CPU per span | others | daemon log |
|--:|--:|--:|--:|--:|--:|---|
EOF
    while read -r line; do
        b=$(field "$line" batch)
        n=$(field "$line" all_spans)
        cpu=$(field "$line" daemon_cpu_s)
        per=$(awk -v c="$cpu" -v n="$n" 'BEGIN { if (c == "?" || n == 0) print "?"; else printf "%.0f µs", c * 1e6 / n }')
        p=$(field "$line" daemon_problem_lines)
        if [ "$p" -eq 0 ]; then
            log="clean"
        else
            log="$p line(s) that look like trouble, the first: \`$(head -n 1 "$tmp/problems-$b" | cut -c 1-160 | tr -d '`|')\`"
        fi
        printf '| %s | %s | %.0f MB | %s s | %s | %s%% | %s |\n' "$b" "$n" \
            "$(awk -v k="$(field "$line" store_kb)" 'BEGIN { print k / 1024 }')" \
            "$cpu" "$per" "$(field "$line" others_pct)" "$log"
    done <"$notes"
    if [ -n "$decode" ]; then
        cat <<EOF

## Decoding: fedtrace's OTLP reader vs protobuf-c

From \`bench/decode_compare.sh\`, run by \`make bench\` after the ingest runs.

$decode
EOF
    fi
}

if [ "$out" = - ]; then
    report
else
    report >"$out.tmp"
    mv "$out.tmp" "$out"
    echo "bench: wrote $out" >&2
fi
