"""DNSSEC denial with NSEC3 (RFC 5155) in dns-resolver, beside unbound as
an independent validator on the same lab and the same trust anchor.

NSD serves the zones (it answers NSEC3 proofs itself; dns-primary serves
NSEC only): on 127.0.0.8 the root (NSEC) and test. (NSEC3 with Opt-Out, as
most TLDs are signed); on 127.0.0.9 n3.test (NSEC3, no Opt-Out, DS in
test.), slow.test (NSEC3 with 500 iterations, over the RFC 9276 limit),
bad3.test (NSEC3 records altered after signing), and the unsigned
plain3.test and plain.n3.test. Before NSEC3 support every denial below and
every unsigned zone under test. came back SERVFAIL."""

import os
import pathlib
import re
import shutil
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dns_helpers import LSAN_ENV, free_port, port_free_on

ROOT = """$ORIGIN .
$TTL 3600
@ SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 300
@ NS a.root.test.
test. NS a.root.test.
a.root.test. A 127.0.0.8
"""
TEST = """$ORIGIN test.
$TTL 3600
@ SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 300
@ NS a.root
a.root A 127.0.0.8
ns A 127.0.0.9
n3 NS ns
slow NS ns
bad3 NS ns
plain3 NS ns
"""
SIGNED = """$ORIGIN {zone}.
$TTL 600
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 120
@ NS ns.test.
www A 192.0.2.30
*.wild A 192.0.2.31
"""
N3_EXTRA = """plain NS ns.test.
"""
PLAIN = """$ORIGIN {zone}.
$TTL 600
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 120
@ NS ns.test.
www A 192.0.2.40
"""


def sh(cwd, *args):
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=True).stdout


def sign(d, fname, origin, text, *nsec3):
    """Signs with a fresh KSK and ZSK (ECDSA P-256); nsec3: extra
    ldns-signzone flags ("-n", "-p", "-t", "N", "-s", "SALT"). Returns
    (signed text, DS of the KSK, the KSK record)."""
    ksk = sh(d, "ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin).strip()
    zsk = sh(d, "ldns-keygen", "-a", "ECDSAP256SHA256", origin).strip()
    (d / fname).write_text(text)
    sh(d, "ldns-signzone", *nsec3, "-o", origin, fname, zsk, ksk)
    signed = (d / (fname + ".signed")).read_text()
    ds = sh(d, "ldns-key2ds", "-n", "-2", ksk + ".key").strip()
    return signed, ds, (d / (ksk + ".key")).read_text().strip()


def nsd(d, addr, port, zones):
    w = d / addr
    w.mkdir()
    conf = [f"""server:
    ip-address: {addr}
    port: {port}
    zonesdir: "{w}"
    database: ""
    pidfile: "{w}/nsd.pid"
    xfrdfile: "{w}/xfrd.state"
    zonelistfile: "{w}/zone.list"
    logfile: "{w}/nsd.log"
    username: ""
    chroot: ""
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
"""]
    for name, text in zones.items():
        fname = name.strip(".") or "root"
        (w / fname).write_text(text)
        conf.append(f'zone:\n    name: "{name}"\n    zonefile: "{fname}"\n')
    (w / "nsd.conf").write_text("".join(conf))
    return subprocess.Popen(["nsd", "-d", "-c", str(w / "nsd.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_soa(addr, port, zone, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if dns.query.udp(dns.message.make_query(zone, "SOA"), addr, port=port, timeout=0.5).answer:
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{addr}:{port} does not serve {zone}")


def wait_up(port, proc, what, timeout=15):
    """Until a resolver on 127.0.0.1:port answers anything at all."""
    end = time.time() + timeout
    while True:
        try:
            dns.query.udp(dns.message.make_query("test.", "SOA"), "127.0.0.1", port=port, timeout=0.5)
            return
        except Exception:
            assert time.time() < end and proc.poll() is None, f"{what} did not start"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not shutil.which("nsd") or not shutil.which("unbound"):
        pytest.fail("nsd and unbound are needed (scripts/install-deps.sh test)")
    d = tmp_path_factory.mktemp("nsec3")
    n3, n3_ds, _ = sign(d, "n3.test", "n3.test.", SIGNED.format(zone="n3.test") + N3_EXTRA, "-n", "-t", "0")
    slow, slow_ds, _ = sign(d, "slow.test", "slow.test.", SIGNED.format(zone="slow.test"), "-n", "-t", "500",
                            "-s", "beef")
    bad, bad_ds, _ = sign(d, "bad3.test", "bad3.test.", SIGNED.format(zone="bad3.test"), "-n", "-t", "0")
    # Every NSEC3 of bad3.test claims one more type after signing: any
    # denial it gives must fail its signature check.
    bad, n = re.subn(r"(?m)^(\S+\.bad3\.test\.\s+\d+\s+IN\s+NSEC3\s+.*)$", r"\1 HINFO", bad)
    assert n >= 2
    test, test_ds, _ = sign(d, "test", "test.", TEST + "\n".join([n3_ds, slow_ds, bad_ds]) + "\n",
                            "-n", "-p", "-t", "0")
    root, _, root_key = sign(d, "root", ".", ROOT + test_ds + "\n")
    anchor = d / "root.anchor"
    anchor.write_text(root_key + "\n")
    addrs = ["127.0.0.8", "127.0.0.9"]
    port = next(p for p in (free_port() for _ in range(50)) if port_free_on(addrs, p))
    procs = [nsd(d, "127.0.0.8", port, {".": root, "test.": test}),
             nsd(d, "127.0.0.9", port, {"n3.test.": n3, "slow.test.": slow, "bad3.test.": bad,
                                        "plain3.test.": PLAIN.format(zone="plain3.test"),
                                        "plain.n3.test.": PLAIN.format(zone="plain.n3.test")})]
    try:
        wait_soa("127.0.0.8", port, "test.")
        wait_soa("127.0.0.9", port, "n3.test.")
        hints = d / "root.hints"
        hints.write_text(f"127.0.0.8@{port}\n")
        yield {"dir": d, "port": port, "hints": hints, "anchor": anchor}
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


# unbound sends to port 53 unless a stub zone names the port: one stub per
# zone cut, so it still walks and validates the whole chain from the root.
STUBS = [(".", "127.0.0.8"), ("test.", "127.0.0.8"), ("n3.test.", "127.0.0.9"), ("slow.test.", "127.0.0.9"),
         ("bad3.test.", "127.0.0.9"), ("plain3.test.", "127.0.0.9"), ("plain.n3.test.", "127.0.0.9")]


@pytest.fixture(scope="module")
def unbound(lab):
    """unbound validating from the same root with the same anchor."""
    d = lab["dir"]
    port = free_port()
    (d / "unbound.conf").write_text(f"""server:
    interface: 127.0.0.1@{port}
    port: {port}
    num-threads: 1
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: ""
    use-syslog: no
    logfile: "{d}/unbound.log"
    verbosity: 1
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    trust-anchor-file: "{lab['anchor']}"
    local-zone: "test." nodefault
    qname-minimisation: no
    aggressive-nsec: no
""" + "".join(f'stub-zone:\n    name: "{z}"\n    stub-addr: {a}@{lab["port"]}\n' for z, a in STUBS))
    p = subprocess.Popen(["unbound", "-d", "-c", str(d / "unbound.conf")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_up(port, p, "unbound")
        yield port
    finally:
        p.terminate()
        p.wait(timeout=10)


@pytest.fixture(scope="module")
def resolver(lab):
    bin_dir = os.environ.get("ENVOI_BIN_DIR", pathlib.Path(__file__).resolve().parents[2] / "build" / "bin")
    port = free_port()
    log = open(lab["dir"] / "resolver.log", "w+b")
    p = subprocess.Popen([str(pathlib.Path(bin_dir) / "dns-resolver"), "--listen", f"127.0.0.1:{port}",
                          "--root-hints", str(lab["hints"]), "--query-port", str(lab["port"]),
                          "--trust-anchor", str(lab["anchor"])], stdout=subprocess.DEVNULL, stderr=log,
                         env={**os.environ, **LSAN_ENV})
    try:
        wait_up(port, p, "dns-resolver")
        yield port
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0, (lab["dir"] / "resolver.log").read_text()


def ask(port, name, rdtype="A"):
    q = dns.message.make_query(name, rdtype, want_dnssec=True, use_edns=0)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=10)


def verdict(r):
    return dns.rcode.to_text(r.rcode()), bool(r.flags & dns.flags.AD)


# (name, type, rcode, AD): what RFC 4035/5155/9276 call for in this lab.
CASES = [
    ("www.n3.test", "A", "NOERROR", True),          # signed, DS in an NSEC3 parent
    ("nope.n3.test", "A", "NXDOMAIN", True),        # NSEC3 closest-encloser proof
    ("www.n3.test", "MX", "NOERROR", True),         # NSEC3 NODATA
    ("a.b.nope.n3.test", "A", "NXDOMAIN", True),    # next closer two labels down
    ("x.wild.n3.test", "MX", "NOERROR", True),      # wildcard NODATA
    ("www.plain.n3.test", "A", "NOERROR", False),   # unsigned child: NSEC3 proves no DS
    ("www.plain3.test", "A", "NOERROR", False),     # unsigned child in an Opt-Out span
    ("nope.test", "A", "NXDOMAIN", False),          # Opt-Out span: insecure, never AD
    ("nope.slow.test", "A", "NXDOMAIN", False),     # 500 iterations: insecure (RFC 9276)
    ("nope.bad3.test", "A", "SERVFAIL", False),     # altered NSEC3: bogus
    ("www.bad3.test", "MX", "SERVFAIL", False),
]


@pytest.mark.parametrize("name,rdtype,rcode,ad", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_nsec3_denials(resolver, unbound, name, rdtype, rcode, ad):
    ours = verdict(ask(resolver, name, rdtype))
    theirs = verdict(ask(unbound, name, rdtype))
    assert ours == (rcode, ad), f"dns-resolver {ours}, unbound {theirs}"
    assert theirs == ours, f"unbound {theirs} disagrees with dns-resolver {ours}"


def test_positive_answer_still_served_from_unsigned_child(resolver):
    r = ask(resolver, "www.plain3.test")
    assert [rr.to_text() for rs in r.answer for rr in rs] == ["192.0.2.40"]
