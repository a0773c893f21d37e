#!/usr/bin/env bash
# What one answer costs the server in CPU time, shed or served.
#
#   scripts/shed-cost.sh shed|serve [CONNECTIONS] [SECONDS] [CORES]
#
# Starts target/release/outfit-server on loopback with a fresh SQLite
# database, floods `GET /v1/garments?limit=20` with wrk over CONNECTIONS
# keep-alive connections (default 8) for SECONDS (default 8), and divides the
# CPU time the server used (/proc/PID/stat, user + system) by the answers wrk
# counted. `shed`: one execution slot and no queue, and one request holding
# that slot (a 60 s slow query on another route), so every flood request is
# shed at the door with the contract's 503. `serve`: the defaults, every
# request served. CORES (e.g. 0.25) runs the server in a cgroup with that CPU
# quota over a 10 ms period, joined before exec, as the release gate does.
# Installs wrk when it is missing (Debian). Build first:
# `cargo build --release -p outfit-server`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: scripts/shed-cost.sh shed|serve [CONNECTIONS] [SECONDS] [CORES]}
conns=${2:-8}
secs=${3:-8}
cores=${4:-}
server=target/release/outfit-server
[ -x "$server" ] || { echo "build it first: cargo build --release -p outfit-server" >&2; exit 2; }
command -v wrk > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null

work=$(mktemp -d)
group=""
cleanup() {
    if [ -n "${pid:-}" ]; then
        kill -KILL "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    fi
    if [ -n "${holder:-}" ]; then kill "$holder" 2> /dev/null || true; fi
    if [ -n "$group" ]; then rmdir "$group" 2> /dev/null || echo "warning: $group is left" >&2; fi
    rm -rf "$work"
}
trap cleanup EXIT

env=()
args=(serve --listen 127.0.0.1:0 --database-url "sqlite://$work/db.sqlite?mode=rwc" --seed-garments 2000)
case $mode in
    shed)
        env=(APP_OVERLOAD__MAX_INFLIGHT=1 APP_OVERLOAD__MAX_QUEUE=0 APP_OVERLOAD__REQUEST_DEADLINE_MS=600000)
        args+=(--chaos-fault 'slow-query:ms=60000,route=/v1/garments/{id}')
        ;;
    serve) ;;
    *) echo "mode is shed or serve, not $mode" >&2; exit 2 ;;
esac

launch=(env "${env[@]}" "$server" "${args[@]}")
if [ -n "$cores" ]; then
    quota=$(awk -v c="$cores" 'BEGIN { printf "%d", c * 10000 }')
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        group=/sys/fs/cgroup/shed-cost-$$
        mkdir "$group" && echo "$quota 10000" > "$group/cpu.max"
    else
        group=/sys/fs/cgroup/cpu/shed-cost-$$
        mkdir "$group" && echo 10000 > "$group/cpu.cfs_period_us" && echo "$quota" > "$group/cpu.cfs_quota_us"
    fi
    launch=(sh -c 'echo $$ > "$1" && shift && exec "$@"' sh "$group/cgroup.procs" "${launch[@]}")
fi
"${launch[@]}" > "$work/out" 2> "$work/log" &
pid=$!
url=""
for _ in $(seq 1 150); do
    url=$(sed -n 's/^listening on //p' "$work/out")
    [ -n "$url" ] && break
    sleep 0.2
done
[ -n "$url" ] || { echo "the server did not start; its log:" >&2; cat "$work/log" >&2; exit 1; }
if [ "$mode" = shed ]; then
    curl -s -m 90 "$url/v1/garments/1" > /dev/null &
    holder=$!
    sleep 0.5
fi

cpu() { awk '{ print $14 + $15, $14 }' "/proc/$pid/stat"; }
read -r t0 u0 < <(cpu)
out=$(wrk -t1 -c "$conns" -d "${secs}s" "$url/v1/garments?limit=20")
read -r t1 u1 < <(cpu)
answers=$(awk '/requests in/ { print $1 }' <<< "$out")
non2xx=$(awk '/Non-2xx/ { print $NF }' <<< "$out")
tck=$(getconf CLK_TCK)
awk -v m="$mode" -v c="$conns" -v q="${cores:-none}" -v n="$answers" -v s="${non2xx:-0}" \
    -v t="$((t1 - t0))" -v u="$((u1 - u0))" -v k="$tck" -v w="$(ls "/proc/$pid/task" | wc -l)" 'BEGIN {
    printf "%s: %d answers (%d not 2xx) over %d connections, quota %s cores, %d threads\n", m, n, s, c, q, w
    printf "server CPU per answer: %.1f us (%.0f%% in the kernel)\n", t * 1e6 / k / n, (t > 0) ? 100 * (t - u) / t : 0
}'
