#!/usr/bin/env bash
# Spam filter benchmark: envoi, bogofilter and spamoracle on the same split of
# the SpamAssassin public corpus, in the same run.
#
# Split (bench/spam/split.sh): in each corpus folder, files in name order,
# even index -> train, odd index -> test (948 spam + 2075 ham each side).
# Every tool trains on the train half and classifies the test half with its
# default settings; speed is the wall time of one process classifying the
# whole test set (file names on its command line or stdin), best of RUNS.
#
#   usage: bench/spam/run.sh   (env: ENVOI=build/bin/envoi RUNS=3 ABLATION=1 WRITE_DOCS=1 OUT=build/bench/spam)
# Needs: build/bin/envoi (make), bogofilter, spamoracle, npm (corpus), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENVOI=${ENVOI:-build/bin/envoi}
RUNS=${RUNS:-3}
OUT=${OUT:-build/bench/spam}
[ -x "$ENVOI" ] || { echo "run make first ($ENVOI missing)" >&2; exit 1; }
for t in bogofilter spamoracle python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done

mkdir -p "$OUT"
corpus=$(scripts/fetch-spam-corpus.sh)
bench/spam/split.sh "$corpus" "$OUT/split" >/dev/null
S=$(cd "$OUT/split" && pwd)
mapfile -t test_files < <(ls -d "$S"/test/spam/* "$S"/test/ham/*)
ls -d "$S"/train/spam/* > "$OUT/train-spam.list"
ls -d "$S"/train/ham/* > "$OUT/train-ham.list"
printf '%s\n' "${test_files[@]}" > "$OUT/test.list"
ntest=${#test_files[@]}

# best_of OUTFILE CMD...: runs CMD RUNS times (stdout to OUTFILE); prints
# "wall cpu" seconds of the run with the best wall time (cpu = user + sys,
# less sensitive to other jobs on the machine than wall time).
best_of() {
  local outfile=$1; shift
  local best="" cpu="" tf
  tf=$(mktemp)
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S" -o "$tf" "$@" > "$outfile"
    read -r w u s < <(tail -1 "$tf")
    if [ -z "$best" ] || awk -v w="$w" -v b="$best" 'BEGIN { exit !(w < b) }'; then
      best=$w; cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
    fi
  done
  rm -f "$tf"
  echo "$best $cpu"
}
truth='{ t = index($1, "/test/spam/") ? "spam" : "ham" }'

# --- envoi
"$ENVOI" spam train --spam "$S/train/spam" --ham "$S/train/ham" -o "$OUT/envoi.db" >&2
t_envoi=$(best_of "$OUT/envoi.out" "$ENVOI" spam classify --database "$OUT/envoi.db" "${test_files[@]}")
# classify prints 6 decimals, which ties many chi-square scores near 0 and 1;
# eval --scores has the same verdicts with full-precision scores (for the AUC).
"$ENVOI" spam eval --database "$OUT/envoi.db" --spam "$S/test/spam" --ham "$S/test/ham" --scores "$OUT/envoi.scores" >/dev/null
awk '{ print $1, $3, $4 }' "$OUT/envoi.scores" > "$OUT/envoi.res"
[ "$(awk '{ print $2 }' "$OUT/envoi.out" | sort | uniq -c)" = "$(awk '{ print $2 }' "$OUT/envoi.res" | sort | uniq -c)" ] ||
  { echo "envoi classify and eval disagree" >&2; exit 1; }

# --- bogofilter (defaults: spam_cutoff 0.99, ham_cutoff 0.45)
rm -rf "$OUT/bogo" && mkdir -p "$OUT/bogo"
bogofilter -d "$OUT/bogo" -s -b < "$OUT/train-spam.list"
bogofilter -d "$OUT/bogo" -n -b < "$OUT/train-ham.list"
# bogofilter exits 0/1/2 with the class of the last message: not an error
t_bogo=$(best_of "$OUT/bogo.out" bash -c 'bogofilter -d "$1/bogo" -T -b < "$1/test.list" || [ $? -lt 3 ]' - "$OUT")
awk "$truth"' { v = $2 == "S" ? "yes" : $2 == "H" ? "no" : "unknown"; print t, v, $3 }' "$OUT/bogo.out" > "$OUT/bogo.res"

# --- spamoracle (yes: score >= 0.8 and >= 5 words; no: <= 0.2 and >= 5 words)
rm -f "$OUT/spamoracle.db"
spamoracle -f "$OUT/spamoracle.db" add -spam "$S"/train/spam/* -good "$S"/train/ham/*
t_so=$(best_of "$OUT/spamoracle.out" spamoracle -f "$OUT/spamoracle.db" test "${test_files[@]}")
# spamoracle reads each file as an mbox, so a body line "From ..." after a blank
# line splits a message in two: keep the higher-scoring half per file.
awk '/^Score: / { sc = $2; n = $4 }
     /^File: / { f = $2; if (!(f in best) || sc > best[f]) { best[f] = sc; words[f] = n }; if (!(f in seen)) { seen[f] = 1; order[++k] = f } }
     END { for (i = 1; i <= k; i++) { f = order[i]; sc = best[f]; n = words[f]; t = index(f, "/test/spam/") ? "spam" : "ham";
           v = (n >= 5 && sc >= 0.8) ? "yes" : (n >= 5 && sc <= 0.2) ? "no" : "unknown"; print t, v, sc } }' \
  "$OUT/spamoracle.out" > "$OUT/spamoracle.res"

for r in envoi bogo spamoracle; do
  n=$(wc -l < "$OUT/$r.res"); [ "$n" -eq "$ntest" ] || { echo "$r classified $n of $ntest" >&2; exit 1; }
done
rate() { awk -v n="$ntest" -v t="${1%% *}" 'BEGIN { printf "%.1f", n / t }'; }
cpu() { echo "${1##* }"; }
r_envoi=$(rate "$t_envoi"); r_bogo=$(rate "$t_bogo"); r_so=$(rate "$t_so")

{
  echo "Test set: $ntest messages ($(grep -c '^spam' "$OUT/envoi.res") spam, $(grep -c '^ham' "$OUT/envoi.res") ham); $(nproc) cores; $(date -u +%Y-%m-%d)."
  echo
  echo "Each tool's own verdicts (envoi: chi-square, yes >= 0.99, no <= 0.45; bogofilter: its defaults, the same cutoffs; spamoracle: yes >= 0.8, no <= 0.2, 5 words):"
  echo
  echo "| tool | ham false positives | spam caught | unknown | AUC | msgs/s (wall) | speed vs bogofilter | CPU s | CPU vs bogofilter |"
  echo "|---|---|---|---|---|---|---|---|---|"
  bench/spam/metrics.py envoi "$OUT/envoi.res" --rate "$r_envoi" --base-rate "$r_bogo" --cpu "$(cpu "$t_envoi")" --base-cpu "$(cpu "$t_bogo")"
  bench/spam/metrics.py bogofilter "$OUT/bogo.res" --rate "$r_bogo" --base-rate "$r_bogo" --cpu "$(cpu "$t_bogo")" --base-cpu "$(cpu "$t_bogo")"
  bench/spam/metrics.py spamoracle "$OUT/spamoracle.res" --rate "$r_so" --base-rate "$r_bogo" --cpu "$(cpu "$t_so")" --base-cpu "$(cpu "$t_bogo")"
  echo
  echo "Binary decision at score 0.5 (no unknown verdicts), same scores:"
  echo
  echo "| tool | ham false positives | spam caught | unknown | AUC | msgs/s | speed vs bogofilter |"
  echo "|---|---|---|---|---|---|---|"
  bench/spam/metrics.py "envoi @0.5" "$OUT/envoi.res" --cutoff 0.5 --rate "$r_envoi" --base-rate "$r_bogo"
  bench/spam/metrics.py "bogofilter @0.5" "$OUT/bogo.res" --cutoff 0.5 --rate "$r_bogo" --base-rate "$r_bogo"
  bench/spam/metrics.py "spamoracle @0.5" "$OUT/spamoracle.res" --cutoff 0.5 --rate "$r_so" --base-rate "$r_bogo"
  echo
  echo "Ham false positives at equal spam caught (each tool's threshold set to catch exactly that many spam;"
  echo "the levels include what bogofilter catches with its defaults and at 0.5):"
  echo
  caught() { awk -v c="${2:-}" '$1 == "spam" && (c == "" ? $2 == "yes" : $3 >= c) { n++ } END { print n + 0 }' "$1"; }
  nspam=$(grep -c '^spam' "$OUT/envoi.res")
  bench/spam/matched.py envoi="$OUT/envoi.res" bogofilter="$OUT/bogo.res" spamoracle="$OUT/spamoracle.res" \
    --levels "$(caught "$OUT/bogo.res"),$(caught "$OUT/bogo.res" 0.5),$((nspam * 80 / 100)),$((nspam * 90 / 100)),$((nspam * 95 / 100)),$((nspam * 98 / 100)),$((nspam * 99 / 100))"
} | tee "$OUT/results.md"

# --- ablation: what each change to the reference algorithm does (docs/SPAM.md)
if [ "${ABLATION:-0}" = 1 ]; then
  echo
  echo "Ablation (envoi eval on the same split; verdicts at the stated cutoffs):"
  echo
  echo "| variant | ham false positives | spam caught | unknown | AUC | msgs/s | speed vs bogofilter |"
  echo "|---|---|---|---|---|---|---|"
  ablate() { # name tokens [score flags...]
    local name=$1 tok=$2; shift 2
    "$ENVOI" spam train --tokens "$tok" --spam "$S/train/spam" --ham "$S/train/ham" -o "$OUT/abl.db" >/dev/null
    local t
    t=$(best_of "$OUT/abl.out" "$ENVOI" spam classify --database "$OUT/abl.db" "$@" "${test_files[@]}")
    "$ENVOI" spam eval --database "$OUT/abl.db" "$@" --spam "$S/test/spam" --ham "$S/test/ham" --scores "$OUT/abl.scores" >/dev/null
    awk '{ print $1, $3, $4 }' "$OUT/abl.scores" > "$OUT/abl.res"
    bench/spam/metrics.py "$name" "$OUT/abl.res" --rate "$(rate "$t")" --base-rate "$r_bogo"
  }
  ablate "reference: Graham, 15 words, 0.8/0.2, body+subject" none --reference
  ablate "chi-square, body+subject" none
  ablate "chi-square + headers" headers
  ablate "chi-square + headers + bigrams (default)" headers,bigrams
  ablate "chi-square + all headers + bigrams" allheaders,bigrams
  ablate "default, 15 most significant tokens only" headers,bigrams --max-tokens 15
  ablate "default, Robinson s=1" headers,bigrams --robs 1
fi | tee -a "$OUT/results.md"

# WRITE_DOCS=1: put these figures into docs/BENCHMARKS.md, section "Spam filter"
if [ "${WRITE_DOCS:-0}" = 1 ]; then RUNS=$RUNS bench/spam/write_docs.py "$OUT/results.md"; fi
