#!/usr/bin/env bash
# The growth-rounds step's sensitivity, measured: false alarms over healthy
# runs, and which buffer growth per outfits call it catches.
#
#   scripts/growth-bench.sh [HEALTHY_RUNS] [BYTES...]
#
# Runs `release-gate --suite ci --only growth-rounds` HEALTHY_RUNS times
# (default 20) against the healthy server, then 3 times for each size in
# BYTES (default: 1 2 3) against the defect_growing_buffer example, which
# appends that many bytes per answered /v1/outfits call to a Vec nobody
# clears. Prints one line per run and a summary. PROFILE=release measures
# release builds (default: debug, as CI runs the gate).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
shift || true
sizes=("${@:-1 2 3}")
read -r -a sizes <<<"${sizes[*]}"
profile="${PROFILE:-debug}"
flag=()
[ "$profile" = release ] && flag=(--release)

scripts/setup.sh
cargo build "${flag[@]}" --locked --workspace --bins --examples
out="$(mktemp -d)"
# a copy, so a rebuild during the hour this takes does not change what is measured
bin="$out/bin"
mkdir -p "$bin/examples"
cp "target/$profile/outfit-server" "target/$profile/loadbot" "target/$profile/release-gate" "$bin/"
cp "target/$profile/examples/defect_growing_buffer" "$bin/examples/"

# one gate run; prints "<verdict> <largest or caught site growth>"
judge() {
    local dir="$out/$1"
    shift
    "$bin/release-gate" --suite ci --only growth-rounds --loadbot-bin "$bin/loadbot" \
        --scenarios-dir scenarios \
        --report-dir "$dir" --keep-dir "$dir/kept" "$@" >/dev/null 2>&1 || true
    python3 - "$dir/gate.json" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
check = next(c for c in report["checks"] if c["name"] == "memory retained across rounds")
detail = check["detail"]
leaks = re.findall(r"LEAK at (.+?): kept ([\d.]+ \S+)", detail)
largest = re.search(r"largest: ([\d.]+ \S+) at ([^)]+)", detail)
if leaks:
    figure = "; ".join(f"{grew} at {site}" for site, grew in leaks)
elif largest:
    figure = f"largest site growth {largest.group(1)} at {largest.group(2)}"
else:
    figure = detail[:160]
print(check["status"], figure)
PY
}

alarms=0
for i in $(seq 1 "$runs"); do
    line="$(judge "healthy-$i" --candidate "$bin/outfit-server serve")"
    echo "healthy run $i: $line"
    case "$line" in failed*) alarms=$((alarms + 1)) ;; esac
done
echo "false alarms: $alarms of $runs healthy runs"

for bytes in "${sizes[@]}"; do
    caught=0
    for i in 1 2 3; do
        line="$(judge "leak-$bytes-$i" --candidate "$bin/examples/defect_growing_buffer serve" \
            --candidate-env "DEFECT_BYTES=$bytes")"
        echo "$bytes B per outfits call, run $i: $line"
        case "$line" in failed*) caught=$((caught + 1)) ;; esac
    done
    echo "$bytes B per outfits call: caught in $caught of 3 runs"
done
echo "reports in $out"
