#!/bin/bash
# Runs every fuzz target for a bounded number of executions from its committed seed corpus: the smoke
# run CI does. A crash fails the script, with the input saved under fuzz/artifacts/TARGET/.
#
#   fuzz/smoke.sh            RUNS (200000) executions of each target, at most SECONDS_EACH (60) s each
#   RUNS=10000000 SECONDS_EACH=900 fuzz/smoke.sh frame    a long run of one target
#   SANITIZER=address fuzz/smoke.sh update                  under AddressSanitizer
#
# Needs cargo-fuzz (cargo install cargo-fuzz --locked). libFuzzer's sanitizer-coverage flags are
# unstable rustc options, so the build runs on the machine's stable toolchain with RUSTC_BOOTSTRAP=1;
# `-s none` (the default) leaves out AddressSanitizer, which slows a run several times; yrs has unsafe code,
# and one of its bugs corrupted memory (docs/SECURITY.md, `update` finding 5), so the `update` target also
# runs with SANITIZER=address.
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-200000}; SECONDS_EACH=${SECONDS_EACH:-60}; SANITIZER=${SANITIZER:-none}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
export RUSTC_BOOTSTRAP=1
# `cargo fuzz build` takes one target or none (all of them).
if [ ${#targets[@]} = 1 ]; then cargo fuzz build -s "$SANITIZER" "${targets[0]}"; else cargo fuzz build -s "$SANITIZER"; fi
for t in "${targets[@]}"; do
  # New inputs go to work/ (not committed); the seeds in corpus/ are only read.
  mkdir -p "work/$t"
  echo "== fuzz $t: $RUNS runs, at most $SECONDS_EACH s"
  log="work/$t.log"
  status=0
  cargo fuzz run -s "$SANITIZER" "$t" "work/$t" "corpus/$t" -- \
    -runs="$RUNS" -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1 || status=$?
  # libFuzzer's progress lines stay in the log; its totals and any failure are shown.
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==.*ERROR|SUMMARY)|panicked' "$log" || true
  [ "$status" = 0 ] || { tail -n 40 "$log" >&2; echo "fuzz target $t failed; see fuzz/artifacts/$t/" >&2; exit 1; }
done
