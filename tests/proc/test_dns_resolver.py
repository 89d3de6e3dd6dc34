"""dns-resolver in a loopback lab: a private root and test. served by our
dns-primary on 127.0.0.2, rt.test and noglue.test by another dns-primary on
127.0.0.3, outside.test by NSD on 127.0.0.4 (foreign software in the
iteration path), and a hostile server on 127.0.0.5 that tries to poison
the cache. All on one port P (--query-port P), the resolver on 127.0.0.1."""

import os
import pathlib
import socket
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest

from dns_helpers import free_port, port_free_on, repo_with

ROOT_ZONE = """$ORIGIN .
$TTL 3600
@ SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 300
@ NS a.root.test.
test. NS a.root.test.
a.root.test. A 127.0.0.2
"""
TEST_ZONE = """$ORIGIN test.
$TTL 3600
@ SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 300
@ NS a.root
a.root A 127.0.0.2
rt NS ns1.rt
ns1.rt A 127.0.0.3
outside NS ns.outside
ns.outside A 127.0.0.4
noglue NS ns1.rt.test.
lame NS ns.lame
ns.lame A 127.0.0.9
evil NS ns.evil
ns.evil A 127.0.0.5
"""
RT_ZONE = """$ORIGIN rt.test.
$TTL 600
@ SOA ns1 hostmaster 1 3600 600 86400 120
@ NS ns1
@ MX 10 mail
ns1 A 127.0.0.3
mail A 192.0.2.25
www A 192.0.2.80
web CNAME www.outside.test.
chain CNAME web
*.wild A 192.0.2.99
short 5 IN A 192.0.2.5
""" + "\n".join(f'big TXT "{"y" * 200} {i}"' for i in range(8)) + "\n"
NOGLUE_ZONE = """$ORIGIN noglue.test.
$TTL 600
@ SOA ns1.rt.test. hostmaster.rt.test. 1 3600 600 86400 120
@ NS ns1.rt.test.
host A 192.0.2.44
"""
OUTSIDE_ZONE = """$ORIGIN outside.test.
$TTL 600
@ SOA ns hostmaster 1 3600 600 86400 120
@ NS ns
ns A 127.0.0.4
www A 192.0.2.180
"""


class EvilServer:
    """Answers every question with the right A record plus poison: an
    out-of-bailiwick answer and glue for rt.test. Records what it saw."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.5", port))
        self.sock.settimeout(0.2)
        self.seen = []
        self.names = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            self.seen.append((peer[1], q.id))
            self.names.append(q.question[0].name.to_text().lower())
            time.sleep(0.05)  # slow enough that a burst of questions overlaps
            r = dns.message.make_response(q)
            r.flags |= dns.flags.AA
            name = q.question[0].name
            r.answer.append(dns.rrset.from_text(name, 600, "IN", "A", "192.0.2.66"))
            r.answer.append(dns.rrset.from_text("www.rt.test.", 600, "IN", "A", "6.6.6.6"))
            r.authority.append(dns.rrset.from_text("rt.test.", 600, "IN", "NS", "ns.evil.test."))
            r.additional.append(dns.rrset.from_text("ns1.rt.test.", 600, "IN", "A", "6.6.6.6"))
            self.sock.sendto(r.to_wire(), peer)

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def start_nsd(tmp, port):
    d = tmp / "nsd"
    d.mkdir()
    (d / "outside.test").write_text(OUTSIDE_ZONE)
    (d / "nsd.conf").write_text(f"""server:
    ip-address: 127.0.0.4
    port: {port}
    zonesdir: "{d}"
    database: ""
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    zonelistfile: "{d}/zone.list"
    username: ""
    chroot: ""
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: "outside.test"
    zonefile: "outside.test"
""")
    return subprocess.Popen(["nsd", "-d", "-c", str(d / "nsd.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_answer(host, port, name, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            r = dns.query.udp(dns.message.make_query(name, "SOA"), host, port=port, timeout=0.5)
            if r.answer:
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{host}:{port} does not answer {name}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dnslab")
    addrs = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    port = next(p for p in (free_port() for _ in range(50)) if port_free_on(addrs, p))
    bin_dir = os.environ.get("ENVOI_BIN_DIR", pathlib.Path(__file__).resolve().parents[2] / "build" / "bin")
    bin_ = pathlib.Path(bin_dir) / "dns-primary"
    procs = []
    root_url = repo_with(tmp, "root", {"_root": ROOT_ZONE, "test": TEST_ZONE})
    rt_url = repo_with(tmp, "rt", {"rt.test": RT_ZONE, "noglue.test": NOGLUE_ZONE})
    for addr, url in (("127.0.0.2", root_url), ("127.0.0.3", rt_url)):
        procs.append(subprocess.Popen([str(bin_), "--listen", f"{addr}:{port}", "--remote", url,
                                       "--poll", "0"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    procs.append(start_nsd(tmp, port))
    evil = EvilServer(port)
    hints = tmp / "root.hints"
    hints.write_text(f"; the lab root, with its port\n127.0.0.2@{port}\n")
    try:
        wait_answer("127.0.0.2", port, "test.")
        wait_answer("127.0.0.3", port, "rt.test.")
        wait_answer("127.0.0.4", port, "outside.test.")
        yield {"port": port, "hints": hints, "evil": evil, "procs": procs}
    finally:
        evil.close()
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


@pytest.fixture
def resolver(lab, start_service):
    port = free_port()
    svc = start_service("dns-resolver", "--listen", f"127.0.0.1:{port}", "--root-hints",
                        lab["hints"], "--query-port", lab["port"], ready_port=port)
    svc.port = port
    return svc


def ask(port, name, rdtype="A", tcp=False, payload=None, host="127.0.0.1"):
    q = dns.message.make_query(name, rdtype, use_edns=0 if payload else None, payload=payload or 512)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, host, port=port, timeout=10)


def addrs(r):
    return sorted(rd.address for rrset in r.answer if rrset.rdtype == 1 for rd in rrset)


def test_iterates_from_the_root(resolver):
    r = ask(resolver.port, "www.rt.test")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.RA and not (r.flags & dns.flags.AA)
    assert addrs(r) == ["192.0.2.80"]
    mx = ask(resolver.port, "rt.test", "MX")
    assert [str(rd.exchange) for rd in mx.answer[0]] == ["mail.rt.test."]


def test_cname_chain_across_zones_through_nsd(resolver):
    r = ask(resolver.port, "chain.rt.test")
    types = [(str(rs.name), rs.rdtype) for rs in r.answer]
    assert types == [("chain.rt.test.", 5), ("web.rt.test.", 5), ("www.outside.test.", 1)]
    assert addrs(r) == ["192.0.2.180"]


def test_wildcard_and_nxdomain_with_soa(resolver):
    assert addrs(ask(resolver.port, "foo.wild.rt.test")) == ["192.0.2.99"]
    nx = ask(resolver.port, "missing.rt.test")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0].rdtype == 6 and nx.authority[0].ttl <= 120
    nodata = ask(resolver.port, "www.rt.test", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == 6


def test_cache_answers_while_servers_are_silent(lab, resolver):
    first = ask(resolver.port, "mail.rt.test")
    nx1 = ask(resolver.port, "gone.rt.test")
    assert nx1.rcode() == dns.rcode.NXDOMAIN
    for p in lab["procs"]:
        p.send_signal(19)  # SIGSTOP: every authoritative server stops answering
    try:
        t0 = time.time()
        again = ask(resolver.port, "mail.rt.test")
        nx2 = ask(resolver.port, "gone.rt.test")
        assert time.time() - t0 < 1.0  # from the cache, not after timeouts
    finally:
        for p in lab["procs"]:
            p.send_signal(18)  # SIGCONT
    assert addrs(again) == addrs(first) == ["192.0.2.25"]
    assert again.answer[0].ttl <= first.answer[0].ttl
    assert nx2.rcode() == dns.rcode.NXDOMAIN  # negative caching (RFC 2308)


def test_ttl_expiry_refetches(resolver):
    r1 = ask(resolver.port, "short.rt.test")
    assert r1.answer[0].ttl <= 5
    time.sleep(1.2)
    r2 = ask(resolver.port, "short.rt.test")
    assert r2.answer[0].ttl < 5


def test_truncated_upstream_falls_back_to_tcp(resolver):
    r = ask(resolver.port, "big.rt.test", "TXT", tcp=True)
    assert len(r.answer[0]) == 8  # needed TCP between resolver and primary
    small = ask(resolver.port, "big.rt.test", "TXT")  # UDP, 512: TC to the client
    assert small.flags & dns.flags.TC


def test_ns_without_glue_is_resolved(resolver):
    assert addrs(ask(resolver.port, "host.noglue.test")) == ["192.0.2.44"]


def test_lame_delegation_gives_servfail_in_bounded_time(resolver):
    t0 = time.time()
    r = ask(resolver.port, "x.lame.test")
    assert r.rcode() == dns.rcode.SERVFAIL
    assert time.time() - t0 < 9
    # the dead server is remembered for a while: the next question fails fast
    t1 = time.time()
    assert ask(resolver.port, "y.lame.test").rcode() == dns.rcode.SERVFAIL
    assert time.time() - t1 < 0.5


def test_poison_is_not_believed(lab, resolver):
    r = ask(resolver.port, "a.evil.test")
    assert addrs(r) == ["192.0.2.66"]  # in-bailiwick part accepted
    assert addrs(ask(resolver.port, "www.rt.test")) == ["192.0.2.80"]
    assert addrs(ask(resolver.port, "ns1.rt.test")) == ["127.0.0.3"]


def test_random_source_ports_and_ids(lab, resolver):
    evil = lab["evil"]
    before = len(evil.seen)
    for i in range(8):
        ask(resolver.port, f"n{i}.evil.test")
    seen = evil.seen[before:]
    assert len(seen) >= 8
    assert len({p for p, _ in seen}) >= 6
    assert len({i for _, i in seen}) >= 6


def test_acl_refuses_other_networks(lab, start_service):
    port = free_port()
    start_service("dns-resolver", "--listen", f"127.0.0.1:{port}", "--root-hints", lab["hints"],
                  "--query-port", lab["port"], "--allow", "127.0.0.2/32", ready_port=port)
    r = ask(port, "www.rt.test")
    assert r.rcode() == dns.rcode.REFUSED and not r.answer


def test_forward_zone(lab, start_service):
    port = free_port()
    start_service("dns-resolver", "--listen", f"127.0.0.1:{port}", "--forward",
                  f"rt.test=127.0.0.3@{lab['port']}", ready_port=port)
    assert addrs(ask(port, "www.rt.test")) == ["192.0.2.80"]
    # no root hints: names outside the forward zone fail
    assert ask(port, "www.outside.test").rcode() == dns.rcode.SERVFAIL


def test_malformed_queries(resolver):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        for data in (b"\x12", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01",
                     b"\x12\x34\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff"):
            s.sendto(data, ("127.0.0.1", resolver.port))
            try:
                reply = s.recv(4096)
                assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR
            except socket.timeout:
                pass
    assert addrs(ask(resolver.port, "www.rt.test")) == ["192.0.2.80"]


def test_kdig_and_drill_through_the_resolver(resolver):
    kd = subprocess.run(["kdig", "@127.0.0.1", "-p", str(resolver.port), "+short", "chain.rt.test", "A"],
                        capture_output=True, text=True, check=True).stdout.split()
    assert kd == ["web.rt.test.", "www.outside.test.", "192.0.2.180"]
    dr = subprocess.run(["drill", "-p", str(resolver.port), "mail.rt.test", "@127.0.0.1", "A"],
                        capture_output=True, text=True, check=True).stdout
    assert "rcode: NOERROR" in dr and "192.0.2.25" in dr
    over_tcp = ask(resolver.port, "www.rt.test", tcp=True)
    assert addrs(over_tcp) == ["192.0.2.80"]


def test_identical_questions_are_coalesced(lab, resolver):
    """A burst of the same question makes one upstream query (RFC 5452 5)."""
    evil = lab["evil"]
    sockets = []
    for _ in range(20):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        s.sendto(dns.message.make_query("burst.evil.test", "A").to_wire(), ("127.0.0.1", resolver.port))
        sockets.append(s)
    answers = []
    for s in sockets:
        answers.append(dns.message.from_wire(s.recv(4096)))
        s.close()
    assert all(addrs(a) == ["192.0.2.66"] for a in answers)
    assert evil.names.count("burst.evil.test.") == 1
