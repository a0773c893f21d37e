#!/usr/bin/env bash
# Contract test of the HTTP API: schemathesis (pinned, in a venv under target/)
# generates requests from the server's own /openapi.json and checks every
# answer: no 5xx, a documented status code, the documented content type, a
# body that fits the documented schema. Exits non-zero on any failure.
#
#   scripts/schemathesis.sh                 # builds the debug server first
#   OUTFIT_SERVER_BIN=target/release/outfit-server scripts/schemathesis.sh
#   SCHEMATHESIS_MAX_EXAMPLES=200 scripts/schemathesis.sh   # a longer run
#
# The server runs on 127.0.0.1 (port picked by the kernel) over a fresh SQLite
# database, with an admin token and the (inert) fault hooks on, so the document
# holds every route. Two passes: the user API with a user token, then the admin
# routes with the admin token, except the two POSTs (random fault specs and feed
# sources are not for a fuzzer; server/tests/api covers them). Reports (JUnit
# XML) go to target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
SEED="${SCHEMATHESIS_SEED:-20261130}"
# hard bound on the whole schemathesis run, in seconds
RUN_TIMEOUT_S="${SCHEMATHESIS_TIMEOUT_S:-240}"
VENV=target/schemathesis-venv
WORK=target/schemathesis

# --- schemathesis, pinned ---
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
    echo "schemathesis: installing $SCHEMATHESIS_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- the server ---
if [ -z "${OUTFIT_SERVER_BIN:-}" ]; then
    cargo build -p outfit-server --bin outfit-server --locked
    OUTFIT_SERVER_BIN=target/debug/outfit-server
fi
rm -rf "$WORK"
mkdir -p "$WORK"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# generous write limits: the run sends hundreds of writes with one token, and
# should reach the handlers rather than the (documented) 429
ADMIN_TOKEN="schemathesis-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
APP_ADMIN_TOKEN="$ADMIN_TOKEN" \
    APP_RATE_LIMIT__BURST=1000000 APP_RATE_LIMIT__WRITES_PER_MINUTE=1000000 \
    "$OUTFIT_SERVER_BIN" serve \
    --listen 127.0.0.1:0 \
    --chaos \
    --database-url "sqlite://$WORK/contract.db" \
    --seed-garments 300 \
    >"$WORK/server.stdout" 2>"$WORK/server.stderr" &
server_pid=$!

base=""
for _ in $(seq 1 600); do
    base="$(sed -n 's/^listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$WORK/server.stdout" | head -n 1)"
    [ -n "$base" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "schemathesis: the server exited before listening:" >&2
        tail -n 20 "$WORK/server.stderr" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "schemathesis: the server printed no 'listening on' line within 60 s" >&2
    exit 1
fi
echo "schemathesis: server at $base" >&2

# a user with a profile, so the user routes answer more than 401 and 409
token="$(BASE="$base" "$VENV/bin/python" - <<'EOF'
import json, os, urllib.request

base = os.environ["BASE"]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

token = call("POST", "/v1/users")["token"]
call("PUT", "/v1/users/me/profile", {
    "gender": "female",
    "sizes": {"top": "M", "bottom": "M", "shoes": "39"},
    "styles": ["casual", "minimal", "classic"],
    "favorite_colors": ["navy", "white"],
    "disliked_colors": ["orange"],
    "budget_cents": 60000,
    "currency": "EUR",
    "climate": "temperate",
}, token)
print(token)
EOF
)"

started=$(date +%s)
status=0
# schemathesis keeps a failure cache in its working directory: run it in $WORK
st="$PWD/$VENV/bin/schemathesis"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
# one worker: two threads have crashed schemathesis's own schema walker here
timeout --kill-after=10 "$RUN_TIMEOUT_S" env -C "$WORK" "$st" run "$base/openapi.json" \
    --exclude-tag admin \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 10 \
    --header "Authorization: Bearer $token" \
    --report junit --report-junit-path junit-user.xml --report-dir . \
    --generation-database none \
    --no-color || status=$?
if [ "$status" -eq 0 ]; then
    timeout --kill-after=10 "$RUN_TIMEOUT_S" env -C "$WORK" "$st" run "$base/openapi.json" \
        --include-tag admin --exclude-method POST \
        --checks "$CHECKS" \
        --phases examples,coverage,fuzzing \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 10 \
        --header "Authorization: Bearer $ADMIN_TOKEN" \
        --report junit --report-junit-path junit-admin.xml --report-dir . \
        --generation-database none \
        --no-color || status=$?
fi
echo "schemathesis: finished in $(($(date +%s) - started)) s with exit code $status" >&2
if [ "$status" -ne 0 ]; then
    echo "schemathesis: server log tail:" >&2
    tail -n 20 "$WORK/server.stderr" >&2
    exit "$status"
fi

# negative control: the same check against a copy of the document that lies
# about one schema (a garment's id as a string) must fail, or it proves nothing
"$VENV/bin/python" - "$base/openapi.json" "$WORK/lying-openapi.json" <<'EOF'
import json, sys, urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    doc = json.load(r)
doc["components"]["schemas"]["Garment"]["properties"]["id"] = {"type": "string"}
with open(sys.argv[2], "w") as f:
    json.dump(doc, f)
EOF
control=0
timeout --kill-after=10 60 env -C "$WORK" "$st" run lying-openapi.json \
    --url "$base" \
    --checks response_schema_conformance \
    --include-path '/v1/garments/{id}' \
    --phases examples,fuzzing --mode positive \
    --max-examples 10 --seed "$SEED" \
    --generation-database none \
    --no-color >"$WORK/negative-control.log" 2>&1 || control=$?
if [ "$control" -eq 0 ] || ! grep -q "Response violates schema" "$WORK/negative-control.log"; then
    echo "schemathesis: the negative control passed (exit $control): the checks do not bite" >&2
    tail -n 30 "$WORK/negative-control.log" >&2
    exit 1
fi
echo "schemathesis: the negative control failed, as it must (a lying schema is caught)" >&2
