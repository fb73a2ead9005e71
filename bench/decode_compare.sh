#!/bin/sh
# decode_compare.sh - run bench/decode_compare on the Fedify fixtures and
# print the result as a markdown table.
#
#   bench/decode_compare.sh [BUILD_DIR] [decode_compare options...]
#
# BUILD_DIR defaults to $BUILD, else `build` (relative to the repository
# root).  Builds nothing: the binary exists when CMake found protoc-c and
# libprotobuf-c (Debian: protobuf-c-compiler, libprotobuf-c-dev); without it
# this prints a note and exits 0.  Options go to decode_compare as they are,
# e.g. `--seconds 0.5 --reps 3` for a quick look.  Progress goes to stderr.
# Exits non-zero when the decoders disagree or the run fails.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    build=$1
    shift
fi
case $build in
/*) ;;
*) build=$root/$build ;;
esac

bin=$build/bench/decode_compare
if [ ! -x "$bin" ]; then
    echo "decode_compare was not built in $build (it needs protoc-c and" \
         "libprotobuf-c: apt-get install protobuf-c-compiler libprotobuf-c-dev," \
         "then configure again); skipped."
    exit 0
fi

cd "$root"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" "$@" tests/data/fedify-2.3.6/*.pb >"$out"

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | head -n 1)
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | head -n 1)
ccver=
if [ -n "$cc" ]; then
    ccver=$("$cc" --version 2>/dev/null | head -n 1) || ccver=
fi

awk -F '\t' -v cpu="${cpu:-unknown CPU}" -v cores="$(nproc 2>/dev/null || echo '?')" \
    -v cc="${ccver:-${cc:-unknown compiler}}" -v btype="${btype:-unknown}" '
function kb(b) { return sprintf("%.1f KB", b / 1000) }
BEGIN { n = 0; base = 0 }
/^#/ { sub(/^# */, ""); input = $0; next }
$1 == "decoder" { next }
{
    name[n] = $1; sps[n] = $2; mbs[n] = $3; us[n] = $4; spread[n] = $5
    heap[n] = $6; heapmax[n] = $7; allocs[n] = $8
    if ($1 == "fedtrace") base = $2
    n++
}
END {
    printf "Fedify fixtures (tests/data/fedify-2.3.6/*.pb): %s.\n", input
    printf "Machine: %s cores, %s; %s, CMAKE_BUILD_TYPE=%s.\n\n", cores, cpu, cc, btype
    print "| decoder | spans/s | MB/s | µs/request | vs fedtrace | spread | heap/request (mean) | heap, largest request | allocations/request |"
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    for (i = 0; i < n; i++) {
        h = name[i] == "memcpy" ? "—" : kb(heap[i])
        hm = name[i] == "memcpy" ? "—" : kb(heapmax[i])
        a = allocs[i] == "-" ? "—" : allocs[i]
        if (name[i] == "fedtrace") a = "— (arena)"
        rel = base > 0 ? sprintf("%.2f×", sps[i] / base) : "?"
        printf "| %s | %.2f M | %d | %.1f | %s | %d%% | %s | %s | %s |\n",
            name[i], sps[i] / 1e6, mbs[i], us[i], rel, spread[i], h, hm, a
    }
}' "$out"
