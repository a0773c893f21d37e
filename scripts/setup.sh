#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks for building and testing
# Spikeproof. Idempotent: a second run installs nothing.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pg_isready >/dev/null 2>&1 || need+=(postgresql-client)
command -v mysqladmin >/dev/null 2>&1 || need+=(mariadb-client)
# goose pulls in reqwest with native TLS: OpenSSL's headers and pkg-config
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q 'ok installed' || need+=(libssl-dev)
# OpenCV image analysis (the `opencv` feature of outfit-server, on by default):
# the opencv crate binds the installed headers through libclang at build time
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q 'ok installed' || need+=(libclang-dev)
dpkg-query -W -f='${Status}' libopencv-dev 2>/dev/null | grep -q 'ok installed' || need+=(libopencv-dev)
# the spike report's browser test renders report.html in headless Chromium
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: please install: ${need[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; this project needs a Rust toolchain (1.94 or newer)" >&2
    exit 1
fi
