#!/usr/bin/env bash
# The documented split: in every folder of the corpus, files sorted by name,
# even index (0, 2, 4...) -> train, odd index -> test. Makes
#   OUT/{train,test}/{spam,ham}/<folder>-<file>  (symlinks)
# spam = spam-1, spam-2; ham = easy-ham-1, easy-ham-2, hard-ham-1.
#   usage: bench/spam/split.sh CORPUS_DIR OUT_DIR
set -euo pipefail
corpus=$(cd "$1" && pwd); out=$2
rm -rf "$out"
mkdir -p "$out"/{train,test}/{spam,ham}
for f in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
  case $f in spam-*) cls=spam ;; *) cls=ham ;; esac
  i=0
  while IFS= read -r name; do
    if [ $((i % 2)) -eq 0 ]; then part=train; else part=test; fi
    ln -s "$corpus/$f/$name" "$out/$part/$cls/$f-$name"
    i=$((i + 1))
  done < <(ls "$corpus/$f" | LC_ALL=C sort)
done
for p in train test; do for c in spam ham; do echo "$p/$c $(ls "$out/$p/$c" | wc -l)"; done; done
