"""Process tests of the signer hop: messages from our domain come out with
DKIM signatures that dkimpy (an independent implementation) verifies."""
import base64
import os
import re
import subprocess

import dkim
import pytest

from pool_load import Events, Upstream, assert_loop_stayed_free, big_text, load, stop_during_work
from test_hop import BIN, Proc, delivered, free_port


@pytest.fixture
def keys(tmp_path):
    rsa, ed = tmp_path / "rsa.pem", tmp_path / "ed.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(ed)], check=True, capture_output=True)
    rsa_pub = subprocess.run(["openssl", "rsa", "-in", str(rsa), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
    ed_pub = subprocess.run(["openssl", "pkey", "-in", str(ed), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout[-32:]
    records = {
        b"rsa1._domainkey.envoi.test.": b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_pub),
        b"ed1._domainkey.envoi.test.": b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_pub),
    }
    return rsa, ed, records


def chain(tmp_path, keys, *extra):
    rsa, ed, _ = keys
    sport, port = free_port(), free_port()
    sink = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % sport, "--maildir",
                 str(tmp_path / "md")], sport, tmp_path / "sink.log")
    signer = Proc([os.path.join(BIN, "signer"), "--listen", "127.0.0.1:%d" % port, "--destination",
                   "127.0.0.1:%d" % sport, "--domain", "envoi.test", "--selector", "rsa1", "--private-key", str(rsa),
                   "--selector", "ed1", "--private-key", str(ed), *extra], port, tmp_path / "signer.log")
    return sink, signer


def strip_envelope(raw):
    lines = raw.split(b"\r\n")
    while lines[0].startswith((b"Return-Path:", b"X-Envoi-Rcpt:")):
        lines.pop(0)
    return b"\r\n".join(lines)


def dnsfunc_for(records):
    def dnsfunc(name, timeout=5):
        return records.get(name if name.endswith(b".") else name + b".")
    return dnsfunc


SIGNED = {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to", b"in-reply-to", b"references",
          b"mime-version", b"content-type", b"content-transfer-encoding"}

MESSAGES = [
    b"From: Alice <alice@envoi.test>\r\nTo: bob@outlook.test\r\nSubject: plain\r\n\r\nHello\r\n.dot line\r\n",
    b"From: alice@envoi.test\r\nTo: bob@outlook.test\r\nCc: carol@gmail.test\r\nSubject:  odd   spacing \t\r\n"
    b"List-Id: <l.envoi.test>\r\nX-Mailer: not signed\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n"
    b"Content-Type: text/plain\r\n\r\ntrailing spaces   \r\n\r\n\r\n--b1--\r\n\r\n\r\n",
    b"From: alice@envoi.test\r\nTo: bob@outlook.test\r\nSubject: long\r\n\r\n" + b"x" * 3000 + b"\r\n",
]


@pytest.mark.parametrize("canon", ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"])
def test_signatures_verify_with_dkimpy(tmp_path, keys, canon):
    sink, signer = chain(tmp_path, keys, "--canonicalization", canon, "--expiration", "86400")
    try:
        for m in MESSAGES:
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % signer.port, "--from", "alice@envoi.test",
                                "--to", "bob@outlook.test", "--data", "-"], input=m, capture_output=True)
            assert r.returncode == 0, r.stdout
        got = delivered(tmp_path / "md", len(MESSAGES))
        assert len(got) == len(MESSAGES)
        for raw in got:
            msg = strip_envelope(raw)
            assert msg.count(b"DKIM-Signature:") == 2
            assert b"c=" + canon.encode() in msg
            # t= always, x= = t= + --expiration, never l=; h= is the issue's
            # list as the fields occur, From once more (over-signed).
            import email
            for f in email.message_from_bytes(msg).get_all("DKIM-Signature"):
                tags = dict(t.strip().split("=", 1) for t in re.sub(r"\s+", "", f).split(";") if t.strip())
                assert int(tags["x"]) - int(tags["t"]) == 86400 and "l" not in tags, tags
                names = [n for n in re.findall(rb"^([A-Za-z-]+):", msg.split(b"\r\n\r\n", 1)[0], re.M)
                         if n.lower() != b"dkim-signature"]
                want = ["From"] + [n.decode() for n in names if n.lower() in SIGNED or n.lower().startswith(b"list-")]
                assert sorted(tags["h"].split(":"), key=str.lower) == sorted(want, key=str.lower), (tags["h"], names)
            d = dkim.DKIM(msg)
            assert d.verify(idx=0, dnsfunc=dnsfunc_for(keys[2])), "rsa signature failed"
            assert d.verify(idx=1, dnsfunc=dnsfunc_for(keys[2])), "ed25519 signature failed"
            # Any change to the body breaks both signatures.
            bad = msg.replace(b"\r\n\r\n", b"\r\n\r\nX", 1)
            for idx in (0, 1):
                try:
                    ok = dkim.DKIM(bad).verify(idx=idx, dnsfunc=dnsfunc_for(keys[2]))
                except dkim.ValidationError:
                    ok = False
                assert not ok
    finally:
        signer.stop()
        sink.stop()


def test_foreign_and_malformed_mail_passes_unsigned(tmp_path, keys):
    sink, signer = chain(tmp_path, keys)
    try:
        for m in [b"From: x@gmail.test\r\nSubject: not ours\r\n\r\nbody\r\n",
                  b"no header at all, just text\r\n",
                  b"From: a@envoi.test\r\nFrom: b@envoi.test\r\n\r\ntwo froms\r\n"]:
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % signer.port, "--from", "x@gmail.test",
                                "--to", "bob@outlook.test", "--data", "-"], input=m, capture_output=True)
            assert r.returncode == 0, r.stdout
        got = delivered(tmp_path / "md", 3)
        assert len(got) == 3
        assert all(b"DKIM-Signature" not in g for g in got)
        assert signer.text().count("msg=dkim.unsigned") == 3
    finally:
        signer.stop()
        sink.stop()


def test_config_errors(tmp_path, keys):
    sg = os.path.join(BIN, "signer")
    r = subprocess.run([sg, "-n", "--destination", "x:25"], capture_output=True, text=True)
    assert r.returncode == 2 and "--selector" in r.stderr
    r = subprocess.run([sg, "-n", "--destination", "x:25", "--selector", "s", "--private-key", "/nonexistent"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "/nonexistent" in r.stderr
    r = subprocess.run([sg, "-n", "--destination", "x:25", "--selector", "s", "--private-key", str(keys[0])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ---- the loop stays free while workers sign ----

def test_loop_answers_while_big_messages_are_signed(tmp_path, keys, monkeypatch):
    """Four 16 MB messages from our domain at once (hashing them is the
    work), then /healthz and a small message on another session: both are
    answered before the last big signature is finished (the signer sends
    DATA upstream only after signing, and aiosmtpd notes its arrival in the
    same ordered event list). Every message arrives once, and dkimpy
    verifies both signatures of each: workers share one RSA context per key."""
    rsa, ed, records = keys
    events = Events()
    up = Upstream(events)
    port, admin = free_port(), free_port()
    monkeypatch.setenv("UV_THREADPOOL_SIZE", "8")  # more workers than big messages: the small one never queues
    signer = Proc([os.path.join(BIN, "signer"), "--listen", "127.0.0.1:%d" % port, "--destination",
                   "127.0.0.1:%d" % up.port, "--domain", "envoi.test", "--admin", "127.0.0.1:%d" % admin,
                   "--selector", "rsa1", "--private-key", str(rsa), "--selector", "ed1", "--private-key", str(ed)],
                  port, tmp_path / "signer.log")
    try:
        bigs = {"big%d@outlook.test" % i: b"From: alice@envoi.test\r\nTo: bob@outlook.test\r\nSubject: big %d\r\n\r\n"
                % i + big_text(16 << 20, i) for i in range(4)}
        small = ("small@outlook.test", b"From: alice@envoi.test\r\nTo: bob@outlook.test\r\nSubject: small\r\n\r\nhi\r\n")
        errors = load(port, admin, events, "alice@envoi.test", bigs, small)
        assert errors == []
        # /healthz was answered while a big message was still being signed,
        # the small one accepted while a big one still waited for its reply.
        assert_loop_stayed_free(events, bigs)
        assert sorted(up.stored) == sorted(list(bigs) + [small[0]])
        for rcpt, got in up.stored.items():
            assert len(got) == 1, rcpt
            msg = got[0]
            original = bigs.get(rcpt, small[1])
            assert msg.endswith(original)
            assert msg.count(b"DKIM-Signature:") == 2
            d = dkim.DKIM(msg)
            assert d.verify(idx=0, dnsfunc=dnsfunc_for(records)), "rsa signature failed: " + rcpt
            assert d.verify(idx=1, dnsfunc=dnsfunc_for(records)), "ed25519 signature failed: " + rcpt
        assert signer.text().count("msg=dkim.signed") == 5
    finally:
        signer.stop()
        up.stop()


def test_sigterm_while_workers_sign(tmp_path, keys, monkeypatch):
    """SIGTERM with four big messages on the workers: exit 0, loop closed,
    nothing leaked under ASan (the jobs finish on keys main() frees only
    after the loop ended), nothing acknowledged and lost."""
    rsa, ed, _ = keys
    events = Events()
    up = Upstream(events)
    port = free_port()
    monkeypatch.setenv("UV_THREADPOOL_SIZE", "2")
    signer = Proc([os.path.join(BIN, "signer"), "--listen", "127.0.0.1:%d" % port, "--destination",
                   "127.0.0.1:%d" % up.port, "--domain", "envoi.test", "--selector", "rsa1", "--private-key", str(rsa),
                   "--selector", "ed1", "--private-key", str(ed)], port, tmp_path / "signer.log")
    try:
        bigs = {"big%d@outlook.test" % i: b"From: alice@envoi.test\r\nSubject: big %d\r\n\r\n" % i
                + big_text(8 << 20, i) for i in range(4)}
        stop_during_work(signer, events, up, "alice@envoi.test", bigs)
    finally:
        signer.stop()
        up.stop()


# ---- key publication to the primary (TSIG UPDATE, committed to git) ----

def txt_at(port, name):
    """The TXT records at name on the primary (strings joined), via dnspython."""
    import dns.rcode
    from dns_helpers import query
    r = query(port, name, "TXT", tcp=True)
    if r.rcode() == dns.rcode.NXDOMAIN or not r.answer:
        return []
    return sorted(b"".join(rd.strings) for rd in r.answer[0])


def git_log(url):
    return subprocess.run(["git", "--git-dir", url[len("file://"):], "log", "--format=%an %s"],
                          capture_output=True, text=True, check=True).stdout.splitlines()


def test_keys_published_to_the_primary(tmp_path, keys, start_service):
    """At start the signer looks its selectors up on the primary and, when a
    record is missing or different, replaces it (never adds beside it) with a
    TSIG-signed UPDATE; dns-primary commits the change to its git repository.
    A second start with the records in place changes nothing. The published
    keys are the ones the signatures verify with (dkimpy, looking up the
    primary itself)."""
    from dns_helpers import KEYS, free_port as dns_port, make_repo, start_primary
    import dkim
    _, ed, records = keys
    # RSA 4096: its record (over 700 bytes) does not fit a plain UDP answer,
    # so the signer's check must follow TC to TCP or it would republish
    # (and commit) at every start.
    rsa = tmp_path / "rsa4k.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "4096"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(rsa), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    records = dict(records)
    records[b"rsa1._domainkey.envoi.test."] = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    url, _ = make_repo(tmp_path)
    dport = dns_port()
    start_primary(start_service, url, dport)
    alg, secret = KEYS["tester._update.zt.test."]
    key = "tester._update.zt.test:SHA256:%s" % secret
    # A stale key at one selector (two TXT records: both must go).
    import dns.tsigkeyring
    import dns.update
    import dns.query
    u = dns.update.UpdateMessage("zt.test", keyring=dns.tsigkeyring.from_text({"tester._update.zt.test.": secret}),
                                 keyname="tester._update.zt.test.", keyalgorithm=alg)
    u.add("ed1._domainkey.zt.test.", 300, "TXT", '"v=DKIM1; k=ed25519; p=c3RhbGU="')
    u.add("ed1._domainkey.zt.test.", 300, "TXT", '"v=DKIM1; p=b2xk"')
    assert dns.query.tcp(u, "127.0.0.1", port=dport, timeout=5).rcode() == 0
    assert len(txt_at(dport, "ed1._domainkey.zt.test")) == 2
    commits = len(git_log(url))

    want = {n.replace(b"envoi.test", b"zt.test").rstrip(b".").decode(): v for n, v in records.items()}
    for start in (1, 2):
        sport, port = free_port(), free_port()
        sink = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % sport, "--maildir",
                     str(tmp_path / "md")], sport, tmp_path / ("sink%d.log" % start))
        signer = Proc([os.path.join(BIN, "signer"), "--listen", "127.0.0.1:%d" % port, "--destination",
                       "127.0.0.1:%d" % sport, "--domain", "zt.test", "--selector", "rsa1", "--private-key", str(rsa),
                       "--selector", "ed1", "--private-key", str(ed), "--dns-server", "127.0.0.1:%d" % dport,
                       "--dns-key", key], port, tmp_path / ("signer%d.log" % start))
        try:
            for name, txt in want.items():
                assert txt_at(dport, name) == [txt], name  # exactly our record: replaced, not added
            log = signer.text()
            if start == 1:
                assert log.count("status=replaced") == 2, log
                after = git_log(url)
                assert len(after) == commits + 2, after  # one commit per UPDATE
                assert all(l.startswith("tester._update.zt.test") for l in after[:2]), after
                commits = len(after)
            else:
                assert log.count("status=current") == 2 and "status=replaced" not in log, log
                assert len(git_log(url)) == commits  # nothing to change, nothing committed
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "alice@zt.test", "--to",
                                "bob@outlook.test", "--data", "-"],
                               input=b"From: alice@zt.test\r\nTo: bob@outlook.test\r\nSubject: k%d\r\n\r\nhi\r\n" % start,
                               capture_output=True)
            assert r.returncode == 0, r.stdout
        finally:
            signer.stop()
            sink.stop()
    got = delivered(tmp_path / "md", 2)
    assert len(got) == 2

    def from_primary(name, timeout=5):
        txt = txt_at(dport, name.decode().rstrip("."))
        return txt[0] if len(txt) == 1 else None

    for raw in got:
        msg = strip_envelope(raw)
        assert msg.count(b"DKIM-Signature:") == 2
        for idx in (0, 1):
            assert dkim.DKIM(msg).verify(idx=idx, dnsfunc=from_primary), idx


def test_several_sign_domains(tmp_path, keys):
    """--sign-domain (repeatable): mail from each listed domain is signed with
    d= its own From domain (aligned for DMARC; From's case does not matter),
    mail from a domain not listed (even a subdomain) passes unsigned."""
    rsa, ed, records = keys
    recs = dict(records)
    for name, txt in records.items():
        recs[name.replace(b"envoi.test", b"other.test")] = txt
    sink, signer = chain(tmp_path, keys, "--sign-domain", "envoi.test", "--sign-domain", "Other.Test")
    try:
        sent = [(b"alice@envoi.test", b"envoi.test"), (b"BOB@OTHER.TEST", b"other.test"),
                (b"carol@sub.envoi.test", None), (b"dave@gmail.test", None)]
        for addr, _ in sent:
            m = b"From: " + addr + b"\r\nTo: x@outlook.test\r\nSubject: from " + addr + b"\r\n\r\nhello\r\n"
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % signer.port, "--from", addr.decode(),
                                "--to", "x@outlook.test", "--data", "-"], input=m, capture_output=True)
            assert r.returncode == 0, r.stdout
        got = {re.search(rb"^Subject: from (\S+)\r$", g, re.M).group(1): strip_envelope(g)
               for g in delivered(tmp_path / "md", len(sent))}
        assert len(got) == len(sent)
        for addr, d in sent:
            msg = got[addr]
            if d is None:
                assert b"DKIM-Signature" not in msg, addr
                continue
            assert msg.count(b"DKIM-Signature:") == 2 and msg.count(b"d=" + d + b";") == 2, msg[:600]
            for idx in (0, 1):
                assert dkim.DKIM(msg).verify(idx=idx, dnsfunc=dnsfunc_for(recs)), (addr, idx)
        assert signer.text().count("msg=dkim.unsigned") == 2
    finally:
        signer.stop()
        sink.stop()
