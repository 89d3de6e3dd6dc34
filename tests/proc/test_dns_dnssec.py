"""DNSSEC validation in dns-resolver against a signed loopback lab: the root
and test. (signed with ldns-signzone, DS records linking them) served by our
dns-primary on 127.0.0.6; sec.test (signed, DS in test.), bad.test (signed,
then tampered with) and plain.test (unsigned, no DS) on 127.0.0.7. The only
trust anchor is the root's key."""

import os
import pathlib
import re
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from dns_helpers import LSAN_ENV, free_port, port_free_on, repo_with

ROOT = """$ORIGIN .
$TTL 3600
@ SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 300
@ NS a.root.test.
test. NS a.root.test.
a.root.test. A 127.0.0.6
"""
TEST = """$ORIGIN test.
$TTL 3600
@ SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 300
@ NS a.root
a.root A 127.0.0.6
sec NS ns.sec
ns.sec A 127.0.0.7
bad NS ns.sec
plain NS ns.sec
"""
SEC = """$ORIGIN {zone}.
$TTL 600
@ SOA ns.sec.test. hostmaster.sec.test. 1 3600 600 86400 120
@ NS ns.sec.test.
www A 192.0.2.10
*.wild A 192.0.2.99
cname CNAME www
@ MX 10 www
"""


def sh(cwd, *args):
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=True).stdout


def sign(d, fname, origin, text, extra=""):
    """Signs text (plus extra records, e.g. DS) with a fresh KSK and ZSK; returns
    (signed text, DS records of the KSK, KSK DNSKEY record)."""
    ksk = sh(d, "ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin).strip()
    zsk = sh(d, "ldns-keygen", "-a", "ECDSAP256SHA256", origin).strip()
    (d / fname).write_text(text + extra)
    sh(d, "ldns-signzone", "-o", origin, fname, zsk, ksk)
    signed = (d / (fname + ".signed")).read_text()
    ds = sh(d, "ldns-key2ds", "-n", "-2", ksk + ".key").strip()
    key = (d / (ksk + ".key")).read_text().strip()
    return signed, ds, key


@pytest.fixture(scope="module")
def signed_lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("dnssec")
    sec, sec_ds, _ = sign(d, "sec.test", "sec.test.", SEC.format(zone="sec.test"))
    bad, bad_ds, _ = sign(d, "bad.test", "bad.test.", SEC.format(zone="bad.test"))
    # tamper after signing: the signature no longer matches the data
    bad = re.sub(r"(www\.bad\.test\.\s+\d+\s+IN\s+A\s+)192\.0\.2\.10", r"\g<1>192.0.2.66", bad)
    assert "192.0.2.66" in bad
    # and a forged denial: the NSEC at www.bad.test claims one more type
    bad, n = re.subn(r"(?m)^(www\.bad\.test\.\s+\d+\s+IN\s+NSEC\s+.*)$", r"\1 HINFO", bad)
    assert n == 1
    test, test_ds, _ = sign(d, "test", "test.", TEST, sec_ds + "\n" + bad_ds + "\n")
    root, _, root_key = sign(d, "_root", ".", ROOT, test_ds + "\n")
    anchor = d / "root.anchor"
    anchor.write_text("; the lab root's key signing key\n" + root_key + "\n")
    addrs = ["127.0.0.6", "127.0.0.7"]
    port = next(p for p in (free_port() for _ in range(50)) if port_free_on(addrs, p))
    bin_dir = os.environ.get("ENVOI_BIN_DIR", pathlib.Path(__file__).resolve().parents[2] / "build" / "bin")
    procs = []
    for addr, url in (("127.0.0.6", repo_with(d, "top", {"_root": root, "test": test}, "signed zones")),
                      ("127.0.0.7", repo_with(d, "leaf", {"sec.test": sec, "bad.test": bad,
                                                          "plain.test": SEC.format(zone="plain.test")},
                                              "signed zones"))):
        procs.append(subprocess.Popen([str(pathlib.Path(bin_dir) / "dns-primary"), "--listen",
                                       f"{addr}:{port}", "--remote", url, "--poll", "0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, **LSAN_ENV}))
    hints = d / "root.hints"
    hints.write_text(f"127.0.0.6@{port}\n")
    try:
        deadline = time.time() + 15
        for addr, zone in (("127.0.0.6", "test."), ("127.0.0.7", "sec.test.")):
            while True:
                try:
                    if dns.query.udp(dns.message.make_query(zone, "SOA"), addr, port=port, timeout=0.5).answer:
                        break
                except Exception:
                    pass
                assert time.time() < deadline, f"{addr} not answering"
                time.sleep(0.1)
        yield {"port": port, "hints": hints, "anchor": anchor}
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


@pytest.fixture
def validator(signed_lab, start_service):
    port = free_port()
    svc = start_service("dns-resolver", "--listen", f"127.0.0.1:{port}", "--root-hints",
                        signed_lab["hints"], "--query-port", signed_lab["port"], "--trust-anchor",
                        signed_lab["anchor"], ready_port=port, env=LSAN_ENV)
    svc.port = port
    return svc


def ask(port, name, rdtype="A", do=True, cd=False):
    q = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0)
    if cd:
        q.flags |= dns.flags.CD
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=10)


def test_primary_returns_rrsigs_with_do(signed_lab):
    q = dns.message.make_query("www.sec.test", "A", want_dnssec=True)
    r = dns.query.udp(q, "127.0.0.7", port=signed_lab["port"], timeout=3)
    assert {rs.rdtype for rs in r.answer} == {dns.rdatatype.A, dns.rdatatype.RRSIG}
    plain = dns.query.udp(dns.message.make_query("www.sec.test", "A"), "127.0.0.7",
                          port=signed_lab["port"], timeout=3)
    assert {rs.rdtype for rs in plain.answer} == {dns.rdatatype.A}


def test_signed_answer_gets_ad(validator):
    r = ask(validator.port, "www.sec.test")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AD
    assert dns.rdatatype.RRSIG in {rs.rdtype for rs in r.answer}
    quiet = ask(validator.port, "www.sec.test", do=False)
    assert not (quiet.flags & dns.flags.AD)  # RFC 6840: only for DO or AD askers
    assert {rs.rdtype for rs in quiet.answer} == {dns.rdatatype.A}  # no RRSIG without DO


def test_wildcard_cname_and_mx_validate(validator):
    for name, rdtype in (("x.wild.sec.test", "A"), ("cname.sec.test", "A"), ("sec.test", "MX")):
        r = ask(validator.port, name, rdtype)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AD, name


def test_tampered_zone_is_bogus(validator):
    r = ask(validator.port, "www.bad.test")
    assert r.rcode() == dns.rcode.SERVFAIL and not r.answer
    unchecked = ask(validator.port, "www.bad.test", cd=True)  # CD: the client validates
    assert unchecked.rcode() == dns.rcode.NOERROR
    assert not (unchecked.flags & dns.flags.AD)
    assert "192.0.2.66" in unchecked.answer[0].to_text()


def test_unsigned_zone_is_insecure(validator):
    r = ask(validator.port, "www.plain.test")
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    assert not (r.flags & dns.flags.AD)


def test_wrong_anchor_makes_everything_bogus(signed_lab, start_service, tmp_path):
    other = tmp_path / "other.anchor"
    key = sh(tmp_path, "ldns-keygen", "-a", "ECDSAP256SHA256", "-k", ".").strip()
    other.write_text((tmp_path / (key + ".key")).read_text())
    port = free_port()
    start_service("dns-resolver", "--listen", f"127.0.0.1:{port}", "--root-hints",
                  signed_lab["hints"], "--query-port", signed_lab["port"], "--trust-anchor", other,
                  ready_port=port, env=LSAN_ENV)
    assert ask(port, "www.sec.test").rcode() == dns.rcode.SERVFAIL


def test_primary_proves_denials_with_nsec(signed_lab):
    port = signed_lab["port"]
    for name, rdtype, rcode in (("nope.sec.test", "A", dns.rcode.NXDOMAIN),
                                ("www.sec.test", "TXT", dns.rcode.NOERROR)):
        r = dns.query.udp(dns.message.make_query(name, rdtype, want_dnssec=True), "127.0.0.7",
                          port=port, timeout=3)
        assert r.rcode() == rcode and not r.answer
        types = {rs.rdtype for rs in r.authority}
        assert types == {dns.rdatatype.SOA, dns.rdatatype.NSEC, dns.rdatatype.RRSIG}, name
    # an unsigned delegation: the NSEC at the cut shows there is no DS
    r = dns.query.udp(dns.message.make_query("www.plain.test", "A", want_dnssec=True), "127.0.0.6",
                      port=port, timeout=3)
    assert {rs.rdtype for rs in r.authority} == {dns.rdatatype.NS, dns.rdatatype.NSEC, dns.rdatatype.RRSIG}


def test_signed_denials_get_ad(validator):
    nx = ask(validator.port, "nope.sec.test")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AD
    nodata = ask(validator.port, "www.sec.test", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.flags & dns.flags.AD
    plain_nx = ask(validator.port, "nope.plain.test")
    assert plain_nx.rcode() == dns.rcode.NXDOMAIN and not (plain_nx.flags & dns.flags.AD)


def test_forged_denial_is_bogus(validator):
    r = ask(validator.port, "www.bad.test", "TXT")
    assert r.rcode() == dns.rcode.SERVFAIL
