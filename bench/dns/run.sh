#!/usr/bin/env bash
# DNS benchmark: dnsperf against dns-primary and NSD serving the same zone,
# and against dns-resolver and unbound with a warm cache, in the same run,
# each server pinned to one core (taskset) with dnsperf on the other.
# Writes the "DNS" section of docs/BENCHMARKS.md.
#
#   bench/dns/run.sh [SECONDS per measurement, default 10]
#
# Everything listens on 127.0.0.1; the resolvers forward zt.test to our
# primary (their cache is warmed with the whole query set first, so the
# measurement is of cache answers).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
W=build/bench/dns
rm -rf "$W"; mkdir -p "$W"
make -j2 build/bin/dns-primary build/bin/dns-resolver >/dev/null
for t in dnsperf nsd unbound taskset; do
  command -v "$t" >/dev/null || { echo "bench/dns: $t missing (apt-get install dnsperf nsd unbound)"; exit 1; }
done

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# The zone and a query set: existing names, CNAMEs, wildcards, NXDOMAIN and
# NODATA over tests/proc/dns_data/zt.test. No referral: a resolver would
# follow it to the delegated servers' (non-loopback) addresses.
git init -q --bare -b main "$W/zones.git"
git clone -q "$W/zones.git" "$W/work" 2>/dev/null
cp tests/proc/dns_data/zt.test tests/proc/dns_data/zt.test._keys "$W/work/"
git -C "$W/work" add -A
git -C "$W/work" -c user.name=bench -c user.email=bench@zt.test commit -q -m zone
git -C "$W/work" push -q origin HEAD:main
cat >"$W/queries" <<'EOF'
zt.test SOA
zt.test MX
mail.zt.test A
mail.zt.test AAAA
www.zt.test A
alias.zt.test A
foo.wild.zt.test A
bar.wild.zt.test TXT
x.cw.zt.test A
nope.zt.test A
mail.zt.test TXT
b.c.zt.test A
_smtp._tcp.zt.test SRV
multi.zt.test A
ns1.zt.test A
EOF

P1=$(free_port); P2=$(free_port); P3=$(free_port); P4=$(free_port)
taskset -c 0 build/bin/dns-primary --listen "127.0.0.1:$P1" --remote "file://$PWD/$W/zones.git" \
  --poll 0 --log-level warn 2>"$W/primary.log" & PIDS+=($!)
mkdir -p "$W/nsd"
cp tests/proc/dns_data/zt.test "$W/nsd/"
cat >"$W/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1
    port: $P2
    zonesdir: "$PWD/$W/nsd"
    database: ""
    pidfile: "$PWD/$W/nsd/nsd.pid"
    xfrdfile: "$PWD/$W/nsd/xfrd.state"
    zonelistfile: "$PWD/$W/nsd/zone.list"
    username: ""
    chroot: ""
    server-count: 1
    minimal-responses: yes
    rrl-ratelimit: 0
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: "zt.test"
    zonefile: "zt.test"
EOF
taskset -c 0 nsd -d -c "$W/nsd/nsd.conf" 2>"$W/nsd.log" & PIDS+=($!)
taskset -c 0 build/bin/dns-resolver --listen "127.0.0.1:$P3" --forward "zt.test=127.0.0.1@$P1" \
  --log-level warn 2>"$W/resolver.log" & PIDS+=($!)
cat >"$W/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$P4
    port: $P4
    num-threads: 1
    username: ""
    chroot: ""
    directory: "$PWD/$W"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    domain-insecure: "zt.test"
    # unbound answers the RFC 6761 names (test. among them) itself by default
    local-zone: "test." nodefault
forward-zone:
    name: "zt.test"
    forward-addr: 127.0.0.1@$P1
EOF
taskset -c 0 unbound -d -c "$W/unbound.conf" 2>"$W/unbound.log" & PIDS+=($!)
sleep 2

run() { # name port -> "qps latency_ms lost"
  local out
  out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$2" -d "$W/queries" -l "$SECS" -c 8 -q 200 2>&1)
  echo "$out" >"$W/dnsperf-$1.txt"
  local qps lat lost
  qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
  lat=$(echo "$out" | awk '/Average Latency/ {print $4*1000}')
  lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
  echo "$out" | grep "Response codes" | sed 's/^ *//' >"$W/rcodes-$1.txt"
  echo "$qps $lat $lost"
}
# Warm the resolvers' caches with the whole set.
for p in $P3 $P4; do taskset -c 1 dnsperf -s 127.0.0.1 -p "$p" -d "$W/queries" -n 2 >/dev/null 2>&1; done

read -r Q1 L1 X1 < <(run primary "$P1")
read -r Q2 L2 X2 < <(run nsd "$P2")
read -r Q3 L3 X3 < <(run resolver "$P3")
read -r Q4 L4 X4 < <(run unbound "$P4")

# Same answers or no comparison: each pair must return the same rcode mix.
for pair in "primary nsd" "resolver unbound"; do
  set -- $pair
  a=$(sed 's/([^)]*)//g; s/[0-9]\+ //g' "$W/rcodes-$1.txt"); b=$(sed 's/([^)]*)//g; s/[0-9]\+ //g' "$W/rcodes-$2.txt")
  if [ "$a" != "$b" ]; then echo "bench/dns: $1 and $2 answer differently: $(cat "$W/rcodes-$1.txt") / $(cat "$W/rcodes-$2.txt")"; exit 1; fi
done

/usr/bin/python3 - "$SECS" "$Q1" "$L1" "$X1" "$Q2" "$L2" "$X2" "$Q3" "$L3" "$X3" "$Q4" "$L4" "$X4" <<'PY'
import datetime, os, re, subprocess, sys
a = sys.argv
secs = a[1]
q1, l1, x1, q2, l2, x2, q3, l3, x3, q4, l4, x4 = a[2:14]
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
def ver(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout + subprocess.run(cmd, capture_output=True, text=True).stderr
        return out.strip().splitlines()[0]
    except Exception:
        return "?"
def ratio(x, y):
    return f"{float(x) / float(y):.2f}x" if float(y) else "-"
section = f"""## DNS

Measured by `bench/dns/run.sh` ({datetime.date.today()}, {os.cpu_count()} cores, {cpu}); dnsperf
{secs} s per server, 8 clients, 200 queries outstanding, over UDP on 127.0.0.1. Each server runs
pinned to core 0 (`taskset`), dnsperf on core 1: "one core" each. Query set: 15 questions over
tests/proc/dns_data/zt.test (exact, CNAME chains, wildcards, NXDOMAIN, NODATA, SRV).
Anchors in the same run: NSD ({ver(["nsd", "-v"])}, `server-count: 1`, `minimal-responses: yes`,
`rrl-ratelimit: 0`)
for dns-primary; unbound ({ver(["unbound", "-V"])}, `num-threads: 1`, `local-zone: "test." nodefault`)
for dns-resolver, both resolvers forwarding zt.test to our primary with the cache warmed first.
Each pair returned the same rcode mix (checked by the script). Ratio = envoi / anchor.

| server | qps | avg latency ms | lost | anchor qps | anchor latency ms | qps ratio | latency ratio |
|---|---|---|---|---|---|---|---|
| dns-primary vs NSD | {float(q1):.0f} | {float(l1):.3f} | {x1} | {float(q2):.0f} | {float(l2):.3f} | {ratio(q1, q2)} | {ratio(l1, l2)} |
| dns-resolver vs unbound (warm) | {float(q3):.0f} | {float(l3):.3f} | {x3} | {float(q4):.0f} | {float(l4):.3f} | {ratio(q3, q4)} | {ratio(l3, l4)} |

Where we stand: the goal is at least the anchors' qps on one core. Ratios move by about
+-15% between runs (the two cores are shared with the load generator and the kernel's
loopback work); docs/DNS.md ("Performance") has the profile and what was done.
"""
path = "docs/BENCHMARKS.md"
doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n\nEach section is written by its benchmark script; figures are from one run on the machine named.\n"
if re.search(r"(?m)^## DNS\n", doc):
    doc = re.sub(r"(?ms)^## DNS\n.*?(?=^## |\Z)", section + "\n", doc)
else:
    doc = doc.rstrip("\n") + "\n\n" + section
open(path, "w").write(doc)
print(section)
PY
