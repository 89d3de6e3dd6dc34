#!/usr/bin/env bash
# Runs every cmocka unit test binary given; fails if any fails. Prints one
# closing line "N passed, N failed" counting binaries.
set -u
pass=0; fail=0; failed=()
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Known-bug checks fail instead of skipping: every one of them is fixed.
export ENVOI_STRICT=1
for t in "$@"; do
  if "$t" >"$t.log" 2>&1; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("$t"); tail -30 "$t.log"; fi
done
for t in "${failed[@]}"; do echo "FAILED: $t (log: $t.log)"; done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
