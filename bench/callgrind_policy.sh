#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Instructions per policy event of the open-storm export path, counted by callgrind (repeatable
# on a loaded machine, unlike time): vigil-pipeline-bench replays exec-storm.records with and
# without VIGIL_BENCH_POLICY_OPENS=10 (30,010 raw policy records, hence policy events, per pass),
# 1 and 3 passes each; the difference of 3 and 1 passes leaves out start-up and the warm-up pass.
# usage: bench/callgrind_policy.sh [BENCH_BINARY]   (default .build/release/vigil-pipeline-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:-.build/release/vigil-pipeline-bench}
fixture=bench/fixtures/exec-storm.records
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Valgrind (3.19) gives up on this toolchain's DWARF 5 ("Possibly corrupted debuginfo file"):
# count a copy without debug info (the symbol table stays, so callgrind_annotate names functions).
strip --strip-debug -o "$out/bench" "$bench"
bench=$out/bench
ir() {
    VIGIL_BENCH_POLICY_OPENS=$1 valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" \
        "$bench" "$fixture" "$2" > /dev/null 2> "$out/vg.$1.$2"
    grep -oP 'Collected : \K[0-9]+' "$out/vg.$1.$2"
}
a1=$(ir 0 1); a3=$(ir 0 3); b1=$(ir 10 1); b3=$(ir 10 3)
python3 -c "
a = ($a3 - $a1) / 2; b = ($b3 - $b1) / 2
print(f'instructions per record, exec-storm replay: {a / 9003:,.0f}')
print(f'instructions per policy event: {(b - a) / 30010:,.0f}')"
