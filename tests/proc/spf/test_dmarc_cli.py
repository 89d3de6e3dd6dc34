"""DMARC through the real binary: `envoi spf dmarc` against a loopback DNS
server, and `envoi spf org-domain` against libpsl's `psl` tool (an
independent Public Suffix List implementation) over the whole list.

Run: make && /usr/bin/python3 -m pytest -q tests/proc/spf/test_dmarc_cli.py
"""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
from zoneserver import ZoneServer  # noqa: E402

# ENVOI_BIN (one binary) or ENVOI_BIN_DIR (like conftest.py, e.g. an ASan build)
ENVOI = os.environ.get("ENVOI_BIN") or os.path.join(
    os.environ.get("ENVOI_BIN_DIR", os.path.join(ROOT, "build", "bin")), "envoi")
PSL_FILE = "/usr/share/publicsuffix/public_suffix_list.dat"
BATCH = 1000

ZONE = {
    "_dmarc.example.test": [{"TXT": "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.test"},
                            {"TXT": "some other text"}],
    "_dmarc.strict.test": [{"TXT": "v=DMARC1; p=quarantine; adkim=s; aspf=s"}],
    "_dmarc.watch.test": [{"TXT": "v=DMARC1; p=none"}],
    "_dmarc.sample.test": [{"TXT": "v=DMARC1; p=reject; pct=0"}],
    "_dmarc.own.example.test": [{"TXT": "v=DMARC1; p=none"}],
    "_dmarc.dup.test": [{"TXT": "v=DMARC1; p=reject"}, {"TXT": "v=DMARC1; p=none"}],
    "_dmarc.split.test": [{"TXT": ["v=DMARC1; ", "p=reject"]}],
    "_dmarc.slow.test": ["TIMEOUT"],
}

# (from, spf-pass domain, dkim domains) -> result, policy, disposition
CASES = [
    ("example.test", "example.test", [], "pass", "reject", "none"),
    ("example.test", "bounces.example.test", [], "pass", "reject", "none"),  # relaxed SPF
    ("example.test", None, ["mail.example.test"], "pass", "reject", "none"),  # relaxed DKIM
    ("example.test", "evil.test", ["example.test.evil.test"], "fail", "reject", "reject"),
    ("example.test", None, [], "fail", "reject", "reject"),
    ("news.example.test", "other.test", [], "fail", "quarantine", "quarantine"),  # sp
    ("own.example.test", "other.test", [], "fail", "none", "none"),  # its own record, not sp
    ("strict.test", "mail.strict.test", ["mail.strict.test"], "fail", "quarantine", "quarantine"),
    ("strict.test", None, ["strict.test"], "pass", "quarantine", "none"),
    ("watch.test", "other.test", [], "fail", "none", "none"),
    ("sample.test", "other.test", [], "fail", "reject", "quarantine"),  # pct=0 -> one step down
    ("nothing.test", "nothing.test", [], "none", "", "none"),
    ("dup.test", "other.test", [], "none", "", "none"),
    ("split.test", "other.test", [], "fail", "reject", "reject"),
    ("slow.test", "slow.test", [], "temperror", "", "none"),
]


@pytest.fixture(scope="module")
def dns_server():
    srv = ZoneServer(ZONE)
    yield srv
    srv.stop()


def dmarc(port, frm, spf_dom, dkim):
    cmd = [ENVOI, "spf", "dmarc", "--from", frm, "--nameserver", "127.0.0.1:%d" % port,
           "--timeout", "250"]
    if spf_dom:
        cmd += ["--spf-domain", spf_dom]
    for d in dkim:
        cmd += ["--dkim-domain", d]
    out = subprocess.run(cmd, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().split("\n")
    fields = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return lines[0], fields


@pytest.mark.parametrize("frm,spf_dom,dkim,result,policy,dis", CASES,
                         ids=["%s-%s" % (c[0], c[3]) for c in CASES])
def test_dmarc_case(dns_server, frm, spf_dom, dkim, result, policy, dis):
    got, f = dmarc(dns_server.port, frm, spf_dom, dkim)
    assert got == result, f
    assert f["policy"] == policy
    assert f["disposition"] == dis
    ar = f["Authentication-Results"]
    assert ar.startswith("dmarc=%s " % result)
    assert ar.endswith("header.from=%s" % frm)
    if policy and result in ("pass", "fail"):
        assert "(p=%s dis=%s)" % (policy, dis) in ar


def psl_names():
    """Test names from every ASCII rule: the rule, one and two labels more."""
    names = []
    with open(PSL_FILE, encoding="utf-8") as fh:
        for line in fh:
            rule = line.strip().split(" ")[0]
            if not rule or rule.startswith("//") or not rule.isascii():
                continue
            if rule.startswith("!"):
                base = rule[1:]
                names += [base, "x." + base]
            elif rule.startswith("*."):
                base = "w" + rule[1:]
                names += [base, "x." + base, "y.x." + base]
            else:
                names += [rule, "x." + rule, "y.x." + rule]
    return names + ["mail.example.test", "a.b.c.example.test", "example.test", "test"]


def test_org_domain_matches_libpsl():
    assert shutil.which("psl"), "libpsl's psl tool missing (Debian package psl)"
    names = psl_names()
    assert len(names) > 15000
    mismatches = []
    for i in range(0, len(names), BATCH):
        chunk = names[i:i + BATCH]
        ours = subprocess.run([ENVOI, "spf", "org-domain", "--psl", PSL_FILE] + chunk,
                              capture_output=True, check=True).stdout.decode().splitlines()
        theirs = subprocess.run(["psl", "--print-reg-domain", "--load-psl-file", PSL_FILE] + chunk,
                                capture_output=True, check=True).stdout.decode().splitlines()
        assert len(ours) == len(theirs) == len(chunk)
        for name, o, t in zip(chunk, ours, theirs):
            o, t = o.split(": ", 1)[1], t.split(": ", 1)[1]
            # libpsl says (null) for a public suffix; envoi makes it its own org domain
            want = name.lower() if t == "(null)" else t
            if o != want:
                mismatches.append("%s: envoi %s, psl %s" % (name, o, t))
    print("org-domain: %d names compared with libpsl, %d mismatches" % (len(names), len(mismatches)))
    assert not mismatches, "\n".join(mismatches[:20])
