#!/usr/bin/env bash
# Replays each fuzz target's committed corpus (fuzz/corpus/<name>/) under ASan/UBSan.
set -u
pass=0; fail=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for r in "$@"; do
  name=${r##*/replay_}
  if [ ! -d "fuzz/corpus/$name" ]; then echo "fuzz: no corpus for $name (fuzz/corpus/$name)"; fail=$((fail+1)); continue; fi
  if out=$("$r" "fuzz/corpus/$name" 2>&1); then pass=$((pass+1)); echo "fuzz $name: $out"; else fail=$((fail+1)); echo "$out" | tail -30; echo "FAILED: fuzz replay $name"; fi
done
echo "fuzz-replay: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
