#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) on its corpus,
# adding what it finds to the corpus directory. Not part of `make test`.
set -eu
secs=${FUZZ_SECONDS:-60}
for f in "$@"; do
  name=${f##*/fuzz_}
  mkdir -p "fuzz/corpus/$name"
  "$f" -max_total_time="$secs" -max_len=65536 "fuzz/corpus/$name" 2>&1 | grep -E "^#|Done|ERROR" | tail -3
done
