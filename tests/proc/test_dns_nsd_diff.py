"""Differential test: dns-primary and NSD (Debian's nsd, an independent
authoritative server) serve the same zone file; several hundred queries of
every shape go to both; rcode, AA, answer and authority must agree."""

import itertools
import pathlib
import random
import shutil
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dns_helpers import DATA, free_port, make_repo, rrset_texts, start_primary

NAMES = [
    "zt.test", "ns1.zt.test", "ns2.zt.test", "mail.zt.test", "www.zt.test", "alias.zt.test",
    "ext.zt.test", "dangling.zt.test", "loop1.zt.test", "foo.wild.zt.test", "a.b.wild.zt.test",
    "exact.wild.zt.test", "wild.zt.test", "*.wild.zt.test", "x.cw.zt.test", "sub.zt.test",
    "ns.sub.zt.test", "deep.host.sub.zt.test", "deleg.zt.test", "x.deleg.zt.test",
    "a.b.c.zt.test", "b.c.zt.test", "c.zt.test", "x.a.b.c.zt.test", "_smtp._tcp.zt.test",
    "_tcp.zt.test", "mixedcase.zt.test", "multi.zt.test", "big.zt.test", "nope.zt.test",
    "nope.nope.zt.test", "mail.nope.zt.test", "zz.zt.test", "0.zt.test", "-.zt.test",
]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "PTR", "CAA", "DS", "HINFO", "ANY"]


def mixcase(name, rng):
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def start_nsd(tmp_path, port):
    d = pathlib.Path(tmp_path) / "nsd"
    d.mkdir()
    shutil.copy(DATA / "zt.test", d / "zt.test")
    conf = d / "nsd.conf"
    # minimal-responses: the apex NS RRset goes into the authority section
    # only where it is needed (referrals), which is what dns-primary does.
    conf.write_text(f"""server:
    ip-address: 127.0.0.1
    port: {port}
    zonesdir: "{d}"
    database: ""
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    zonelistfile: "{d}/zone.list"
    logfile: "{d}/nsd.log"
    username: ""
    chroot: ""
    server-count: 1
    hide-version: yes
    refuse-any: no
    minimal-responses: yes
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "zt.test"
    zonefile: "zt.test"
""")
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            q = dns.message.make_query("zt.test", "SOA")
            if dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5).answer:
                return proc
        except Exception:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("nsd did not start: " + (d / "nsd.log").read_text() if (d / "nsd.log").exists() else "")


def summarize(r):
    return {
        "rcode": dns.rcode.to_text(r.rcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "tc": bool(r.flags & dns.flags.TC),
        "answer": rrset_texts(r.answer),
        "authority": rrset_texts(r.authority),
        "additional": rrset_texts([x for x in r.additional]),
    }


@pytest.fixture
def servers(tmp_path, start_service):
    url, _ = make_repo(tmp_path, with_lab=False)
    ours = free_port()
    start_primary(start_service, url, ours)
    theirs = free_port()
    nsd = start_nsd(tmp_path, theirs)
    yield ours, theirs
    nsd.terminate()
    nsd.wait(timeout=10)


def test_same_answers_as_nsd(servers):
    ours, theirs = servers
    rng = random.Random(20261129)
    cases = []
    for name, rdtype in itertools.product(NAMES, TYPES):
        cases.append((name, rdtype, False))
    for name in rng.sample(NAMES, 20):  # mixed case
        cases.append((mixcase(name, rng), rng.choice(TYPES), False))
    for name in rng.sample(NAMES, 20):  # with EDNS
        cases.append((name, rng.choice(TYPES), True))
    for name in rng.sample(NAMES, 15):  # over TCP
        cases.append((name, rng.choice(TYPES), "tcp"))
    assert len(cases) >= 400
    diffs = []
    for name, rdtype, edns in cases:
        got = []
        for port in (ours, theirs):
            q = dns.message.make_query(name, rdtype, use_edns=0 if edns is True else None,
                                       payload=1232)
            q.flags = 0  # authoritative servers: no RD
            q.id = 4242
            fn = dns.query.tcp if edns == "tcp" else dns.query.udp
            got.append(summarize(fn(q, "127.0.0.1", port=port, timeout=3)))
        a, b = got
        # rcode, flags, answer and authority must be equal; in the additional
        # section, whatever NSD adds (glue, MX/SRV target addresses) we add too.
        keys = ("rcode", "aa", "tc", "answer", "authority")
        same = all(a[k] == b[k] for k in keys)
        if not same or not set(b["additional"]) <= set(a["additional"]):
            diffs.append((name, rdtype, edns, a, b))
    for d in diffs[:40]:
        print("DIFF", d[0], d[1], "edns" if d[2] else "", "\n  ours:", d[3], "\n  nsd: ", d[4])
    print(f"{len(cases)} queries, {len(diffs)} differences")
    assert not diffs
