#!/usr/bin/env bash
# Builds the default spam database shipped in the image: envoi's tokenizer
# trained on the whole SpamAssassin public corpus (1,896 spam, 4,150 ham).
# Run at image build time (the binary is ~30 MB, so it is not committed);
# operators replace it with one trained on their own mail:
#   envoi spam train --spam ~/Maildir/.Junk --ham ~/Maildir -o spam.db
#
#   usage: data/spam/build-default-db.sh [OUT] [ENVOI]
#          (defaults build/spam/default.db, build/bin/envoi; corpus cache build/corpus)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/spam/default.db}
envoi=${2:-build/bin/envoi}
[ -x "$envoi" ] || { echo "build-default-db: $envoi missing (make first)" >&2; exit 1; }
corpus=$(scripts/fetch-spam-corpus.sh "${CORPUS_CACHE:-build/corpus}")
mkdir -p "$(dirname "$out")"
"$envoi" spam train \
  --spam "$corpus/spam-1" "$corpus/spam-2" \
  --ham "$corpus/easy-ham-1" "$corpus/easy-ham-2" "$corpus/hard-ham-1" \
  -o "$out"
