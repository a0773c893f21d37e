#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts the databases, runs
# every test of the workspace (the SQLite, PostgreSQL and MySQL suites included).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/services.sh

export SPIKEPROOF_TEST_POSTGRES_URL="${SPIKEPROOF_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export SPIKEPROOF_TEST_MYSQL_URL="${SPIKEPROOF_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/mysql}"
cargo test --workspace --all-targets --locked "$@"
# doc tests are not part of --all-targets
cargo test --workspace --doc --locked
# the HTTP contract: schemathesis against a live server from its /openapi.json
scripts/schemathesis.sh
