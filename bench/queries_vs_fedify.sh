#!/bin/sh
# queries_vs_fedify.sh - the dashboard's two queries, fedtrace against
# Fedify, on the same data: the newest 100 traces (fedtrace's GET
# /api/traces?limit=100, Fedify's getRecentTraces({ limit: 100 })) and one
# trace's activity records (GET /api/traces/{traceId},
# getActivitiesByTraceId(traceId)), with N traces stored.
#
#   sh bench/queries_vs_fedify.sh BUILD_DIR
#
# One throwaway Redis (ft_store_server redis) with its persistence turned
# off, grown from one size to the next: ft_query_bench adds the traces
# from the size before up to N through fedtrace's exporter (so it holds
# the keys Fedify's FedifySpanExporter reads, and fedtrace's own), all on
# one synthetic clock, one trace a second, ending when the run starts.  At
# each size: `fedtrace serve` on that Redis (UI and API only, no sweeps);
# then bench/fedify/queries.mjs (node 22 and Fedify 2.3.6 from the Fedify
# end-to-end tests' install) checks that fedtrace's API and Fedify's
# exporter -- on @fedify/redis's RedisKvStore over the same Redis
# database, and up to QVF_EXTRA_MAX traces also on a second database
# holding only a copy of Fedify's keys and on a MemoryKvStore holding the
# same copy -- give the same answers, and times each query on each.
# Prints one markdown section on stdout; progress, and the time each step
# took, on stderr.  See bench/README.md.
#
# Environment (defaults in brackets):
#   QVF_TRACES     traces stored, in one growing Redis ["10000 100000
#                  1000000"]; all three took 8.5 minutes on 2 cores, 6 of
#                  them at 1M: 2.5 to add 900k traces (some 9 GB in
#                  Redis), then one Fedify newest-100 call on Redis (about
#                  2 minutes) and two activities calls (13 s each)
#   QVF_QUERIES    timed queries per query and target [200]
#   QVF_BUDGET     seconds of timing after which a query on a target stops
#                  early (Fedify's queries read the whole keyspace); a
#                  Fedify call longer than this is made once, its answer
#                  check timed as the sample [10]
#   QVF_EXTRA_MAX  Fedify on its own keys and on MemoryKvStore only up to
#                  this many traces [100000]: at 1M they would add some 5
#                  minutes (their 1M figures, by hand: bench/README.md)
#   QVF_OWN        0: skip Fedify on a Redis database holding only its own
#                  keys (a copy of the records and summaries) [1]
#   QVF_MEMORY     0: skip Fedify on MemoryKvStore [1]
#   QVF_CHECK      random traces whose records are compared before timing,
#                  besides the newest and the oldest (where a call takes
#                  longer than QVF_BUDGET, only as far as the check gets:
#                  at 1M on Redis, the newest and the oldest) [5]
#   QVF_FILL_JOBS  ft_query_bench's filling threads, one Redis connection
#                  each [2]
set -eu

if [ $# -ne 1 ]; then
    echo "usage: sh bench/queries_vs_fedify.sh BUILD_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
fedtrace=$build/fedtrace
query_bench=$build/bench/ft_query_bench
store_server=$build/bench/ft_store_server

sizes=${QVF_TRACES:-10000 100000 1000000}
queries=${QVF_QUERIES:-200}
budget=${QVF_BUDGET:-10}
memory=${QVF_MEMORY:-1}
own=${QVF_OWN:-1}
checks=${QVF_CHECK:-5}
extra_max=${QVF_EXTRA_MAX:-100000}
fill_jobs=${QVF_FILL_JOBS:-2}

die() {
    echo "queries_vs_fedify: $*" >&2
    exit 1
}
say() {
    echo "queries_vs_fedify: $*" >&2
}

[ -n "$sizes" ] || die "QVF_TRACES is empty"
for v in $sizes "$queries" "$budget" "$fill_jobs"; do
    case $v in
    '' | *[!0-9]* | 0) die "QVF_TRACES, QVF_QUERIES, QVF_BUDGET, QVF_FILL_JOBS: '$v' is not a positive integer" ;;
    esac
done
case $extra_max in '' | *[!0-9]*) die "QVF_EXTRA_MAX: '$extra_max' is not a number" ;; esac
# one Redis grows through the sizes: smallest first, each once
# shellcheck disable=SC2086 # sizes: words
sizes=$(printf '%s\n' $sizes | sort -n | uniq | tr '\n' ' ')
sizes=${sizes% }
case $memory in 0 | 1) ;; *) die "QVF_MEMORY: 0 or 1, not '$memory'" ;; esac
case $own in 0 | 1) ;; *) die "QVF_OWN: 0 or 1, not '$own'" ;; esac
own_db=1
[ "$own" = 1 ] || own_db=-1
case $checks in '' | *[!0-9]*) die "QVF_CHECK: '$checks' is not a number" ;; esac
for f in "$fedtrace" "$query_bench" "$store_server"; do
    [ -x "$f" ] || die "$f is missing (make build)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedtrace-qvf.XXXXXX") || die "mktemp failed"
ss_pid=
qvf_tag=
serve_pid=
child=

# run CMD...: CMD in the background, waited for, so that a signal to this
# shell is handled at once (a trap waits for a foreground command) and
# cleanup can stop CMD; returns CMD's status.  Redirections given to run
# apply to CMD.
run() {
    "$@" &
    child=$!
    st=0
    wait "$child" || st=$?
    child=
    return "$st"
}

stop_serve() {
    [ -n "$serve_pid" ] || return 0
    kill -TERM "$serve_pid" 2>/dev/null || true
    st=0
    wait "$serve_pid" || st=$?
    serve_pid=
    [ "$st" = 0 ] || say "fedtrace serve exited with status $st"
}

# the store server's start and stop (ft_store_server's stdin is a FIFO
# this shell holds open on fd 3: should this shell die, the server sees end
# of file and stops too)
. "$root/bench/lib.sh"

cleanup() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    stop_serve
    stop_store redis "$qvf_tag" || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- node 22 and Fedify 2.3.6: the Fedify end-to-end tests' install --------

say "node 22 and Fedify 2.3.6 (tests/e2e/fedify/install.sh)"
# shellcheck disable=SC2317 # say, die, skip: called by install.sh
if ! (
    say() { printf 'queries_vs_fedify: %s\n' "$*" >&2; }
    die() {
        say "FAILED: $*"
        exit 1
    }
    skip() {
        say "cannot install: $*"
        exit 77
    }
    staging=
    trap '[ -z "$staging" ] || rm -rf "$staging"' EXIT
    # shellcheck source=SCRIPTDIR/../tests/e2e/fedify/install.sh
    . "$root/tests/e2e/fedify/install.sh"
    fedify_e2e_install "$root/tests/e2e/fedify"
    # shellcheck disable=SC2154 # set by fedify_e2e_install
    printf '%s\n%s\n' "$fedify_e2e_node" "$fedify_e2e_deps" >"$tmp/install"
); then
    die "node 22 and Fedify could not be installed"
fi
node=$(sed -n 1p "$tmp/install")
deps=$(sed -n 2p "$tmp/install")
version_of() {
    sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' \
        "$deps/node_modules/$1/package.json" 2>/dev/null | head -n 1
}
# copies, not links: node resolves packages from a file's real location
mkdir "$tmp/node"
cp "$root/bench/fedify/queries.mjs" "$root/tests/e2e/fedify-kv/stores.mjs" "$tmp/node/"
ln -s "$deps/node_modules" "$tmp/node/node_modules"

# ---- the runs ---------------------------------------------------------------

# elapsed: seconds since the start of this script
t_start=$(date +%s)
elapsed() { echo $(($(date +%s) - t_start)); }
times=

say "starting Redis"
qvf_tag=qvf
if ! start_store redis "$qvf_tag"; then
    cat "$tmp/ss-$qvf_tag.err" >&2
    die "ft_store_server redis could not start a Redis server"
fi
url=$ss_url
run "$node" "$tmp/node/queries.mjs" --redis "$url" --setup >"$tmp/setup" 3>&- ||
    die "could not configure the Redis server"
# one synthetic clock for every size: trace k starts at epoch + k s, and
# the newest trace of the largest size is a second old when the run starts
largest=${sizes##* }
epoch_ms=$((($(date +%s) - largest) * 1000))
filled=0
for n in $sizes; do
    say "$n traces: adding traces $filled to $((n - 1)) with ft_query_bench ($fill_jobs threads) [+$(elapsed) s]"
    t0=$(date +%s)
    run "$query_bench" --store "$url" --traces "$n" --first "$filled" --epoch-ms "$epoch_ms" \
        --jobs "$fill_jobs" --fill-only >/dev/null 2>"$tmp/fill-$n" 3>&- || {
        cat "$tmp/fill-$n" >&2
        die "ft_query_bench could not fill $n traces"
    }
    t1=$(date +%s)
    # ft_query_bench's own figure ("filled N traces in T s"), else the clock's
    secs=$(sed -n 's/.*filled [0-9]* traces in \([0-9.]*\) s.*/\1/p' "$tmp/fill-$n" | head -n 1)
    echo "$((n - filled)) ${secs:-$((t1 - t0))}" >"$tmp/fill-secs-$n"
    say "$n traces: added $((n - filled)) in ${secs:-$((t1 - t0))} s"
    filled=$n

    : >"$tmp/serve-$n.log"
    "$fedtrace" serve --store "$url" --ui-listen 127.0.0.1:0 --otlp-listen off \
        --sweep-interval 0 >"$tmp/serve-$n.log" 2>&1 3>&- &
    serve_pid=$!
    api=
    i=0
    while [ $i -lt 300 ]; do
        api=$(sed -n 's|^fedtrace: ui listening on \(http://[^ ]*\).*|\1|p' "$tmp/serve-$n.log" | head -n 1)
        [ -n "$api" ] && break
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$api" ]; then
        cat "$tmp/serve-$n.log" >&2
        die "fedtrace serve did not start on $url"
    fi
    # its first maintenance round (a sweep, and reading every summary to
    # index what others wrote) runs once it listens: not while timing
    i=0
    while ! grep -q 'first maintenance round done' "$tmp/serve-$n.log"; do
        kill -0 "$serve_pid" 2>/dev/null || die "fedtrace serve exited on $url"
        [ $i -lt 6000 ] || die "fedtrace serve's first maintenance round took over 10 minutes"
        sleep 0.1
        i=$((i + 1))
    done
    t2=$(date +%s)

    # the extra Fedify targets (a copy of its keys in a second database, a
    # MemoryKvStore) only up to QVF_EXTRA_MAX traces
    n_memory=$memory
    n_own_db=$own_db
    heap=4096
    if [ "$n" -gt "$extra_max" ]; then
        n_memory=0
        n_own_db=-1
    elif [ "$memory" = 1 ]; then
        # room for a MemoryKvStore copy of every record
        heap=$((4096 + n / 100))
    fi
    say "$n traces: queries (fedtrace serve at $api) [+$(elapsed) s]"
    run "$node" --expose-gc --max-old-space-size="$heap" "$tmp/node/queries.mjs" \
        --redis "$url" --api "$api" --traces "$n" --queries "$queries" \
        --budget "$budget" --memory "$n_memory" --own-db "$n_own_db" --check "$checks" \
        >"$tmp/out-$n" 3>&- || die "queries.mjs failed with $n traces"
    sed 's/^/queries_vs_fedify:   /' "$tmp/out-$n" >&2
    stop_serve
    t3=$(date +%s)
    times="$times${times:+; }$n: fill $((t1 - t0)) s, serve $((t2 - t1)) s, queries $((t3 - t2)) s"
done
stop_store redis "$qvf_tag" || say "ft_store_server did not stop cleanly"
say "done in $(elapsed) s ($times)"

# ---- the report ---------------------------------------------------------------

# field KEY: the value of KEY= on stdin's line
field() {
    sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" | head -n 1
}
result() { # N TARGET QUERY
    grep "^result traces=$1 target=$2 query=$3 " "$tmp/out-$1" || true
}
ms() {
    awk -v v="$1" 'BEGIN {
        if (v < 10) printf "%.2f", v; else if (v < 100) printf "%.1f", v; else printf "%.0f", v }'
}
cell() { # N TARGET QUERY
    r=$(result "$1" "$2" "$3")
    if [ -z "$r" ]; then
        on=0
        case $2 in
        fedify-redis-own) on=$own ;;
        fedify-memory) on=$memory ;;
        esac
        if [ "$on" = 1 ] && [ "$1" -gt "$extra_max" ]; then
            printf '%s' "not run: time budget\\*"
        else
            printf '%s' "not measured"
        fi
        return
    fi
    cn=$(echo "$r" | field n)
    printf '%s / %s' "$(ms "$(echo "$r" | field p50_ms)")" "$(ms "$(echo "$r" | field p99_ms)")"
    if [ "$cn" = 1 ]; then
        printf ' (1 query)'
    elif [ "$cn" -lt "$queries" ]; then
        printf ' (%s queries)' "$cn"
    fi
    [ "$(echo "$r" | field sample)" != check ] || printf '†'
}
ratio() { # N TARGET QUERY: TARGET's p50 over fedtrace's
    a=$(result "$1" "$2" "$3" | field p50_ms)
    b=$(result "$1" fedtrace "$3" | field p50_ms)
    if [ -z "$a" ] || [ -z "$b" ]; then
        printf '–'
        return
    fi
    awk -v a="$a" -v b="$b" 'BEGIN {
        r = a / b; if (r < 10) printf "%.1f×", r; else printf "%.0f×", r }'
}

rows=
for n in $sizes; do
    for q in recent100 activities; do
        case $q in
        recent100) label="newest 100" ;;
        activities) label="one trace's activities" ;;
        esac
        rows="$rows
| $n | $label | $(cell "$n" fedtrace "$q") | $(cell "$n" fedify-redis "$q") | $(cell "$n" fedify-redis-own "$q") | $(cell "$n" fedify-memory "$q") | $(ratio "$n" fedify-redis "$q") · $(ratio "$n" fedify-redis-own "$q") · $(ratio "$n" fedify-memory "$q") |"
    done
done

# shellcheck disable=SC2086 # sizes: words
first=$(set -- $sizes && echo "$1")
redis_version=$(field redis_version <"$tmp/out-$first")
fills=
for n in $sizes; do
    keys=$(field dbsize <"$tmp/out-$n")
    read -r added secs <"$tmp/fill-secs-$n"
    if [ "$added" = "$n" ]; then
        fills="$fills${fills:+; }$n traces: $keys keys, filled in $secs s"
    else
        fills="$fills${fills:+; }$n traces: $keys keys, $added added in $secs s"
    fi
done
# the sizes at which the extra targets were not run, and the cells whose
# sample was the answer check's own calls
over_extra=
for n in $sizes; do
    if [ "$n" -gt "$extra_max" ] && { [ "$own" = 1 ] || [ "$memory" = 1 ]; }; then
        over_extra="$over_extra${over_extra:+, }$n"
    fi
done
check_cells=
for n in $sizes; do
    for t in fedify-redis fedify-redis-own fedify-memory; do
        for q in recent100 activities; do
            r=$(result "$n" "$t" "$q")
            [ -n "$r" ] || continue
            [ "$(echo "$r" | field sample)" = check ] || continue
            case $t in
            fedify-redis) tn="Fedify + Redis" ;;
            fedify-redis-own) tn="Fedify + Redis, own keys" ;;
            fedify-memory) tn="Fedify + Memory" ;;
            esac
            case $q in
            recent100) what="newest 100, 1 call" ;;
            activities) what="one trace's activities, $(echo "$r" | field n) calls" ;;
            esac
            check_cells="$check_cells${check_cells:+; }$tn at $n traces, $what"
        done
    done
done
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
node_v=$("$node" --version 2>/dev/null || echo unknown)
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
settings=
case $sizes in
*" "*) sizes_q="'$sizes'" ;;
*) sizes_q=$sizes ;;
esac
[ -z "${QVF_TRACES+x}" ] || settings="$settings QVF_TRACES=$sizes_q"
[ -z "${QVF_QUERIES+x}" ] || settings="$settings QVF_QUERIES=$queries"
[ -z "${QVF_BUDGET+x}" ] || settings="$settings QVF_BUDGET=$budget"
[ -z "${QVF_MEMORY+x}" ] || settings="$settings QVF_MEMORY=$memory"
[ -z "${QVF_OWN+x}" ] || settings="$settings QVF_OWN=$own"
[ -z "${QVF_CHECK+x}" ] || settings="$settings QVF_CHECK=$checks"
[ -z "${QVF_EXTRA_MAX+x}" ] || settings="$settings QVF_EXTRA_MAX=$extra_max"
[ -z "${QVF_FILL_JOBS+x}" ] || settings="$settings QVF_FILL_JOBS=$fill_jobs"
own_text="**Fedify + Redis, own keys**: the same on a second database of the
same server holding only a copy of the records and summaries (\`COPY\`), as
a Redis that Fedify alone filled would hold them: its \`SCAN\`s do not walk
fedtrace's keys too."
[ "$own" = 1 ] || own_text="Fedify + Redis with its own keys only was not measured (\`QVF_OWN=0\`)."
mem_text="**Fedify + Memory**: the same exporter on a \`MemoryKvStore\` holding
a copy of the records and summaries (read from Redis before that part):
Fedify without any store round trip."
[ "$memory" = 1 ] || mem_text="Fedify + Memory was not measured (\`QVF_MEMORY=0\`)."
check_note=
if [ -n "$check_cells" ]; then
    check_note="
† A call of the answer check took longer than the $budget s budget, so
nothing more was called and the cell's figures are the check's own calls,
each timed from the call to the answer: for the newest 100 that one call;
for one trace's activities the calls made until then, the newest and the
oldest trace at least (so the records of the $checks random traces were
compared there only as far as the check got). Here: $check_cells.
"
fi
extra_note=
if [ -n "$over_extra" ]; then
    extra_note="
\\* Not run at $over_extra traces (above \`QVF_EXTRA_MAX=$extra_max\`), to keep
\`make bench\` within its 30-minute budget: with a million traces, copying
Fedify's 2M keys and their calls would add some 5 minutes (by hand, one
newest-100 call took 130 s on a database holding only Fedify's keys and
16 s on \`MemoryKvStore\`). Their figures at 1M traces, measured by hand:
\"Queries vs Fedify: Fedify's own keys and MemoryKvStore at 1M traces\" in
[bench/README.md](../bench/README.md)."
fi
cat <<EOF
## Queries vs Fedify

The two queries a dashboard makes, answered by fedtrace and by Fedify's own
exporter from the same stored data: the newest 100 traces (fedtrace:
\`GET /api/traces?limit=100\`; Fedify: \`getRecentTraces({ limit: 100 })\`)
and the activity records of one trace (\`GET /api/traces/{traceId}\`;
\`getActivitiesByTraceId(traceId)\`), a random stored trace each time, the
same ids in the same order for everyone.
\`${settings# }${settings:+ }sh bench/queries_vs_fedify.sh build\` started
one throwaway Redis $redis_version (\`ft_store_server redis\`; persistence
off, so no fsync paces the fill and no rewrite forks during the reads) and
grew it through the sizes N: \`ft_query_bench --traces N --first M
--fill-only --jobs $fill_jobs\` added the traces from the size M before
(0 at first) through fedtrace's exporter, in $fill_jobs threads with a
connection each. Every trace is an inbound delivery: a server span and its
producer span with an \`activitypub.activity.received\` event, so one
activity record with 1–3 KB of activity JSON; one trace a second, on one
clock for all the sizes that ends when the run starts (so at the smaller
sizes the newest trace is older). So Redis holds Fedify's keys (a record
and a \`_summaries\` entry per trace) and fedtrace's own: the spans, its
summary, time and service index entries, and its key index ($fills).
**fedtrace**: \`fedtrace serve\` (revision $rev) on that Redis, API only,
sweeps off, restarted at each size, read over one keep-alive HTTP
connection with node's \`http\` client, timed until the body is read and
\`JSON.parse\`d. **Fedify + Redis**: \`FedifySpanExporter\` of
\`@fedify/fedify\` $(version_of @fedify/fedify) on \`@fedify/redis\`
$(version_of @fedify/redis)'s \`RedisKvStore\` (ioredis $(version_of ioredis))
over the same database, with the \`list()\` the exporter reads through from
\`tests/e2e/fedify-kv/stores.mjs\` (1.8.7 has none; it lists as later
releases do: \`SCAN MATCH\` over the database, then a \`GET\` per key found).
$own_text $mem_text All in one node $node_v process
(\`bench/fedify/queries.mjs\`), one query at a time, one target after the
other. Before a target was timed its answers were compared, and equal: the
same 100 traces in the same order with the same Fedify fields everywhere
(and the newest 100 of the summaries in Redis), and the same records for
the newest, the oldest and $checks random traces${check_cells:+ (in the cells marked †, as far as the check got)}. Each cell: p50 / p99 in
ms (nearest rank) of $queries timed queries after up to 3 untimed ones (the
answer check's calls among them), or of fewer when the timed ones had taken
$budget s (the cell then says how many). The ratios are Fedify's p50 over
fedtrace's. $cpus CPUs, nothing pinned, other work running alongside.

| traces stored | query | fedtrace p50 / p99 ms (API on Redis) | Fedify + Redis p50 / p99 ms | Fedify + Redis, own keys p50 / p99 ms | Fedify + Memory p50 / p99 ms | ratio, p50 (Fedify / fedtrace): Redis · own keys · Memory |
| --- | --- | --- | --- | --- | --- | --- |$rows
$check_note$extra_note
EOF
