#!/bin/sh
# Installs the Debian packages that building and testing fedtrace need,
# only those missing; prints nothing when everything is there.
set -eu

PACKAGES="build-essential cmake pkg-config clang libclang-rt-14-dev \
liblmdb-dev libjansson-dev libcmocka-dev zlib1g-dev libzstd-dev \
libmicrohttpd-dev libhiredis-dev libpq-dev libcurl4-openssl-dev redis-server redis-tools \
postgresql"

# `scripts/deps.sh bench` adds what only `make bench` needs: protobuf-c,
# for the decoder comparison (bench/decode_compare.c); `scripts/deps.sh
# test` adds Chromium, which the dashboard's browser tests drive, and the
# openssl tool that makes a certificate for the HTTPS test
case "${1:-}" in
bench) PACKAGES="$PACKAGES protobuf-c-compiler libprotobuf-c-dev" ;;
test) PACKAGES="$PACKAGES chromium openssl" ;;
esac

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# node and npm install the end-to-end tests' node packages (Fedify, the
# OpenTelemetry SDK, node 22 itself); any nodejs that brings npm will do
if ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
