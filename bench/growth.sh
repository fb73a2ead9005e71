#!/bin/sh
# growth.sh - cost as work grows, and memory under sustained ingest
# (issue 7): one `fedtrace serve` on a fresh LMDB store, fed without pause
# by ft_loadgen, watched from outside while the store grows.
#
#   sh bench/growth.sh BUILD_DIR
#
# It starts the daemon (OTLP and UI listeners on free loopback ports, no
# disk budget, so nothing is evicted), runs `ft_loadgen --seconds
# GROWTH_SECONDS` against it in the background and meanwhile polls, a few
# times a second, the spans stored (fedtrace_spans_accepted_total from
# GET /metrics) and the daemon's memory (/proc/PID/status); every
# GROWTH_SAMPLE seconds it also takes the store's size on disk and the
# daemon's CPU time.  The first time the spans stored reach a checkpoint it
# times the dashboard's two queries against the running daemon, ingest
# still going: GET /api/traces?limit=100 and GET /api/traces/{id}, with
# curl over one keep-alive connection.  At the end it stops the daemon with
# SIGTERM (it must exit with status 0) and prints one markdown section on
# stdout: the checkpoints, memory against the 64 MiB target, bytes stored
# per span and the sampled series.  Progress goes to stderr.  Any error
# (a daemon that does not start or stop, a response other than 200, a
# failing ft_loadgen) ends it with a message and a non-zero status.
#
# A run takes GROWTH_SECONDS and a few seconds more.  The store lives in a
# temporary directory under $TMPDIR (or /tmp), removed at the end; it grows
# by about 0.75 KB per span, so the default 10 minutes can take 10-20 GB.
#
# Environment (defaults in brackets):
#   GROWTH_SECONDS      length of the sustained ingest [600]
#   GROWTH_BATCH        spans per request [512]
#   GROWTH_CONNECTIONS  ft_loadgen's keep-alive connections [4]
#   GROWTH_SAMPLE       seconds between two rows of the sampled series [10]
#   GROWTH_CHECKPOINTS  spans stored at which the queries are timed
#                       ["10000 100000 1000000 10000000"]
#   GROWTH_QUERIES      timed requests per query and checkpoint [200]
#   GROWTH_MAPSIZE      the LMDB map size, in MiB [64 per second of
#                       ingest, at least 4096]
#   BENCH_NO_PIN        1: do not pin with taskset
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh bench/growth.sh BUILD_DIR" >&2
    exit 2
fi

die() {
    echo "growth: $*" >&2
    exit 1
}

say() {
    echo "growth: $*" >&2
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
[ -d "$1" ] || die "$1: no such build directory"
build=$(cd "$1" && pwd)
fedtrace=$build/fedtrace
loadgen=$build/bench/ft_loadgen

seconds=${GROWTH_SECONDS:-600}
batch=${GROWTH_BATCH:-512}
conns=${GROWTH_CONNECTIONS:-4}
sample=${GROWTH_SAMPLE:-10}
checkpoints=${GROWTH_CHECKPOINTS-10000 100000 1000000 10000000}
queries=${GROWTH_QUERIES:-200}
mapsize=${GROWTH_MAPSIZE:-}

for v in "seconds=$seconds" "batch=$batch" "connections=$conns" "sample=$sample" \
    "queries=$queries" ${mapsize:+"mapsize=$mapsize"}; do
    case ${v#*=} in
    '' | *[!0-9]* | 0) die "GROWTH_$(echo "${v%%=*}" | tr "[:lower:]" "[:upper:]"): '${v#*=}' is not a positive integer" ;;
    esac
done
for c in $checkpoints; do
    case $c in
    '' | *[!0-9]* | 0) die "GROWTH_CHECKPOINTS: '$c' is not a positive integer" ;;
    esac
done
checkpoints=$(for c in $checkpoints; do echo "$c"; done | sort -n | uniq | tr '\n' ' ')
if [ -z "$mapsize" ]; then
    mapsize=$((seconds * 64))
    [ "$mapsize" -ge 4096 ] || mapsize=4096
fi

[ -x "$fedtrace" ] || die "$fedtrace is missing (make build)"
[ -x "$loadgen" ] || die "$loadgen is missing (make build)"
command -v curl >/dev/null 2>&1 || die "curl is needed (to read /metrics and time the queries)"
[ -r /proc/self/status ] || die "/proc is needed (the daemon's memory)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedtrace-growth.XXXXXX")
store=$tmp/store
daemon=
lg=
cleanup() {
    if [ -n "$lg" ]; then
        kill -TERM "$lg" 2>/dev/null || true
        wait "$lg" 2>/dev/null || true
    fi
    if [ -n "$daemon" ]; then
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- pinning: the daemon on the first CPU we may use; this script, curl and
# ft_loadgen on the second -------------------------------------------------------

pin_d=
pin_l=
pinning="none (BENCH_NO_PIN=1 or no taskset)"
pick_cpus "${BENCH_NO_PIN:-0}"
if [ -n "$cpu_first" ]; then
    pin_d="taskset -c $cpu_first"
    pin_l="taskset -c $cpu_second"
    # this shell too, so that the polling stays off the daemon's CPU
    taskset -pc "$cpu_second" $$ >/dev/null 2>&1 || true
    pinning="fedtrace serve on CPU $cpu_first; ft_loadgen, curl and this script on CPU $cpu_second (taskset)"
elif [ "${BENCH_NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null 2>&1; then
    pinning="none (only one CPU to run on)"
fi

# ---- small helpers ---------------------------------------------------------------

# uptime_s: seconds since boot, 10 ms resolution
uptime_s() {
    awk '{ print $1 }' /proc/uptime
}

# machine_ticks: "all busy" CPU ticks of the whole machine (/proc/stat)
machine_ticks() {
    awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# daemon_ticks: the daemon's CPU time (utime + stime, ticks)
daemon_ticks() {
    sed 's/^.*) //' "/proc/$daemon/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# fmt_int N: 1234567 -> 1,234,567
fmt_int() {
    awk -v n="$1" 'BEGIN {
        s = sprintf("%.0f", n); o = ""
        while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
        print s o
    }'
}

hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---- the daemon --------------------------------------------------------------------

surl="lmdb:$store?mapsize=${mapsize}MiB"
avail_kb=$(df -Pk "$tmp" 2>/dev/null | awk 'NR == 2 { print $4 }')
if [ -n "$avail_kb" ] && [ "$avail_kb" -lt $((mapsize * 1024)) ]; then
    say "only $((avail_kb / 1024)) MiB free where the store goes (${TMPDIR:-/tmp}); the LMDB map may take up to $mapsize MiB"
fi

say "starting fedtrace serve on $surl (pinning: $pinning)"
$pin_d "$fedtrace" serve --store "$surl" --disk-budget 0 \
    --otlp-listen 127.0.0.1:0 --ui-listen 127.0.0.1:0 \
    >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon=$!
otlp=
ui=
i=0
while [ $i -lt 100 ]; do
    otlp=$(sed -n 's/^fedtrace: otlp listening on \(http:[^ ]*\).*$/\1/p' "$tmp/daemon.out" | head -n 1)
    ui=$(sed -n 's/^fedtrace: ui listening on \(http:[^ ]*\).*$/\1/p' "$tmp/daemon.out" | head -n 1)
    [ -n "$otlp" ] && [ -n "$ui" ] && break
    if ! kill -0 "$daemon" 2>/dev/null; then
        cat "$tmp/daemon.err" >&2
        daemon=
        die "fedtrace serve exited before listening"
    fi
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$otlp" ] || [ -z "$ui" ]; then
    cat "$tmp/daemon.err" >&2
    die "fedtrace serve did not print its OTLP and UI addresses within 10 s"
fi

# daemon_trouble: the end of the daemon's log, for a failure message
daemon_trouble() {
    echo "--- fedtrace serve stderr (last lines):" >&2
    tail -n 20 "$tmp/daemon.err" | sed "s|$tmp|TMP|g" >&2 || true
}

# ---- polling -----------------------------------------------------------------------

polls=$tmp/polls     # t spans activities store_bytes non200 anon_kb rss_kb file_kb hwm_kb
series=$tmp/series   # t spans activities anon_kb rss_kb file_kb du_kb utime stime
cps=$tmp/checkpoints # one line per checkpoint measured
: >"$polls"
: >"$series"
: >"$cps"

# poll: one reading of /metrics and /proc/PID/status into $polls and p_*
poll() {
    p_t=$(awk -v t0="$t0" '{ printf "%.2f", $1 - t0 }' /proc/uptime)
    if ! curl -s --max-time 10 "$ui/metrics" >"$tmp/metrics" 2>/dev/null; then
        kill -0 "$daemon" 2>/dev/null || { daemon_trouble; daemon=; die "fedtrace serve died during the run"; }
        daemon_trouble
        die "GET $ui/metrics failed (at $p_t s)"
    fi
    m=$(awk '
        $1 == "fedtrace_spans_accepted_total" { s = $2 }
        $1 == "fedtrace_activities_total" { a = $2 }
        $1 == "fedtrace_store_bytes" { b = $2 }
        $1 ~ /^fedtrace_otlp_requests_total\{signal="traces",status="/ && $1 !~ /status="200"/ { bad += $2 }
        END { printf "%.0f %.0f %.0f %.0f", s, a, b, bad }' "$tmp/metrics")
    mem=$(awk '
        $1 == "RssAnon:" { a = $2 } $1 == "VmRSS:" { r = $2 }
        $1 == "RssFile:" { f = $2 } $1 == "VmHWM:" { h = $2 }
        END { if (r == "") exit 1; print a + 0, r, f + 0, h + 0 }' "/proc/$daemon/status" 2>/dev/null) ||
        { daemon_trouble; daemon=; die "fedtrace serve died during the run"; }
    # shellcheck disable=SC2086 # words
    set -- $m $mem
    p_spans=$1 p_acts=$2 p_sbytes=$3 p_bad=$4 p_anon=$5 p_rss=$6 p_file=$7
    echo "$p_t $m $mem" >>"$polls"
    if [ "$p_bad" -gt 0 ]; then
        daemon_trouble
        die "fedtrace serve answered $p_bad OTLP trace request(s) with a status other than 200 (at $p_t s)"
    fi
}

# take_sample: a row of the series (after a poll): also the store's size
# and the daemon's user and system CPU time.  (Not /proc/PID/io's
# write_bytes: with large folios in the page cache it counts whole folios
# dirtied, several times what reaches the disk.)
take_sample() {
    s_du=$(du -sk "$store" 2>/dev/null | awk '{ print $1 }')
    s_cpu=$(sed 's/^.*) //' "/proc/$daemon/stat" 2>/dev/null | awk '{ print $12, $13 }')
    echo "$p_t $p_spans $p_acts $p_anon $p_rss $p_file ${s_du:-0} ${s_cpu:-0 0}" >>"$series"
    awk -v t="$p_t" -v s="$p_spans" -v a="$p_anon" -v d="${s_du:-0}" -v pt="$prev_t" -v ps="$prev_s" 'BEGIN {
        r = t > pt ? (s - ps) / (t - pt) : 0
        printf "growth: %4.0f s: %.0f spans stored, %.0f spans/s, RssAnon %.1f MiB, store %.0f MiB\n",
            t, s, r, a / 1024, d / 1024 }' >&2
    prev_t=$p_t
    prev_s=$p_spans
}

# rate_before T SPANS: spans/s over the GROWTH_SAMPLE seconds before T, or
# since the first poll that saw spans stored if that is later; "-" when the
# checkpoint was reached at that first poll
rate_before() {
    awk -v t="$1" -v s="$2" -v w="$sample" '
        $1 <= t - w { bt = $1; bs = $2 }
        $2 > 0 && ft == "" { ft = $1; fs = $2 }
        END {
            if (bt != "" && bs > 0) { ot = bt; os = bs } else { ot = ft; os = fs }
            if (ot == "" || t - ot < 0.2) print "-"; else printf "%.0f", (s - os) / (t - ot)
        }' "$polls"
}

# qtime NAME URLS: GET every URL of the file URLS (one a line) in turn with
# curl over one keep-alive connection; the first is not timed (it opens the
# connection).  Prints "p50 p99 max" in ms (nearest rank).  Every answer
# must be 200 and more than "[]".
qtime() {
    awk '{ printf "url = \"%s\"\noutput = \"/dev/null\"\n", $0 }' "$2" >"$tmp/q.cfg"
    if ! curl -s --max-time 60 -K "$tmp/q.cfg" \
        -w '%{http_code} %{time_total} %{size_download}\n' >"$tmp/q.out" 2>"$tmp/q.err"; then
        cat "$tmp/q.err" >&2
        daemon_trouble
        die "$1: curl failed"
    fi
    bad=$(sed 1d "$tmp/q.out" | awk '$1 != 200 || $3 <= 2 { n++; if (w == "") w = $0 } END { if (n) print n " (the first: " w ")" }')
    [ -z "$bad" ] || { daemon_trouble; die "$1: answers other than 200 with data: $bad"; }
    sed 1d "$tmp/q.out" | awk '{ printf "%.3f\n", $2 * 1000 }' | sort -n | awk '
        { v[NR] = $1 }
        END {
            i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
            i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
            printf "%.2f %.2f %.2f", v[i50], v[i99], v[NR]
        }'
}

# measure CHECKPOINT: the two queries, now
measure() {
    c_t=$p_t
    c_spans=$p_spans
    c_acts=$p_acts
    c_anon=$p_anon
    c_rate=$(rate_before "$c_t" "$c_spans")
    if [ "$1" = end ]; then
        say "$(fmt_int "$c_spans") spans stored, ingest stopped: timing the queries"
    else
        say "$(fmt_int "$c_spans") spans stored (checkpoint $(fmt_int "$1")) at $c_t s: timing the queries"
    fi
    # trace ids for the activity query: an untimed newest-1000 listing
    curl -s --max-time 60 "$ui/api/traces?limit=1000" >"$tmp/list.json" ||
        { daemon_trouble; die "GET /api/traces?limit=1000 failed"; }
    grep -o '"traceId":"[0-9a-f]*"' "$tmp/list.json" | cut -d '"' -f 4 >"$tmp/ids" || true
    nids=$(grep -c . "$tmp/ids" || true)
    [ "$nids" -gt 0 ] || die "GET /api/traces?limit=1000 listed no trace with $c_spans spans stored"
    awk -v n="$queries" -v u="$ui" 'BEGIN {
        for (i = 0; i <= n; i++) print u "/api/traces?limit=100" }' >"$tmp/urls-recent"
    awk -v n="$queries" -v u="$ui" '{ id[NR] = $0 } END {
        print u "/api/traces/" id[1]
        for (i = 0; i < n; i++) print u "/api/traces/" id[int(i * NR / n) + 1] }' "$tmp/ids" >"$tmp/urls-trace"
    q_recent=$(qtime "GET /api/traces?limit=100" "$tmp/urls-recent")
    q_trace=$(qtime "GET /api/traces/{id}" "$tmp/urls-trace")
    poll
    echo "$1 $c_t $c_spans $p_spans $c_acts $c_rate $q_recent $q_trace $c_anon $nids $p_t" >>"$cps"
    # shellcheck disable=SC2086
    set -- $q_recent $q_trace
    say "  /api/traces?limit=100 p50 $1 ms, p99 $2 ms; /api/traces/{id} p50 $4 ms, p99 $5 ms"
}

# ---- the run -------------------------------------------------------------------------

idle0=$(machine_ticks)
sleep 1
idle_busy=$(machine_ticks | awk -v b="$idle0" '{
    split(b, x, " "); t = $1 - x[1]; printf "%.0f", (t > 0 ? ($2 - x[2]) / t * 100 : 0) }')
[ "$idle_busy" -lt 10 ] || say "the machine is already $idle_busy% busy; other work will skew the figures"

say "ft_loadgen --batch $batch --connections $conns --seconds $seconds; checkpoints: $checkpoints"
m_before=$(machine_ticks)
t0=$(uptime_s)
$pin_l "$loadgen" --url "$otlp" --batch "$batch" --connections "$conns" \
    --seconds "$seconds" >"$tmp/lg.out" 2>"$tmp/lg.err" &
lg=$!

# lg_running: ft_loadgen has not exited (a zombie counts as exited)
lg_running() {
    st=$(sed 's/^.*) //' "/proc/$lg/stat" 2>/dev/null | cut -d ' ' -f 1)
    [ -n "$st" ] && [ "$st" != Z ]
}

pending=$checkpoints
prev_t=0
prev_s=0
next_sample=0
limit=$((seconds + 120))
while lg_running; do
    poll
    for c in $pending; do
        [ "$p_spans" -ge "$c" ] || break
        pending=${pending#"$c "}
        measure "$c"
    done
    if awk -v t="$p_t" -v n="$next_sample" 'BEGIN { exit !(t >= n) }'; then
        take_sample
        next_sample=$(awk -v t="$p_t" -v n="$next_sample" -v s="$sample" 'BEGIN {
            n += s; while (n <= t) n += s; print n }')
    fi
    if awk -v t="$p_t" -v l="$limit" 'BEGIN { exit !(t > l) }'; then
        daemon_trouble
        die "ft_loadgen has not finished $limit s after it started (--seconds $seconds)"
    fi
    sleep 0.25
done
lg_st=0
wait "$lg" || lg_st=$?
lg=
if [ "$lg_st" -ne 0 ]; then
    cat "$tmp/lg.err" "$tmp/lg.out" >&2
    daemon_trouble
    die "ft_loadgen failed (exit status $lg_st)"
fi
result=$(grep '^result ' "$tmp/lg.out" || true)
[ -n "$result" ] || die "ft_loadgen printed no result line"
sed -n 's/^ft_loadgen: /growth: /p' "$tmp/lg.out" >&2
lg_spans=$(field "$result" spans)
lg_rate=$(field "$result" spans_per_s)
lg_p50=$(field "$result" p50_ms)
lg_p99=$(field "$result" p99_ms)
lg_max=$(field "$result" max_ms)
lg_secs=$(field "$result" seconds)
lg_reconnects=$(field "$result" reconnects)
lg_bps=$(field "$result" bytes_per_span)

# the end of the ingest: a last poll (and sample, unless the last one is
# less than half an interval old: its rate would be that of the ingest
# stopping); the run's CPU accounting
poll
if awk -v t="$p_t" -v p="$prev_t" -v s="$sample" 'BEGIN { exit !(t - p >= s / 2) }'; then
    take_sample
fi
d_ticks=$(daemon_ticks)
m_after=$(machine_ticks)
# this shell's children (ft_loadgen, curl, awk, du, ...) and itself
own_ticks=$(times | awk -v hz="$hz" '{
    for (i = 1; i <= NF; i++) { v = $i; m = v; sub(/m.*/, "", m); s = v; sub(/^[0-9]*m/, "", s); sub(/s$/, "", s); t += m * 60 + s }
} END { printf "%.0f", t * hz }')
others=$(awk -v b="$m_before" -v a="$m_after" -v d="${d_ticks:-0}" -v o="$own_ticks" 'BEGIN {
    split(b, x, " "); split(a, y, " "); total = y[1] - x[1]
    if (total <= 0) { print "?"; exit }
    v = (y[2] - x[2] - d - o) / total * 100; printf "%.0f", (v < 0 ? 0 : v) }')
end_t=$p_t
end_spans=$p_spans
end_acts=$p_acts
end_sbytes=$p_sbytes
end_anon=$p_anon
end_file=$p_file
recv_bytes=$(awk '$1 == "fedtrace_otlp_received_bytes_total" { printf "%.0f", $2 }' "$tmp/metrics")
du_kb=$(du -sk "$store" | awk '{ print $1 }')
mdb_bytes=$(wc -c <"$store/data.mdb" | tr -d ' ')

[ "$end_spans" -ge "$lg_spans" ] ||
    die "the daemon counts $end_spans spans stored, ft_loadgen had $lg_spans answered 200"

# the same queries once more on the final store, ingest stopped: what the
# store's size costs them without the contention
measure end

# ---- stop the daemon ---------------------------------------------------------------

say "stopping fedtrace serve (SIGTERM)"
stop0=$(uptime_s)
kill -TERM "$daemon"
i=0
while kill -0 "$daemon" 2>/dev/null && [ $i -lt 300 ]; do
    st=$(sed 's/^.*) //' "/proc/$daemon/stat" 2>/dev/null | cut -d ' ' -f 1)
    [ "$st" != Z ] || break
    sleep 0.1
    i=$((i + 1))
done
if [ $i -ge 300 ]; then
    daemon_trouble
    die "fedtrace serve did not stop within 30 s of SIGTERM"
fi
d_st=0
wait "$daemon" || d_st=$?
daemon=
stop_s=$(awk -v a="$stop0" '{ printf "%.1f", $1 - a }' /proc/uptime)
if [ "$d_st" -ne 0 ]; then
    daemon_trouble
    die "fedtrace serve exited with status $d_st after SIGTERM"
fi
if ! "$fedtrace" traces --store "$surl" --limit 1 --json >"$tmp/check" 2>&1 ||
    ! grep -q traceId "$tmp/check"; then
    cat "$tmp/check" >&2
    die "no traces readable in the store after the daemon stopped"
fi
problems=$(grep -Eic 'error|warn|fail|refus|denied|full|abort|sanitizer|leak|overload|reject' "$tmp/daemon.err" || true)
first_problem=
if [ "$problems" -gt 0 ]; then
    first_problem=$(grep -Ei 'error|warn|fail|refus|denied|full|abort|sanitizer|leak|overload|reject' "$tmp/daemon.err" |
        head -n 1 | sed "s|$tmp|TMP|g" | cut -c 1-160 | tr -d '`|')
    say "fedtrace serve logged $problems line(s) that look like trouble, the first: $first_problem"
fi

# ---- the report ----------------------------------------------------------------------

rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] && [ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ]; then
    rev="$rev (with uncommitted changes)"
fi
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
fs=$(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 }')
settings=
for v in GROWTH_SECONDS GROWTH_BATCH GROWTH_CONNECTIONS GROWTH_SAMPLE GROWTH_CHECKPOINTS \
    GROWTH_QUERIES GROWTH_MAPSIZE BENCH_NO_PIN; do
    val=
    isset=
    eval "isset=\${$v+x}; val=\"\${$v-}\""
    [ -n "$isset" ] || continue
    case $val in
    *' '*) settings="$settings$v=\"$val\" " ;;
    *) settings="$settings$v=$val " ;;
    esac
done
mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}
max_anon=$(awk '$6 > m { m = $6; t = $1 } END { print m + 0, t + 0 }' "$polls")
max_rss=$(awk '$7 > m { m = $7; t = $1 } END { print m + 0, t + 0 }' "$polls")
# RssAnon at the poll nearest half-way through the ingest
half_anon=$(awk -v h="$(awk -v t="$end_t" 'BEGIN { print t / 2 }')" '
    { d = $1 - h; if (d < 0) d = -d; if (best == "" || d < best) { best = d; a = $6; t = $1 } }
    END { print a + 0, t + 0 }' "$polls")
target_kb=65536
# shellcheck disable=SC2086 # words
set -- $max_anon
max_anon_kb=$1
max_anon_t=$2
if [ "$max_anon_kb" -lt "$target_kb" ]; then verdict="met"; else verdict="**not met**"; fi
daemon_us=$(awk -v d="${d_ticks:-0}" -v hz="$hz" -v n="$end_spans" 'BEGIN { printf "%.1f", (n ? d / hz * 1e6 / n : 0) }')
daemon_s=$(awk -v d="${d_ticks:-0}" -v hz="$hz" 'BEGIN { printf "%.0f", d / hz }')

cat <<EOF
## Growth: cost as the store grows, memory under sustained ingest

\`bench/growth.sh\` ran one \`fedtrace serve\` on a fresh LMDB store
(\`sync=full\`, map $mapsize MiB, \`--disk-budget 0\`: nothing evicted;
default 72 h retention: nothing expired) and fed it without pause for
$seconds s with \`ft_loadgen --batch $batch --connections $conns
--seconds $seconds\` (Fedify-shaped traces, about 5% of spans with an
activity event; each pass over its pool of request bodies gets new trace
ids and later timestamps, so every trace is new and newer than the ones
before).  Meanwhile it read, four times a second, the spans stored
(\`fedtrace_spans_accepted_total\` from \`GET /metrics\`) and the daemon's
memory (\`/proc/PID/status\`), and every $sample s the store's size
(\`du\`) and the daemon's CPU time.  The first time the spans stored
reached a checkpoint, it timed the dashboard's two queries against the
running daemon, ingest still going: $queries × \`GET
/api/traces?limit=100\`, then $queries × \`GET /api/traces/{id}\` (the
activity records of one trace; ids from an untimed \`GET
/api/traces?limit=1000\` just before), with curl over one keep-alive
connection (\`%{time_total}\`, request to last byte; nearest-rank
percentiles); once more at the end, ingest stopped.  How to read it: the
ingest rate and the query latencies should stay flat from one checkpoint
to the next; RssAnon (heap and other anonymous memory; the LMDB map is
file-backed and counts in RssFile, as page cache) should stay under 64 MiB
and stop growing.  The queries share the daemon's CPU with ingest (the
last row shows them without it), and "spans stored when timed" shows how
far the store grew while they ran.  The daemon does not count traces; the
activity records (\`fedtrace_activities_total\`) stand in for them.

| checkpoint | spans stored when timed | activity records | s into the run | ingest spans/s before (≤ ${sample} s) | \`/api/traces?limit=100\` p50 / p99 ms | \`/api/traces/{id}\` p50 / p99 ms | RssAnon MiB |
|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
for c in $checkpoints; do
    line=$(awk -v c="$c" '$1 == c' "$cps")
    if [ -z "$line" ]; then
        printf '| %s | not reached (%s spans stored after %.0f s) | | | | | | |\n' \
            "$(fmt_int "$c")" "$(fmt_int "$end_spans")" "$end_t"
        continue
    fi
    # shellcheck disable=SC2086
    set -- $line
    rate=$6
    [ "$rate" = - ] && rate="— (reached at the first poll)" || rate=$(fmt_int "$rate")
    printf '| %s | %s → %s | %s | %.1f | %s | %s / %s | %s / %s | %s |\n' \
        "$(fmt_int "$1")" "$(fmt_int "$3")" "$(fmt_int "$4")" "$(fmt_int "$5")" "$2" "$rate" \
        "$7" "$8" "${10}" "${11}" "$(mib "${13}")"
done
line=$(awk '$1 == "end"' "$cps")
# shellcheck disable=SC2086
set -- $line
printf '| end, ingest stopped | %s | %s | %.1f | — | %s / %s | %s / %s | %s |\n' \
    "$(fmt_int "$3")" "$(fmt_int "$5")" "$2" "$7" "$8" "${10}" "${11}" "$(mib "${13}")"

# shellcheck disable=SC2086 # words
set -- $half_anon
cat <<EOF

Memory of the daemon (\`/proc/PID/status\`, read four times a second),
against issue 7's target of 64 MiB of heap and anonymous memory:

| measure | MiB | |
|---|--:|---|
| max RssAnon (heap and anonymous) | $(mib "$max_anon_kb") | at $(printf '%.0f' "$max_anon_t") s; target < 64 MiB: $verdict |
| RssAnon half-way ($(printf '%.0f' "$2") s) | $(mib "$1") | |
| RssAnon at the end of ingest | $(mib "$end_anon") | $(awk -v a="$1" -v b="$end_anon" 'BEGIN { d = (b - a) / 1024; printf "%+.1f MiB over the second half", d }') |
| max VmRSS | $(mib "${max_rss% *}") | RssAnon + RssFile (the LMDB pages the daemon touched) |
| VmHWM (peak VmRSS, the kernel's count) | $(mib "$(awk '$9 > m { m = $9 } END { print m + 0 }' "$polls")") | |
| RssFile at the end | $(mib "$end_file") | file-backed: the LMDB map, page cache |

What the store takes at the end ($(fmt_int "$end_spans") spans, $(fmt_int "$end_acts") activity records):

| measure | bytes | per span |
|---|--:|--:|
| the store directory on disk (\`du\`, blocks allocated) | $(fmt_int "$((du_kb * 1024))") | $(awk -v b="$du_kb" -v n="$end_spans" 'BEGIN { printf "%.0f", (n ? b * 1024 / n : 0) }') |
| \`data.mdb\`'s size | $(fmt_int "$mdb_bytes") | $(awk -v b="$mdb_bytes" -v n="$end_spans" 'BEGIN { printf "%.0f", (n ? b / n : 0) }') |
| LMDB pages in use (\`fedtrace_store_bytes\`) | $(fmt_int "$end_sbytes") | $(awk -v b="$end_sbytes" -v n="$end_spans" 'BEGIN { printf "%.0f", (n ? b / n : 0) }') |
| for scale: OTLP protobuf received (\`fedtrace_otlp_received_bytes_total\`) | $(fmt_int "$recv_bytes") | $(awk -v b="$recv_bytes" -v n="$end_spans" 'BEGIN { printf "%.0f", (n ? b / n : 0) }') |

The series, every $sample s, thinned to about a dozen rows; spans/s and
the daemon's CPU time per span (\`/proc/PID/stat\`) are over the time
since the row before, so a row that holds a checkpoint's queries counts
their CPU time too:

| s | spans stored | spans/s | daemon CPU µs/span (user + system) | RssAnon MiB | VmRSS MiB | store on disk MiB |
|--:|--:|--:|--:|--:|--:|--:|
EOF
awk -v hz="$hz" '
    function commas(n,   s, o) {
        s = sprintf("%.0f", n); o = ""
        while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
        return s o
    }
    { t[NR] = $1; s[NR] = $2; an[NR] = $4; rs[NR] = $5; du[NR] = $7; ut[NR] = $8; st[NR] = $9 }
    END {
        n = NR; rows = 12; last = 0
        for (k = 0; k < rows; k++) {
            i = (n <= rows) ? k + 1 : int(k * (n - 1) / (rows - 1) + 0.5) + 1
            if (i > n) break
            if (i == last) continue
            r = "—"; c = "—"
            if (last != 0 && t[i] > t[last]) {
                n_s = s[i] - s[last]
                r = commas(n_s / (t[i] - t[last]))
                if (n_s > 0)
                    c = sprintf("%.1f + %.1f", (ut[i] - ut[last]) / hz * 1e6 / n_s, (st[i] - st[last]) / hz * 1e6 / n_s)
            }
            printf "| %.0f | %s | %s | %s | %.1f | %.1f | %.0f |\n", t[i], commas(s[i]), r, c, an[i] / 1024, rs[i] / 1024, du[i] / 1024
            last = i
        }
    }' "$series"

if [ "$problems" -gt 0 ]; then
    log="$problems line(s) that look like trouble, the first: \`$first_problem\`"
else
    log="nothing that looks like trouble"
fi
cat <<EOF

Checks: ft_loadgen got \`200\` for every request ($(fmt_int "$lg_spans") spans
in $lg_secs s, $(fmt_int "$lg_rate") spans/s overall; request latency p50
$lg_p50 ms, p99 $lg_p99 ms, max $lg_max ms; $lg_reconnects reconnects;
$lg_bps bytes per span in the requests); the daemon counted
$(fmt_int "$end_spans") spans stored and no OTLP answer other than \`200\`;
it used $daemon_s s of CPU ($daemon_us µs per span, queries included),
stopped on SIGTERM with status 0 in $stop_s s, and its log holds $log;
\`fedtrace traces\` read the store afterwards.  Machine: ${cpu:-unknown CPU},
$cores cores, the store on ${fs:-an unknown file system}; pinning:
$pinning; the machine was ${idle_busy}% busy in the second before the run,
and other processes took ${others}% of its CPU time during the run (above
about 15%, the figures are skewed).  fedtrace revision
$rev.  Command: \`${settings}sh bench/growth.sh $(basename "$build")\`.
EOF
say "done"
