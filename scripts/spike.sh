#!/usr/bin/env bash
# The main job: builds the outfit server and the bot fleet, then replays the
# App Store spike against the bundled server on a fresh embedded database.
# Arguments go to `loadbot spike` (default: --users 50000 --duration 5m, the
# 3h40m night compressed into five minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked -p outfit-server -p loadbot
if [ "$#" -eq 0 ]; then
    set -- --users 50000 --duration 5m
fi
exec target/release/loadbot spike "$@"
