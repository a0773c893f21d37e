#!/usr/bin/env bash
# The main job (until loadbot lands): builds and serves the outfit server on the
# embedded SQLite database, seeding a synthetic catalog on first start.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo run --release --locked -p outfit-server -- serve "$@"
