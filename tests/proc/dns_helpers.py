"""Helpers for the DNS process tests: a zone repository in a temp dir served
over file://, free UDP+TCP ports, and small query wrappers on dnspython
(a real, independent DNS implementation)."""

import pathlib
import shutil
import socket
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parent / "dns_data"
ZONE_REPO = ROOT / "zone-repo"

KEYS = {
    "tester._update.zt.test.": ("hmac-sha256", "dGVzdGVyLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDE="),
    "xfr._transfer.zt.test.": ("hmac-sha512", "eGZyLXNlY3JldC1mb3ItdGVzdGluZy0wMTIzNDU2Nzg5YWJj"),
    "poke._notify.zt.test.": ("hmac-sha384", "cG9rZS1zZWNyZXQtZm9yLXRlc3RpbmctMDEyMzQ1Njc4OWFi"),
}


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@zt.test", *args],
                   cwd=cwd, check=True, capture_output=True)


def make_repo(tmp, with_lab=True):
    """A bare repository seeded with zt.test (+ the lab zones); returns
    (file:// URL, a working clone to push more commits from)."""
    tmp = pathlib.Path(tmp)
    bare = tmp / "remote.git"
    work = tmp / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    for f in DATA.iterdir():
        if f.name != "lsan.supp":  # not a zone (the primary would log it rejected)
            shutil.copy(f, work / f.name)
    if with_lab:
        for f in ZONE_REPO.iterdir():
            if f.is_file():
                shutil.copy(f, work / f.name)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "seed")
    git(work, "push", "-q", "origin", "HEAD:main")
    return f"file://{bare}", work


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def query(port, name, rdtype="A", tcp=False, host="127.0.0.1", payload=None, keyname=None,
          flags=None, timeout=3):
    q = dns.message.make_query(name, rdtype, use_edns=payload is not None,
                               payload=payload or 512)
    if flags is not None:
        q.flags = flags
    if keyname:
        alg, secret = KEYS[keyname]
        q.use_tsig(dns.tsigkeyring.from_text({keyname: secret}), keyname=keyname,
                   algorithm=alg)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, host, port=port, timeout=timeout)


def wait_serial(port, zone, serial, timeout=10, host="127.0.0.1"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            r = query(port, zone, "SOA", host=host)
            if r.answer:
                last = r.answer[0][0].serial
                if last == serial:
                    return True
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{zone} serial {last}, wanted {serial}")


def rrset_texts(section):
    """A section as a sorted list of 'name ttl class type rdata' lines, lower-cased."""
    out = []
    for rrset in section:
        for line in rrset.to_text().splitlines():
            out.append(line.lower())
    return sorted(out)


# For ASan builds (make proc-asan): a leak inside libgit2's PCRE2 use is not ours.
LSAN_ENV = {"LSAN_OPTIONS": f"suppressions={DATA / 'lsan.supp'}"}


def start_primary(start_service, url, port, *extra, poll="0"):
    return start_service("dns-primary", "--listen", f"127.0.0.1:{port}", "--remote", url,
                         "--poll", poll, *extra, ready_port=port, env=LSAN_ENV)


def port_free_on(addrs, port):
    """True when port is free for UDP and TCP on every address in addrs."""
    for a in addrs:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind((a, port))
                except OSError:
                    return False
    return True


def repo_with(tmp, name, files, message="seed"):
    """A bare repository (file:// URL) whose main branch holds files {name: text}."""
    bare, work = tmp / f"{name}.git", tmp / f"{name}-work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    for fname, text in files.items():
        (work / fname).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    git(work, "push", "-q", "origin", "HEAD:main")
    return f"file://{bare}"
