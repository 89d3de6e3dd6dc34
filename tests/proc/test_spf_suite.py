"""The openspf conformance suites (shipped by python3-spf) against `envoi spf check`.

For every scenario a DNS server on 127.0.0.1 serves that scenario's zone
data (tests/proc/spf/zoneserver.py); every test runs the real CLI binary
against it and compares the result word (and the explanation, when the suite
gives one) with the suite's expectation. A test that cannot pass is listed
with its reason in tests/proc/spf/skiplist.txt; nothing else is skipped.

Run: make && /usr/bin/python3 -m pytest -q tests/proc/test_spf_suite.py
"""
import gzip
import os
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "spf"))
from zoneserver import ZoneServer  # noqa: E402

ENVOI = os.path.join(ROOT, "build", "bin", "envoi")
SUITE_DIR = "/usr/share/doc/python3-spf"
SUITES = ["rfc7208-tests.yml.gz", "rfc4408-tests.yml.gz"]
SKIPLIST = os.path.join(HERE, "spf", "skiplist.txt")
TIMEOUT_MS = 250  # per DNS try; TIMEOUT zone entries cost two tries


def load_skips():
    skips = {}
    with open(SKIPLIST) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, reason = line.partition(" ")
            skips[key] = reason.strip()
    return skips


def load_cases():
    cases = []
    for suite in SUITES:
        path = os.path.join(SUITE_DIR, suite)
        if not os.path.exists(path):
            continue
        with gzip.open(path, "rb") as fh:
            for idx, scen in enumerate(yaml.safe_load_all(fh)):
                for tid, t in scen["tests"].items():
                    cases.append((suite.split("-")[0], idx, scen, tid, t))
    return cases


CASES = load_cases()
SKIPS = load_skips()
_servers = {}


@pytest.fixture(scope="module", autouse=True)
def _stop_servers():
    yield
    for srv in _servers.values():
        srv.stop()
    _servers.clear()


def server_for(suite, idx, scen):
    key = (suite, idx)
    if key not in _servers:
        _servers[key] = ZoneServer(scen["zonedata"])
    return _servers[key]


def run_check(port, t):
    cmd = [ENVOI, "spf", "check", "--ip", t["host"], "--sender", t["mailfrom"],
           "--helo", t["helo"], "--nameserver", "127.0.0.1:%d" % port,
           "--timeout", str(TIMEOUT_MS), "--default-explanation", "DEFAULT"]
    if t.get("receiver"):
        cmd += ["--receiver", t["receiver"]]
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    lines = out.stdout.decode("utf-8", "replace").split("\n")
    fields = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return lines[0], fields, out.stdout.decode("utf-8", "replace")


def test_suites_present():
    assert CASES, "python3-spf conformance suites not found in " + SUITE_DIR
    assert os.access(ENVOI, os.X_OK), "build/bin/envoi missing: run make"


@pytest.mark.parametrize(
    "suite,idx,scen,tid,t", CASES, ids=["%s:%s" % (c[0], c[3]) for c in CASES])
def test_spf_case(suite, idx, scen, tid, t):
    key = "%s:%s" % (suite, tid)
    if key in SKIPS:
        pytest.skip(SKIPS[key])
    srv = server_for(suite, idx, scen)
    result, fields, raw = run_check(srv.port, t)
    want = t["result"] if isinstance(t["result"], list) else [t["result"]]
    assert result in want, "%s: got %s, want %s\n%s" % (key, result, want, raw)
    if t.get("explanation") is not None:
        assert fields.get("explanation") == t["explanation"], raw
    # the header line is always well formed and agrees with the result word
    hdr = [l for l in raw.split("\n") if l.startswith("Received-SPF: ")]
    assert hdr and hdr[0].split()[1] == result, raw


def test_skiplist_entries_exist():
    """A skip entry for a test that does not exist is stale and must go."""
    names = {"%s:%s" % (c[0], c[3]) for c in CASES}
    assert set(SKIPS) <= names, set(SKIPS) - names
