#!/usr/bin/env bash
# The fuzz job: builds the cargo-fuzz targets in fuzz/ (nightly, AddressSanitizer,
# debug assertions on), then runs each target for SECONDS (default 60), one at a
# time, and prints executions and crashes per target. Exits non-zero on any crash.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Seeds come from fuzz/corpus/<target>/ (checked in, never written to); what
# libFuzzer finds goes to fuzz/corpus-run/<target>/ and crashing inputs to
# fuzz/artifacts/<target>/ (both gitignored). Reproduce a crash with
#   cargo +nightly fuzz run -a <target> fuzz/artifacts/<target>/<file>
# Not part of CI: a minute per target is too long for the CI machine.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ] || [ "$seconds" -gt 86400 ]; then
    echo "fuzz.sh: SECONDS must be a whole number from 1 to 86400, not '$seconds'" >&2
    exit 2
fi
shift || true

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

all_targets=$(cargo +nightly fuzz list)
if [ "$#" -gt 0 ]; then
    targets="$*"
    for t in $targets; do
        if ! grep -qx "$t" <<<"$all_targets"; then
            echo "fuzz.sh: no fuzz target '$t' (targets: $(echo $all_targets))" >&2
            exit 2
        fi
    done
else
    targets="$all_targets"
fi

# the dictionary of each target, when it has one
dict_of() {
    case "$1" in
        feed_xml) echo fuzz/dict/feed_xml.dict ;;
        feed_tsv | feed_csv) echo fuzz/dict/feed_delimited.dict ;;
        scenario_toml) echo fuzz/dict/scenario_toml.dict ;;
        *) echo "" ;;
    esac
}

build_start=$(date +%s)
cargo +nightly fuzz build -a
echo "built the fuzz targets in $(($(date +%s) - build_start)) s"
# run the binaries just built: `cargo fuzz run` would rebuild whenever the tree changes
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/$triple/release"

mkdir -p fuzz/artifacts fuzz/corpus-run
# leaks are crashes too, except the one the chaos hooks make on purpose
export LSAN_OPTIONS="suppressions=$(pwd)/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
summary=()
failed=0
total_execs=0
for t in $targets; do
    mkdir -p "fuzz/corpus-run/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t.log"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
        -artifact_prefix="fuzz/artifacts/$t/")
    dict=$(dict_of "$t")
    if [ -n "$dict" ]; then
        args+=(-dict="$dict")
    fi
    echo "== $t: ${seconds} s"
    status=0
    # bounded twice: libFuzzer's own clock, and a hard stop well past it
    timeout --kill-after=30 "$((seconds + 300))" \
        "$bin_dir/$t" "${args[@]}" "fuzz/corpus-run/$t" "fuzz/corpus/$t" \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    execs="${execs:-0}"
    after=$(find "fuzz/artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        # a failure that left no input behind (a build or harness error) still fails the job
        crashes=1
    fi
    if [ "$crashes" -gt 0 ]; then
        failed=1
        echo "   FAILED (exit $status); see $log and fuzz/artifacts/$t/"
        grep -m 5 -E 'panicked at|ERROR: |SUMMARY: |Test unit written' "$log" | sed 's/^/   /' || true
    fi
    total_execs=$((total_execs + execs))
    line=$(printf '%-16s %6s s %12s execs %9s execs/s %4s crashes' \
        "$t" "$seconds" "$execs" "$((execs / seconds))" "$crashes")
    echo "   $line"
    summary+=("$line")
done

echo
echo "fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ))"
printf '%s\n' "${summary[@]}"
echo "total: ${total_execs} executions"
if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: crashes found" >&2
    exit 1
fi
echo "fuzz.sh: no crashes"
