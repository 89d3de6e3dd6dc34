"""The DNS servers' hot paths under real clients on loopback: bursts of UDP
queries from many sockets (replies leave in sendmmsg batches, each must reach
the socket that asked, with its ID and question), and dns-resolver's answers
straight from its cache, CNAME chains included (same sections as the first,
resolved answer, TTLs counting down link by link)."""

import math
import select
import socket
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from dns_helpers import free_port, repo_with, start_primary

ZONE = """$ORIGIN fp.test.
$TTL 600
@ SOA ns hostmaster 1 3600 600 86400 120
@ NS ns
ns A 192.0.2.53
a 600 CNAME b
b 90 CNAME c
c 300 A 192.0.2.1
c 300 AAAA 2001:db8::1
nx CNAME gone
multi A 192.0.2.10
multi A 192.0.2.11
multi A 192.0.2.12
mx MX 10 c
loop1 CNAME loop2
loop2 CNAME loop1
"""
# (name, type): chains ending in data, in NXDOMAIN, in NODATA; plain data,
# plain NXDOMAIN and NODATA.
QUESTIONS = [("a.fp.test", "A"), ("a.fp.test", "AAAA"), ("b.fp.test", "A"), ("nx.fp.test", "A"),
             ("a.fp.test", "TXT"), ("c.fp.test", "A"), ("multi.fp.test", "A"), ("mx.fp.test", "MX"),
             ("none.fp.test", "A"), ("c.fp.test", "MX")]
ZONE_TTL = {"a.fp.test.": 600, "b.fp.test.": 90, "c.fp.test.": 300}  # others: 600


@pytest.fixture
def servers(tmp_path, start_service):
    url = repo_with(tmp_path, "fp", {"fp.test": ZONE})
    pport, rport, admin = free_port(), free_port(), free_port()
    start_primary(start_service, url, pport)
    resolver = start_service("dns-resolver", "--listen", f"127.0.0.1:{rport}", "--forward",
                             f"fp.test=127.0.0.1@{pport}", "--admin", f"127.0.0.1:{admin}",
                             ready_port=[rport, admin])
    return {"primary": pport, "resolver": rport, "admin": admin}


def ask(port, name, rdtype, do=False):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=do)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=5)


def sections(r):
    """rcode and each section as (owner, type, sorted rdata) in order, in lower
    case (names in rdata may be compressed against the question as asked)."""
    def sec(s):
        return [(str(rs.name).lower(), rs.rdtype, sorted(rd.to_text().lower() for rd in rs)) for rs in s]
    return r.rcode(), sec(r.answer), sec(r.authority)


def ttls(r):
    return [(str(rs.name).lower(), rs.rdtype, rs.ttl) for rs in r.answer + r.authority]


def questions_total(admin):
    s = socket.create_connection(("127.0.0.1", admin), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    text = out.decode()
    assert text.startswith("HTTP/1.0 200")
    for line in text.split("\r\n\r\n", 1)[1].splitlines():
        if line.startswith("dns_resolver_questions_total "):
            return float(line.split()[1])
    return 0.0


def test_cached_answers_match_the_resolved_ones(servers):
    port, admin = servers["resolver"], servers["admin"]
    first = {q: ask(port, *q) for q in QUESTIONS}
    resolved = questions_total(admin)
    assert resolved > 0  # the cold ones went through resolution
    for q in QUESTIONS:
        again = ask(port, *q)
        assert sections(again) == sections(first[q]), q
        for (n1, t1, ttl1), (n2, t2, ttl2) in zip(ttls(first[q]), ttls(again)):
            assert (n1, t1) == (n2, t2) and ttl2 <= ttl1 <= ZONE_TTL.get(n1, 600)
        assert again.flags & dns.flags.RA and not again.flags & dns.flags.AA
    # ...and every one of them came straight from the cache, chains too.
    assert questions_total(admin) == resolved
    # The authoritative server agrees on the data.
    for q in QUESTIONS:
        auth = ask(servers["primary"], *q)
        assert sections(auth)[:2] == sections(first[q])[:2], q
    chain = first[("a.fp.test", "A")]
    assert [(str(rs.name), rs.rdtype) for rs in chain.answer] == [
        ("a.fp.test.", dns.rdatatype.CNAME), ("b.fp.test.", dns.rdatatype.CNAME),
        ("c.fp.test.", dns.rdatatype.A)]
    assert first[("nx.fp.test", "A")].rcode() == dns.rcode.NXDOMAIN
    assert first[("nx.fp.test", "A")].answer[0].rdtype == dns.rdatatype.CNAME
    assert first[("a.fp.test", "TXT")].authority[0].rdtype == dns.rdatatype.SOA


def test_cname_loop_is_servfail_warm_and_cold(servers):
    port = servers["resolver"]
    assert ask(port, "loop1.fp.test", "A").rcode() == dns.rcode.SERVFAIL
    assert ask(port, "loop1.fp.test", "A").rcode() == dns.rcode.SERVFAIL


def test_ttls_count_down_link_by_link(servers):
    port, admin = servers["resolver"], servers["admin"]
    qs = (("a.fp.test", "A"), ("nx.fp.test", "A"))
    for q in qs:
        ask(port, *q)
    before = questions_total(admin)

    def timed(q):
        t0 = time.monotonic()
        r = ask(port, *q)
        return t0, time.monotonic(), ttls(r)
    t1 = {q: timed(q) for q in qs}
    time.sleep(2.2)
    t2 = {q: timed(q) for q in qs}
    assert questions_total(admin) == before  # all four from the cache
    for q in qs:
        (s1, e1, l1), (s2, e2, l2) = t1[q], t2[q]
        # TTLs are whole seconds rounded up: over d seconds each one goes
        # down by floor(d) or ceil(d), d between these bounds.
        lo, hi = math.floor(s2 - e1), math.ceil(e2 - s1)
        assert lo >= 2 and len(l1) == len(l2) >= 2
        for (n1, ty1, a), (n2, ty2, b) in zip(l1, l2):
            assert (n1, ty1) == (n2, ty2)
            assert lo <= a - b <= hi, (q, n1, a, b, lo, hi)
            assert a <= ZONE_TTL.get(n1, 600)
    # Each link keeps its own TTL: b's CNAME (90) lives shorter than a's (600).
    links = {n: t for n, ty, t in t2[("a.fp.test", "A")][2]}
    assert links["b.fp.test."] <= 90 < links["a.fp.test."]


def burst(port, questions, nsock=8, per_sock=48, rounds=6):
    """Sends per_sock queries on each of nsock sockets, interleaved, without
    waiting; resends what is unanswered (UDP may drop) up to rounds times.
    Returns {(sock index, id): response} and fails on any reply that does
    not match a query of its own socket."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nsock)]
    try:
        wanted = {}
        for s_i in range(nsock):
            for k in range(per_sock):
                name, rdtype = questions[(s_i + k) % len(questions)]
                # 0x20 mixed case: the question must come back as asked
                name = "".join(c.upper() if (k >> (i % 5)) & 1 else c for i, c in enumerate(name))
                q = dns.message.make_query(name, rdtype, use_edns=0 if k % 2 else None)
                q.id = s_i * 1000 + k
                wanted[(s_i, q.id)] = q
        got = {}
        for _ in range(rounds):
            missing = [key for key in wanted if key not in got]
            if not missing:
                break
            for k in range(per_sock):
                for s_i in range(nsock):
                    if (s_i, s_i * 1000 + k) in missing:
                        socks[s_i].sendto(wanted[(s_i, s_i * 1000 + k)].to_wire(), ("127.0.0.1", port))
            deadline = time.monotonic() + 2.0
            while len(got) < len(wanted) and time.monotonic() < deadline:
                ready, _, _ = select.select(socks, [], [], 0.2)
                for s in ready:
                    data, peer = s.recvfrom(65535)
                    assert peer == ("127.0.0.1", port)
                    s_i = socks.index(s)
                    r = dns.message.from_wire(data)
                    key = (s_i, r.id)
                    assert key in wanted, f"socket {s_i} got a reply to id {r.id} it never sent"
                    q = wanted[key]
                    assert [(rs.name.to_text(), rs.rdtype) for rs in r.question] == \
                        [(rs.name.to_text(), rs.rdtype) for rs in q.question]
                    assert str(r.question[0].name) == str(q.question[0].name)  # case kept
                    got[key] = r
        assert len(got) == len(wanted), f"{len(wanted) - len(got)} queries never answered"
        return wanted, got
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("which", ["primary", "resolver"])
def test_burst_from_many_sockets(servers, which):
    port = servers[which]
    plain = [q for q in QUESTIONS]
    reference = {q: sections(ask(port, *q)) for q in plain}  # (warms the resolver too)
    wanted, got = burst(port, plain)
    for key, r in got.items():
        q = wanted[key].question[0]
        ref = reference[(str(q.name).lower().rstrip("."), dns.rdatatype.to_text(q.rdtype))]
        rc, an, au = sections(r)
        assert (rc, an) == ref[:2]
        assert [x[:2] for x in au] == [x[:2] for x in ref[2]]
        assert r.flags & dns.flags.QR and r.rcode() == ref[0]
        assert (r.edns >= 0) == (wanted[key].edns >= 0)  # OPT answered with OPT
