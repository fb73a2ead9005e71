# lib.sh - what bench/run.sh, limits.sh, growth.sh and queries_vs_fedify.sh
# share; sourced (POSIX sh).  The sourcing script defines die() first and,
# for the daemon and store functions, $tmp, $fedtrace, $store_server and
# $pin_d (and $pin_s, the store server's pinning, may be empty).

# pick_cpus NO_PIN: sets cpu_first and cpu_second to two CPUs this process
# may run on (empty when NO_PIN is 1, taskset is missing or there is only
# one), so that a daemon and its load generator can be pinned apart.
pick_cpus() {
    cpu_first=
    cpu_second=
    [ "${1:-0}" != 1 ] && command -v taskset >/dev/null 2>&1 || return 0
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
        cpu_first=$first
        cpu_second=$second
    fi
}

# field LINE KEY: the value of KEY=... in a line of key=value pairs
field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# start_daemon NAME URL: fedtrace serve on store URL, OTLP on a free port,
# no UI; sets $daemon and $url (its OTLP address).  Logs in $tmp/daemon-NAME.*
start_daemon() {
    log=$tmp/daemon-$1
    : >"$log.out"
    $pin_d "$fedtrace" serve --store "$2" \
        --otlp-listen 127.0.0.1:0 --ui-listen off >"$log.out" 2>"$log.err" 3>&- &
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
            die "fedtrace serve exited before listening ($2)"
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

# start_store STORE [TAG]: ft_store_server STORE in the background, its
# stdin a FIFO that this shell holds open on fd 3 (so the server also stops
# if this shell dies); sets $ss_pid and $ss_url.  Returns 1 when the server
# could not be started (the reason is in $tmp/ss-TAG.err; TAG defaults to
# STORE).
start_store() {
    tag=${2:-$1}
    fifo=$tmp/ss-$tag.in
    mkfifo "$fifo" || die "mkfifo $fifo failed"
    ${pin_s:-} "$store_server" "$1" <"$fifo" >"$tmp/ss-$tag.out" 2>"$tmp/ss-$tag.err" &
    ss_pid=$!
    exec 3>"$fifo"
    ss_url=
    i=0
    while [ $i -lt 1200 ]; do
        ss_url=$(sed -n 's/^url: //p' "$tmp/ss-$tag.out" | head -n 1)
        [ -n "$ss_url" ] && return 0
        if ! kill -0 "$ss_pid" 2>/dev/null; then
            exec 3>&-
            wait "$ss_pid" 2>/dev/null || true
            ss_pid=
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "ft_store_server $1 printed no URL within 120 s" >>"$tmp/ss-$tag.err"
    stop_store "$1" "$tag" || true
    return 1
}

# stop_store STORE [TAG]: end of stdin and SIGTERM; ft_store_server stops the
# server and removes its directory.  Returns 1 if it did not exit cleanly.
stop_store() {
    tag=${2:-$1}
    [ -n "$ss_pid" ] || return 0
    exec 3>&-
    kill -TERM "$ss_pid" 2>/dev/null || true
    i=0
    while kill -0 "$ss_pid" 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$ss_pid" 2>/dev/null; then
        kill -KILL "$ss_pid" 2>/dev/null || true
        wait "$ss_pid" 2>/dev/null || true
        ss_pid=
        echo "bench: ft_store_server $1 did not stop within 30 s" >&2
        return 1
    fi
    st=0
    wait "$ss_pid" || st=$?
    ss_pid=
    if [ "$st" -ne 0 ]; then
        cat "$tmp/ss-$tag.err" >&2
        echo "bench: ft_store_server $1 exited with status $st" >&2
        return 1
    fi
}
