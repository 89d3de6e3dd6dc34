"""Process tests of the verifier (the MX): SPF, DKIM and DMARC recorded in
headers, no open relay, forged results stripped, PROXY protocol and early
talkers. DNS comes from a real DNS server on loopback (dnspython) serving
each domain's records; signatures come from dkimpy."""
import base64
import email
import os
import re
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import time

import authres
import dkim
import pytest

from test_hop import BIN, Proc, delivered, free_port

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "spf"))
from zoneserver import ZoneServer  # noqa: E402


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    key = d / "k.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(key), "2048"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return key.read_bytes(), base64.b64encode(pub).decode()


@pytest.fixture(scope="module")
def zone(rsa_key):
    data = {
        "gmail.test": [{"TXT": "v=spf1 ip4:127.0.0.1 ip4:10.77.0.25 -all"}],
        "_dmarc.gmail.test": [{"TXT": "v=DMARC1; p=reject"}],
        "sel._domainkey.gmail.test": [{"TXT": ["v=DKIM1; k=rsa; p=" + rsa_key[1][:200], rsa_key[1][200:]]}],
        "spoof.test": [{"TXT": "v=spf1 -all"}],
        "_dmarc.spoof.test": [{"TXT": "v=DMARC1; p=reject"}],
        "relaxed.test": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
        "mail.relaxed.test": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
        "_dmarc.relaxed.test": [{"TXT": "v=DMARC1; p=quarantine; aspf=s"}],
        "client.gmail.test": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
        "slow.test": ["TIMEOUT"],  # never answered
        "late.test": [{"TXT": "v=spf1 -all"}],
        "_dmarc.late.test": [{"TXT": "v=DMARC1; p=reject"}],
        "sel._domainkey.late.test": ["TIMEOUT"],  # the key cannot be fetched now
        "sloppy.test": [{"TXT": "v=spf1 ip4:127.0.0.1 bogus:mechanism -all"}],
        "_dmarc.sampled.test": [{"TXT": "v=DMARC1; p=reject; pct=0"}],
        # bücher.test, published (as DNS must) under its A-label
        "xn--bcher-kva.test": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
        "_dmarc.xn--bcher-kva.test": [{"TXT": "v=DMARC1; p=reject"}],
        "_dmarc.parent.test": [{"TXT": "v=DMARC1; p=none; sp=reject"}],
        # a sender's own record that costs the most RFC 7208 allows: 10 mx
        # terms of 10 hosts each (110 queries), none matching
        "greedy.test": [{"TXT": "v=spf1 " + " ".join("mx:m%d.greedy.test" % i for i in range(10)) + " -all"}],
        **{"m%d.greedy.test" % i: [{"MX": [k, "h%d-%d.greedy.test" % (i, k)]} for k in range(10)] for i in range(10)},
        **{"h%d-%d.greedy.test" % (i, k): [{"A": "192.0.2.%d" % (k + 1)}] for k in range(10) for i in range(10)},
        "_dmarc.sloppy.test": [{"TXT": "v=DMARC1; p=quarantine"}],
    }
    z = ZoneServer(data)
    yield z
    z.stop()


def start(tmp_path, zone, *extra):
    sport, port = free_port(), free_port()
    sink = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % sport, "--maildir",
                 str(tmp_path / "md")], sport, tmp_path / "sink.log")
    v = Proc([os.path.join(BIN, "verifier"), "--listen", "127.0.0.1:%d" % port, "--destination",
              "127.0.0.1:%d" % sport, "--domain", "mx.envoi.test", "--recipient-domain", "envoi.test",
              "--nameserver", "127.0.0.1:%d" % zone.port, *extra], port, tmp_path / "verifier.log")
    return sink, v


@pytest.fixture
def mx(tmp_path, zone):
    sink, v = start(tmp_path, zone)
    v.md = tmp_path / "md"
    yield v
    v.stop()
    sink.stop()


def swaks(port, frm, to, data, helo="client.gmail.test", extra=()):
    return subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--helo", helo, "--from", frm, "--to", to,
                           "--data", "-", *extra], input=data, capture_output=True)


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode()


def our_authres(raw):
    """Our Authentication-Results value, unfolded (the first one: ours is on top)."""
    return " ".join(str(email.message_from_bytes(raw).get_all("Authentication-Results")[0]).split())


def signed(rsa_key, body=b"Hello Bob\r\n"):
    msg = (b"From: Alice <alice@gmail.test>\r\nTo: bob@envoi.test\r\nSubject: hi\r\n"
           b"Message-ID: <1@gmail.test>\r\n\r\n" + body)
    sig = dkim.sign(msg, b"sel", b"gmail.test", rsa_key[0], include_headers=[b"from", b"to", b"subject"])
    return sig + msg


def test_aligned_mail_passes_everything(mx, rsa_key):
    r = swaks(mx.port, "alice@gmail.test", "bob@envoi.test", signed(rsa_key))
    assert r.returncode == 0, r.stdout
    (raw,) = delivered(mx.md, 1)
    h = header_block(raw)
    assert "Received-SPF: pass" in h and "client-ip=127.0.0.1;" in h and "envelope-from=\"alice@gmail.test\"" in h
    assert "Authentication-Results: mx.envoi.test;" in h
    assert "spf=pass smtp.mailfrom=alice@gmail.test" in h
    assert "dkim=pass" in h and "header.d=gmail.test" in h
    assert "dmarc=pass" in h and "header.from=gmail.test" in h
    # trace fields of this hop sit above its Received: (RFC 7208 §9.1)
    ours = h.index("(envoi verifier)")
    assert h.index("Received-SPF: pass") < h.index("Authentication-Results: mx.envoi.test;") < ours


def test_tampered_body_fails_dkim_but_spf_aligns(mx, rsa_key):
    msg = signed(rsa_key).replace(b"Hello Bob", b"Hello Eve")
    assert swaks(mx.port, "alice@gmail.test", "bob@envoi.test", msg).returncode == 0
    h = header_block(delivered(mx.md, 1)[0])
    assert "dkim=fail" in h
    assert "dmarc=pass" in h  # SPF passed for the aligned MAIL FROM domain


def test_one_silent_name_does_not_fail_the_other_checks(mx, rsa_key):
    """The MAIL FROM domain's DNS never answers: SPF is temperror, but the
    HELO check, the DKIM key and the DMARC record are still looked up (one
    timeout must not make the resolver give up on the server for the rest of
    the message), so DKIM passes and carries DMARC, and the message flows."""
    r = swaks(mx.port, "bounce@slow.test", "bob@envoi.test", signed(rsa_key))
    assert r.returncode == 0, r.stdout
    h = header_block(delivered(mx.md, 1)[0])
    assert "Received-SPF: temperror" in h and "spf=temperror smtp.mailfrom=bounce@slow.test" in h
    assert "spf=pass smtp.helo=client.gmail.test" in h
    assert "dkim=pass" in h and "dmarc=pass" in h, h


SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
QUOTED = re.compile(r'"([^"\\\r\n]|\\.)*"')


def received_spf_fields(value):
    """Parses a Received-SPF value by RFC 7208 §9.1: result FWS [comment FWS]
    key-value-list; returns (result, comment, {key: value}) or raises."""
    v = " ".join(value.split())
    result, _, rest = v.partition(" ")
    assert result in SPF_RESULTS, v
    comment = ""
    if rest.startswith("("):
        depth, i = 0, 0
        for i, c in enumerate(rest):
            depth += (c == "(") - (c == ")")
            if depth == 0:
                break
        comment, rest = rest[1:i], rest[i + 1:].lstrip()
    pairs = {}
    while rest:
        key, eq, rest = rest.partition("=")
        assert eq and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", key.strip()), (key, v)
        rest = rest.lstrip()
        m = QUOTED.match(rest) or DOT_ATOM.match(rest)
        assert m, ("value of %s is neither dot-atom nor quoted-string" % key, v)
        pairs[key.strip()] = m.group(0)
        rest = rest[m.end():].lstrip()
        assert not rest or rest.startswith(";"), v
        rest = rest[1:].lstrip()
    return result, comment, pairs


def test_results_headers_are_well_formed(mx):
    """Received-SPF by the RFC 7208 §9.1 grammar, Authentication-Results by
    python3-authres (an RFC 8601 parser), over pass, fail, permerror, the
    null sender, a quoted local part and an address-literal HELO."""
    cases = [("alice@gmail.test", "client.gmail.test", "pass", "mailfrom"),
             ("ceo@spoof.test", "client.gmail.test", "fail", "mailfrom"),
             ("a@sloppy.test", "client.gmail.test", "permerror", "mailfrom"),
             ("", "client.gmail.test", "pass", "helo"),
             ('"first last"@gmail.test', "[127.0.0.1]", "pass", "mailfrom")]
    for frm, helo, want, identity in cases:
        msg = b"From: alice@gmail.test\r\nSubject: s\r\n\r\nx\r\n"
        assert smtplib_send(mx.port, frm, "bob@envoi.test", msg, helo=helo) == {}
        (raw,) = delivered(mx.md, 1)
        m = email.message_from_bytes(raw)
        (rspf,) = m.get_all("Received-SPF")
        result, comment, kv = received_spf_fields(rspf)
        assert result == want and kv["identity"] == identity and kv["receiver"] == "mx.envoi.test", rspf
        assert kv["client-ip"] == "127.0.0.1" and comment.startswith("mx.envoi.test: "), rspf
        assert kv["envelope-from"].strip('"').replace('\\"', '"') == (frm or "postmaster@" + helo), rspf
        if want == "permerror":
            assert "problem" in kv
        ar = our_authres(raw)
        parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + ar)
        assert parsed.authserv_id == "mx.envoi.test"
        spf = [r for r in parsed.results if r.method == "spf"]
        assert spf[0].result == want, ar
        assert {r.method for r in parsed.results} == {"spf", "dkim", "dmarc"}, ar
        for p in mx.md.rglob("new/*"):
            p.unlink()


def test_results_fit_rfc5322_lines_with_the_longest_sender_and_helo(mx):
    """A 250-octet sender full of quoted-pairs and a 250-octet HELO: our
    fields still keep every line under 998 octets (Received-SPF folds between
    its pairs) and still parse."""
    frm = '"' + '\\"' * 30 + '"@' + ".".join(["d" * 60] * 3) + ".test"
    helo = ".".join(["h" * 60] * 4)[:250]
    assert smtplib_send(mx.port, frm, "bob@envoi.test", b"From: a@gmail.test\r\n\r\nx\r\n", helo=helo) == {}
    (raw,) = delivered(mx.md, 1)
    head = raw.split(b"\r\n\r\n")[0]
    assert max(len(l) for l in head.split(b"\r\n")) <= 998
    m = email.message_from_bytes(raw)
    result, _, kv = received_spf_fields(m["Received-SPF"])
    assert result == "none" and kv["helo"] == helo and kv["identity"] == "mailfrom"
    authres.AuthenticationResultsHeader.parse("Authentication-Results: " + our_authres(raw))


def test_spoofed_from_fails_dmarc_recorded(mx):
    msg = b"From: ceo@spoof.test\r\nTo: bob@envoi.test\r\nSubject: wire money\r\n\r\nnow\r\n"
    assert swaks(mx.port, "ceo@spoof.test", "bob@envoi.test", msg).returncode == 0
    h = header_block(delivered(mx.md, 1)[0])
    assert "Received-SPF: fail" in h
    assert "dkim=none" in h
    assert "dmarc=fail" in h and "p=reject" in h


def test_spoofed_from_rejected_with_dmarc_reject(tmp_path, zone):
    sink, v = start(tmp_path, zone, "--dmarc-reject")
    try:
        msg = b"From: ceo@spoof.test\r\nTo: bob@envoi.test\r\nSubject: wire money\r\n\r\nnow\r\n"
        r = swaks(v.port, "ceo@spoof.test", "bob@envoi.test", msg)
        assert b"550 5.7.1" in r.stdout
        assert delivered(tmp_path / "md", timeout=0.3) == []
    finally:
        v.stop()
        sink.stop()


def test_dkim_key_timeout_is_temperror_not_a_dmarc_reject(tmp_path, zone, rsa_key):
    """SPF fails, the aligned signature's key does not answer: DMARC cannot
    fail a message that may pass once DNS answers, so --dmarc-reject does not
    refuse it (550 is final) and the result says temperror."""
    sink, v = start(tmp_path, zone, "--dmarc-reject", "--dns-timeout", "300")
    try:
        msg = (b"From: ceo@late.test\r\nTo: bob@envoi.test\r\nSubject: s\r\n\r\nbody\r\n")
        msg = dkim.sign(msg, b"sel", b"late.test", rsa_key[0], include_headers=[b"from", b"subject"]) + msg
        r = swaks(v.port, "ceo@late.test", "bob@envoi.test", msg)
        assert r.returncode == 0, r.stdout
        h = header_block(delivered(tmp_path / "md", 1)[0])
        assert "spf=fail smtp.mailfrom=ceo@late.test" in h and "dkim=temperror" in h
        assert "dmarc=temperror header.from=late.test" in h
        # the same domain without a signature still fails and is refused
        msg = b"From: ceo@late.test\r\nSubject: s\r\n\r\nbody\r\n"
        assert b"550 5.7.1" in swaks(v.port, "ceo@late.test", "bob@envoi.test", msg).stdout
    finally:
        v.stop()
        sink.stop()


def test_dmarc_reject_only_for_reject_dispositions(tmp_path, zone):
    """--dmarc-reject refuses exactly the failures whose disposition is
    reject: p=quarantine, pct=0 (sampled out: reject becomes quarantine,
    RFC 7489 §6.6.4) and an organizational domain's own p=none pass through;
    a subdomain under sp=reject (organizational domain found with the Public
    Suffix List's default rule for .test) is refused."""
    sink, v = start(tmp_path, zone, "--dmarc-reject")
    try:
        def send(author):
            msg = b"From: " + author.encode() + b"\r\nSubject: s\r\n\r\nx\r\n"
            return swaks(v.port, "x@spoof.test", "bob@envoi.test", msg).stdout  # SPF fails, no DKIM

        for author, disposition in (("a@relaxed.test", "p=quarantine dis=quarantine"),
                                    ("a@sampled.test", "p=reject dis=quarantine"),
                                    ("a@parent.test", "p=none dis=none")):
            assert b"<** " not in send(author), author
            h = header_block(delivered(tmp_path / "md", 1)[0])
            assert "dmarc=fail (%s) header.from=%s" % (disposition, author.split("@")[1]) in h, h
            for p in (tmp_path / "md").rglob("new/*"):
                p.unlink()
        assert b"<** 550 5.7.1" in send("a@mail.news.parent.test")
        assert b"<** 550 5.7.1" in send("a@spoof.test")
        assert delivered(tmp_path / "md", timeout=0.3) == []
    finally:
        v.stop()
        sink.stop()


def test_internationalized_domains_checked_under_their_a_labels(tmp_path, zone):
    """SMTPUTF8 mail from bücher.test: SPF and DMARC are looked up under
    xn--bcher-kva.test (RFC 8616), so the real sender passes, and a forged
    U-label author of that p=reject domain fails (before: no DMARC result at
    all, so --dmarc-reject let it through)."""
    assert "bücher".encode("idna") == b"xn--bcher-kva"
    sink, v = start(tmp_path, zone, "--dmarc-reject")
    try:
        msg = "From: Ålice <ålice@bücher.test>\r\nSubject: grüße\r\n\r\nhallo\r\n".encode()
        assert smtplib_send(v.port, "ålice@bücher.test", "bob@envoi.test", msg) == {}
        raw = delivered(tmp_path / "md", 1)[0]
        ar = our_authres(raw)
        assert "spf=pass" in ar and "dmarc=pass (p=reject dis=none) header.from=xn--bcher-kva.test" in ar, ar
        with pytest.raises(smtplib.SMTPDataError) as e:
            smtplib_send(v.port, "ceo@spoof.test", "bob@envoi.test",
                         "From: ceo@bücher.test\r\nSubject: pay\r\n\r\nnow\r\n".encode())
        assert e.value.smtp_code == 550
    finally:
        v.stop()
        sink.stop()


def test_a_costly_spf_record_cannot_starve_dmarc(tmp_path, zone):
    """Checks share no query budget: a sender's SPF record that spends the
    most lookups RFC 7208 allows must not leave the DMARC record of a forged
    p=reject From unasked (temperror, and the forgery delivered under
    --dmarc-reject)."""
    sink, v = start(tmp_path, zone, "--dmarc-reject")
    try:
        msg = b"From: ceo@spoof.test\r\nSubject: wire money\r\n\r\nnow\r\n"
        r = swaks(v.port, "x@greedy.test", "bob@envoi.test", msg, helo="greedy.test")
        assert b"<** 550 5.7.1" in r.stdout, r.stdout
        assert "spf=fail" in v.text() and "dmarc=fail" in v.text()
    finally:
        v.stop()
        sink.stop()


def test_spf_permerror_still_flows(mx):
    """A syntax error in the sender's SPF record degrades the verdict
    (permerror, recorded with the problem); the message is delivered."""
    msg = b"From: a@sloppy.test\r\nSubject: s\r\n\r\nx\r\n"
    assert smtplib_send(mx.port, "a@sloppy.test", "bob@envoi.test", msg) == {}
    h = header_block(delivered(mx.md, 1)[0])
    assert "Received-SPF: permerror" in h and 'problem="syntax error: unknown mechanism"' in h
    assert "spf=permerror smtp.mailfrom=a@sloppy.test" in h and "dmarc=fail" in h


TWO_FROM = b"From: alice@gmail.test\r\nFrom: ceo@spoof.test\r\nSubject: s\r\n\r\nx\r\n"
TWO_AUTHORS = b'From: alice@gmail.test, "Boss, The" <ceo@spoof.test>\r\nSubject: s\r\n\r\nx\r\n'
NINE_FROM = b"".join(b"From: a@d%d.test\r\n" % i for i in range(8)) + b"From: ceo@spoof.test\r\n\r\nx\r\n"


def test_every_author_domain_is_checked(mx):
    """A second From field or a second author must not switch DMARC off
    (the old 'no single From: dmarc=none'): each author domain gets its own
    result, and a spoofed p=reject author fails."""
    for msg in (TWO_FROM, TWO_AUTHORS):
        assert smtplib_send(mx.port, "alice@gmail.test", "bob@envoi.test", msg) == {}
        (raw,) = delivered(mx.md, 1)
        ar = our_authres(raw)
        assert "dmarc=pass (p=reject dis=none) header.from=gmail.test" in ar, ar
        assert "dmarc=fail (p=reject dis=reject) header.from=spoof.test" in ar, ar
        parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + ar)
        assert [r.result for r in parsed.results if r.method == "dmarc"] == ["pass", "fail"]
        for p in mx.md.rglob("new/*"):
            p.unlink()
    # one author with two addresses in one domain is one domain
    msg = b"From: alice@gmail.test, bob@GMAIL.test.\r\nSubject: s\r\n\r\nx\r\n"
    assert smtplib_send(mx.port, "alice@gmail.test", "bob@envoi.test", msg) == {}
    h = header_block(delivered(mx.md, 1)[0])
    assert h.count("dmarc=") == 1 and "dmarc=pass (p=reject dis=none) header.from=gmail.test" in h
    for p in mx.md.rglob("new/*"):
        p.unlink()
    # more author domains than are checked: permerror, none checked, still delivered
    assert smtplib_send(mx.port, "alice@gmail.test", "bob@envoi.test", NINE_FROM) == {}
    h = header_block(delivered(mx.md, 1)[0])
    assert "dmarc=permerror (more than 8 author domains)" in h and "header.from=" not in h


def test_dmarc_reject_sees_every_author(tmp_path, zone):
    sink, v = start(tmp_path, zone, "--dmarc-reject")
    try:
        for msg in (TWO_FROM, TWO_AUTHORS, NINE_FROM):
            r = swaks(v.port, "alice@gmail.test", "bob@envoi.test", msg)
            assert b"<** 550 5.7.1" in r.stdout, r.stdout
        assert delivered(tmp_path / "md", timeout=0.3) == []
        assert "action=reject" in v.text()
    finally:
        v.stop()
        sink.stop()


def test_strict_spf_alignment_quarantine(mx):
    msg = b"From: a@relaxed.test\r\nTo: bob@envoi.test\r\nSubject: s\r\n\r\nx\r\n"
    assert swaks(mx.port, "a@mail.relaxed.test", "bob@envoi.test", msg).returncode == 0
    h = header_block(delivered(mx.md, 1)[0])
    assert "spf=pass" in h and "dmarc=fail" in h and "p=quarantine" in h


RELAY_550 = ["user@other.test", "user%other.test@envoi.test", '"user@other.test"@envoi.test', '"user@other"@envoi.test',
             '"user%other.test"@envoi.test', "@envoi.test:user@other.test", "@other.test:bob@envoi.test",
             "@a.test,@b.test:user@envoi.test", "user!other.test@envoi.test", "other.test!user@envoi.test",
             "user@sub.envoi.test", "user@envoi.test.other.test", "user@[127.0.0.1]", "user@[IPv6:::1]",
             "postmaster@other.test", "user@b\u00fccher.test", "\u00fcser@other.test"]
# not even addresses we could route: refused as syntax
RELAY_501 = ["user@other.test@envoi.test", "user@envoi.test@other.test", "user@envoi.test.", "user%other.test",
             "other.test!user", '"user@envoi.test"', "user@envoi.test:25"]


@pytest.mark.parametrize("rcpt", RELAY_550 + RELAY_501)
def test_no_open_relay(mx, rcpt):
    c = socket.create_connection(("127.0.0.1", mx.port), timeout=5)
    f = c.makefile("rb")
    assert f.readline().startswith(b"220")
    c.sendall(b"EHLO client.gmail.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    c.sendall(b"MAIL FROM:<alice@gmail.test> SMTPUTF8\r\n")
    assert f.readline().startswith(b"250")
    c.sendall(b"RCPT TO:<" + rcpt.encode() + b">\r\n")
    reply = f.readline()
    assert reply.startswith(b"550 5.7.1" if rcpt in RELAY_550 else b"501 5.1.3"), reply
    # and the refusal holds: DATA has no recipient to go to
    c.sendall(b"DATA\r\n")
    assert f.readline().startswith(b"554"), rcpt
    c.sendall(b"QUIT\r\n")
    c.close()


def test_postmaster_and_local_users_accepted(mx):
    msg = b"From: alice@gmail.test\r\nSubject: x\r\n\r\nx\r\n"
    assert swaks(mx.port, "alice@gmail.test", "postmaster", msg).returncode == 0
    assert swaks(mx.port, "alice@gmail.test", "Bob@ENVOI.test", msg).returncode == 0
    assert smtplib_send(mx.port, "alice@gmail.test", "\u00fcser@envoi.test", msg) == {}  # SMTPUTF8 local part
    assert len(delivered(mx.md, 3)) == 3


def test_unknown_user_answer_comes_from_downstream(zone, smtp_server, tmp_path):
    """We accept our domains; whether the user exists is the next hop's
    answer, relayed as it gave it (aiosmtpd here, refusing one user)."""
    peer = smtp_server(rcpt_reply={"nobody@envoi.test": "550 5.1.1 No such user here"})
    port = free_port()
    v = Proc([os.path.join(BIN, "verifier"), "--listen", "127.0.0.1:%d" % port, "--destination", peer.addr,
              "--domain", "mx.envoi.test", "--recipient-domain", "envoi.test",
              "--nameserver", "127.0.0.1:%d" % zone.port], port, tmp_path / "verifier.log")
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.gmail.test", timeout=10) as s:
            s.ehlo()
            assert s.mail("alice@gmail.test")[0] == 250
            assert s.rcpt("nobody@envoi.test") == (550, b"5.1.1 No such user here")
            assert s.rcpt("bob@envoi.test")[0] == 250
            assert s.data(b"From: alice@gmail.test\r\nSubject: s\r\n\r\nx\r\n")[0] == 250
    finally:
        v.stop()


def test_forged_results_are_stripped(mx):
    msg = (b"Authentication-Results: mx.envoi.test; spf=pass smtp.mailfrom=ceo@spoof.test\r\n"
           b"Authentication-Results: other.test; dkim=pass\r\n"
           b"Received-SPF: pass (forged) receiver=mx.envoi.test;\r\n"
           b"X-Spamtacus: no\r\nX-Spamtacus-Score: 0.01\r\n"
           b"From: ceo@spoof.test\r\nSubject: x\r\n\r\nx\r\n")
    assert swaks(mx.port, "ceo@spoof.test", "bob@envoi.test", msg).returncode == 0
    h = header_block(delivered(mx.md, 1)[0])
    assert h.count("Authentication-Results: mx.envoi.test") == 1 and "spf=fail" in h
    assert "Authentication-Results: other.test; dkim=pass" in h  # not ours to judge
    assert "(forged)" not in h and "X-Spamtacus" not in h


def smtplib_send(port, frm, to, msg, helo="client.gmail.test"):
    utf8 = not (frm + to).isascii()
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=10) as s:
        return s.sendmail(frm, [to], msg, mail_options=["SMTPUTF8"] if utf8 else [])


def test_forged_results_in_every_spelling_are_stripped(mx):
    """A forger need not write the fields as we do: folded, upper case, a
    comment before the id, a comment or version after it, a quoted or
    dot-terminated id, "receiver =" with spaces, our name in the comment
    of a Received-SPF, and any X-Spamtacus-* field. All go; fields of
    other receivers stay, even when our name appears in their comments."""
    forged = [
        b"Authentication-Results:\r\n mx.envoi.test; spf=pass smtp.mailfrom=F1",
        b"authentication-results: MX.ENVOI.TEST; dkim=pass header.d=F2",
        b"Authentication-Results: (a comment) mx.envoi.test; dkim=pass header.d=F3",
        b"Authentication-Results: (nested (comment)) \r\n\tmx.envoi.test; dkim=pass header.d=F4",
        b"Authentication-Results: mx.envoi.test(c);dkim=pass header.d=F5",
        b"Authentication-Results: mx.envoi.test 1; dkim=pass header.d=F6",
        b'Authentication-Results: "mx.envoi.test"; dkim=pass header.d=F7',
        b"Authentication-Results: mx.envoi.test.; dkim=pass header.d=F8",
        b"Received-SPF: pass (mx.envoi.test: F9) client-ip=10.0.0.1;",
        b"Received-SPF: pass (F10)\r\n receiver=MX.ENVOI.TEST;",
        b'Received-SPF: pass (F11) client-ip=10.0.0.1; receiver = "mx.envoi.test"',
        b"received-spf: pass (F12) identity=mailfrom; receiver=mx.envoi.test",
        b"X-Spamtacus-Status: F13",
        b"x-spamtacus-bayes: F14",
        b"X-SPAMTACUS: F15",
    ]
    kept = [
        b"Authentication-Results: other.test (mx.envoi.test); dkim=pass header.d=K1",
        b"Authentication-Results: mx.envoi.test.other.test; dkim=pass header.d=K2",
        b"Received-SPF: pass (other.test: K3) receiver=other.test; helo=mx.envoi.test.other.test",
        b"X-Spam-Status: K4",
    ]
    msg = b"\r\n".join(forged + kept) + b"\r\nFrom: alice@gmail.test\r\nSubject: forged\r\n\r\nF16 body\r\n"
    assert smtplib_send(mx.port, "alice@gmail.test", "bob@envoi.test", msg) == {}
    h = header_block(delivered(mx.md, 1)[0])
    for i in range(1, 16):
        assert "F%d\r" % i not in h + "\r" and "F%d " % i not in h and "F%d)" % i not in h, (i, h)
    for i in range(1, 5):
        assert "K%d" % i in h, (i, h)
    # ours is there exactly once, on top of what came in
    assert h.count("receiver=mx.envoi.test;") == 1 and h.count("Authentication-Results: mx.envoi.test;") == 1
    assert h.index("Authentication-Results: mx.envoi.test;") < h.index("K1")


def test_starttls_offered_and_require_tls(tmp_path, zone, lab_ca):
    """STARTTLS is offered but not required (RFC 3207: a public MX takes
    plaintext); --require-tls refuses MAIL until the client has done it."""
    ctx = ssl.create_default_context(cafile=str(lab_ca.ca))
    ctx.check_hostname = False  # the certificate names mx.example.test; the CA check stays
    msg = b"From: alice@gmail.test\r\nSubject: tls\r\n\r\nx\r\n"
    for extra in ((), ("--require-tls",)):
        sink, v = start(tmp_path, zone, "--tls-cert", str(lab_ca.cert), "--tls-key", str(lab_ca.key), *extra)
        try:
            with smtplib.SMTP("127.0.0.1", v.port, local_hostname="client.gmail.test", timeout=10) as s:
                s.ehlo()
                assert s.has_extn("starttls")
                code, text = s.mail("alice@gmail.test")
                if extra:
                    assert (code, text[:5]) == (530, b"5.7.0"), text
                else:
                    assert code == 250
                    s.rset()
                assert s.starttls(context=ctx)[0] == 220
                s.ehlo()
                assert not s.has_extn("starttls")
                assert s.sendmail("alice@gmail.test", ["bob@envoi.test"], msg) == {}
            h = header_block(delivered(tmp_path / "md", 1)[0])
            assert "(envoi verifier) with ESMTPS" in h and "Received-SPF: pass" in h
            for p in (tmp_path / "md").rglob("new/*"):
                p.unlink()
        finally:
            v.stop()
            sink.stop()
    r = subprocess.run([os.path.join(BIN, "verifier"), "-n", "--destination", "x:25", "--nameserver", "127.0.0.1",
                        "--require-tls"], capture_output=True, text=True)
    assert r.returncode == 2 and "--tls-cert" in r.stderr


def test_early_talker_dropped(tmp_path, zone):
    sink, v = start(tmp_path, zone, "--greet-delay", "500")
    try:
        c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
        c.sendall(b"EHLO spambot.test\r\n")
        data = c.recv(4096)
        assert data.startswith(b"554 5.5.0"), data
        # A patient client gets the greeting after the delay.
        c2 = socket.create_connection(("127.0.0.1", v.port), timeout=5)
        t0 = time.time()
        assert c2.recv(4096).startswith(b"220")
        assert time.time() - t0 >= 0.4
        c2.close()
    finally:
        v.stop()
        sink.stop()


def test_proxy_protocol(tmp_path, zone):
    sink, v = start(tmp_path, zone, "--proxy-protocol", "--proxy-from", "127.0.0.1/32")
    try:
        c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
        c.sendall(b"PROXY TCP4 10.77.0.25 10.77.0.10 40000 25\r\n")
        f = c.makefile("rb")
        assert f.readline().startswith(b"220")
        c.sendall(b"EHLO mta.gmail.test\r\nMAIL FROM:<alice@gmail.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n")
        line = b""
        while not line.startswith(b"354"):
            line = f.readline()
        c.sendall(b"From: alice@gmail.test\r\nSubject: via lb\r\n\r\nx\r\n.\r\nQUIT\r\n")
        assert f.readline().startswith(b"250")
        h = header_block(delivered(tmp_path / "md", 1)[0])
        assert "client-ip=10.77.0.25;" in h and "Received-SPF: pass" in h
        assert "([10.77.0.25])" in h  # our Received: names the real client
        # Without a header from a trusted balancer: nothing is spoken.
        c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
        c.sendall(b"EHLO x\r\n")
        c.settimeout(2)
        assert c.recv(100) == b""
    finally:
        v.stop()
        sink.stop()


def proxy_v2(src, dst=None, sport=40000, dport=25):
    """A PROXY protocol v2 header (HAProxy's binary form), IPv4 or IPv6."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = dst or ("::1" if fam == socket.AF_INET6 else "127.0.0.1")
    body = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + struct.pack("!HH", sport, dport)
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x21 if fam == socket.AF_INET6 else 0x11]) +
            struct.pack("!H", len(body)) + body)


def test_connection_limit_counts_clients_behind_the_balancer(tmp_path, zone):
    """Behind a load balancer every connection comes from the balancer: the
    per-address limit must count the client named in the PROXY header, not
    the balancer (which would cap the whole site at --max-per-ip sessions)."""
    sink, v = start(tmp_path, zone, "--proxy-protocol", "--proxy-from", "127.0.0.1/32", "--max-per-ip", "2")
    conns = []
    try:
        def connect(header):
            c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
            conns.append(c)
            c.sendall(header)
            return c.makefile("rb").readline()

        # five different clients through the one balancer: all served
        for i in range(5):
            assert connect(b"PROXY TCP4 192.0.2.%d 127.0.0.1 40000 25\r\n" % (i + 1)).startswith(b"220")
        # a third session of one client is one too many, in v1 or v2
        assert connect(proxy_v2("192.0.2.1")).startswith(b"220")
        assert connect(b"PROXY TCP4 192.0.2.1 127.0.0.1 40001 25\r\n").startswith(b"421 4.7.0")
        assert connect(proxy_v2("192.0.2.1")).startswith(b"421 4.7.0")
        assert connect(proxy_v2("::ffff:192.0.2.1")).startswith(b"421 4.7.0")  # the same client
        assert "client=192.0.2.1" in v.text()
    finally:
        for c in conns:
            c.close()
        v.stop()
        sink.stop()


def test_proxy_v2_and_v1_unknown_from_trusted_balancer(tmp_path, zone):
    """A v2 header's source becomes the client (SPF checks it); a v2 LOCAL
    command (the balancer's own health check) and v1 UNKNOWN keep the
    balancer's address."""
    sink, v = start(tmp_path, zone, "--proxy-protocol", "--proxy-from", "127.0.0.1/32")
    try:
        msg = b"From: alice@gmail.test\r\nSubject: v2\r\n\r\nx\r\n"
        for header, client, spf in ((proxy_v2("10.77.0.25"), "10.77.0.25", "pass"),
                                    (proxy_v2("192.0.2.77"), "192.0.2.77", "fail"),
                                    (proxy_v2("2001:db8::25"), '"2001:db8::25"', "fail"),
                                    # IPv4-mapped: the IPv4 client it is, as on a direct connection
                                    (proxy_v2("::ffff:10.77.0.25"), "10.77.0.25", "pass"),
                                    (b"PROXY TCP6 ::ffff:10.77.0.25 ::1 40000 25\r\n", "10.77.0.25", "pass"),
                                    (b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00", "127.0.0.1", "pass"),
                                    (b"PROXY UNKNOWN\r\n", "127.0.0.1", "pass")):
            c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
            f = c.makefile("rb")
            c.sendall(header)
            assert f.readline().startswith(b"220")
            c.sendall(b"EHLO mta.gmail.test\r\nMAIL FROM:<alice@gmail.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n")
            line = b""
            while not line.startswith(b"354"):
                line = f.readline()
            c.sendall(msg + b".\r\nQUIT\r\n")
            assert f.readline().startswith(b"250")
            c.close()
            h = header_block(delivered(tmp_path / "md", 1)[0])
            assert "client-ip=%s;" % client in h and "Received-SPF: %s" % spf in h, h
            ip = client.strip('"')
            literal = "[IPv6:%s]" % ip if ":" in ip else "[%s]" % ip  # RFC 5321 4.4 TCP-info
            assert "(envoi verifier)" in h and "(%s)\r\n\tby mx.envoi.test" % literal in h, h
            for p in (tmp_path / "md").rglob("new/*"):
                p.unlink()
    finally:
        v.stop()
        sink.stop()


def test_proxy_header_from_untrusted_peer_refused(tmp_path, zone):
    sink, v = start(tmp_path, zone, "--proxy-protocol", "--proxy-from", "10.0.0.0/8")
    try:
        c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
        f = c.makefile("rb")
        assert f.readline().startswith(b"220")
        c.sendall(b"PROXY TCP4 10.77.0.25 10.77.0.10 40000 25\r\n")
        assert f.readline().startswith(b"500")
        # ...and it changed nothing: the client is still who TCP says
        c.sendall(b"EHLO mta.gmail.test\r\nMAIL FROM:<alice@gmail.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n")
        line = b""
        while not line.startswith(b"354"):
            line = f.readline()
        c.sendall(b"From: alice@gmail.test\r\nSubject: s\r\n\r\nx\r\n.\r\n")
        assert f.readline().startswith(b"250")
        h = header_block(delivered(tmp_path / "md", 1)[0])
        assert "client-ip=127.0.0.1;" in h and "10.77.0.25" not in h
        # a v2 header from it: its signature lines are refused, its QUIT ends the session
        c = socket.create_connection(("127.0.0.1", v.port), timeout=5)
        f = c.makefile("rb")
        assert f.readline().startswith(b"220")
        c.sendall(proxy_v2("10.77.0.25"))
        replies = [f.readline() for _ in range(4)]
        assert [r[:3] for r in replies] == [b"500", b"500", b"500", b"221"], replies
    finally:
        v.stop()
        sink.stop()


def test_config_check():
    vf = os.path.join(BIN, "verifier")
    r = subprocess.run([vf, "-n", "--destination", "x:25"], capture_output=True, text=True)
    assert r.returncode == 2 and "--nameserver" in r.stderr
    r = subprocess.run([vf, "-n", "--destination", "x:25", "--nameserver", "127.0.0.1", "--proxy-protocol"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--proxy-from" in r.stderr
    r = subprocess.run([vf, "-n", "--destination", "x:25", "--nameserver", "127.0.0.1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_slow_checks_give_451_not_a_hang(tmp_path):
    """A resolver that never answers: the hop's transform deadline answers 451."""
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound, never read: queries vanish
    sport, port = free_port(), free_port()
    sink = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % sport, "--maildir",
                 str(tmp_path / "md")], sport, tmp_path / "sink.log")
    v = Proc([os.path.join(BIN, "verifier"), "--listen", "127.0.0.1:%d" % port, "--destination",
              "127.0.0.1:%d" % sport, "--domain", "envoi.test", "--nameserver", "127.0.0.1:%d" % dead.getsockname()[1],
              "--dns-timeout", "3000", "--timeout", "1"], port, tmp_path / "verifier.log")
    try:
        t0 = time.time()
        r = swaks(port, "alice@gmail.test", "bob@envoi.test", b"From: alice@gmail.test\r\nSubject: s\r\n\r\nx\r\n")
        assert b"451 4.3.0" in r.stdout, r.stdout
        assert time.time() - t0 < 5
        assert "msg=hop.transform.timeout" in v.text()
        assert delivered(tmp_path / "md", timeout=0.3) == []
        # The checks stop asking once the hop has given up (--timeout): the
        # one query under way (2 tries of 3 s) ends them, not one per check.
        end = time.time() + 20
        while "msg=verifier.checked" not in v.text() and time.time() < end:
            time.sleep(0.1)
        assert time.time() - t0 < 9, v.text()
        assert "spf=temperror" in v.text()
    finally:
        v.stop()
        sink.stop()
        dead.close()


def test_sigterm_does_not_wait_for_every_query_of_a_silent_resolver(tmp_path):
    """Shutdown while a message's checks wait on a resolver that never
    answers: the client gets 421 and the checks stop asking, so the daemon
    ends after the query under way (2 tries of 2 s), not after all of them
    (SPF, HELO, DMARC: three times as long)."""
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    sport, port = free_port(), free_port()
    sink = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % sport, "--maildir",
                 str(tmp_path / "md")], sport, tmp_path / "sink.log")
    v = Proc([os.path.join(BIN, "verifier"), "--listen", "127.0.0.1:%d" % port, "--destination",
              "127.0.0.1:%d" % sport, "--domain", "envoi.test", "--nameserver", "127.0.0.1:%d" % dead.getsockname()[1],
              "--dns-timeout", "2000"], port, tmp_path / "verifier.log")
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=15)
        f = c.makefile("rb")
        f.readline()
        c.sendall(b"EHLO client.gmail.test\r\nMAIL FROM:<alice@gmail.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n")
        line = b""
        while not line.startswith(b"354"):
            line = f.readline()
        c.sendall(b"From: alice@gmail.test\r\nSubject: s\r\n\r\nx\r\n.\r\n")
        time.sleep(0.5)  # the checks are waiting on the first query
        t0 = time.time()
        v.p.send_signal(signal.SIGTERM)
        assert f.readline().startswith(b"421")
        assert v.p.wait(15) == 0
        assert time.time() - t0 < 7, "the checks went on asking after shutdown"
        assert delivered(tmp_path / "md", timeout=0.3) == []
    finally:
        v.stop()
        sink.stop()
        dead.close()


def test_slow_senders_do_not_hold_up_everyone(tmp_path, zone):
    """Checks wait on DNS on worker threads. Six messages whose sender's DNS
    never answers must not take every worker (libuv's default is four): a
    message from a well-behaved sender meanwhile is checked at once."""
    sink, v = start(tmp_path, zone, "--dns-timeout", "2000")
    slow = []
    try:
        for i in range(6):
            c = socket.create_connection(("127.0.0.1", v.port), timeout=30)
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"EHLO h.slow.test\r\nMAIL FROM:<x@slow.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n")
            line = b""
            while not line.startswith(b"354"):
                line = f.readline()
            c.sendall(b"From: x@slow.test\r\nSubject: slow %d\r\n\r\nx\r\n.\r\n" % i)
            slow.append((c, f))
        time.sleep(0.3)  # all six are waiting on their first query
        t0 = time.time()
        assert smtplib_send(v.port, "alice@gmail.test", "bob@envoi.test", b"From: alice@gmail.test\r\n\r\nx\r\n") == {}
        assert time.time() - t0 < 2.5, "a quick message waited for a worker"
        for c, f in slow:  # and the slow ones still get their answer
            assert f.readline().startswith(b"250")
            c.close()
        assert len(delivered(tmp_path / "md", 7)) == 7
    finally:
        v.stop()
        sink.stop()


def test_connection_limit_per_client(tmp_path, zone):
    sink, v = start(tmp_path, zone, "--max-per-ip", "2")
    try:
        time.sleep(0.3)  # let the readiness probe's connection be reaped
        a = socket.create_connection(("127.0.0.1", v.port))
        b = socket.create_connection(("127.0.0.1", v.port))
        assert a.recv(100).startswith(b"220") and b.recv(100).startswith(b"220")
        c = socket.create_connection(("127.0.0.1", v.port))
        assert c.recv(100).startswith(b"421 4.7.0")
        for s in (a, b, c):
            s.close()
    finally:
        v.stop()
        sink.stop()


@pytest.mark.parametrize("variant", [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r\n.\r"])
def test_smuggling_refused_at_the_door(mx, variant):
    """The MX itself refuses every SMTP-smuggling end-of-data variant: the
    carrier is refused (550) and the smuggled message never reaches the next hop."""
    c = socket.create_connection(("127.0.0.1", mx.port), timeout=10)
    f = c.makefile("rb")
    assert f.readline().startswith(b"220")
    c.sendall(b"EHLO client.gmail.test\r\nMAIL FROM:<alice@gmail.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n")
    line = b""
    while not line.startswith(b"354"):
        line = f.readline()
    smuggled = (b"MAIL FROM:<ceo@gmail.test>\r\nRCPT TO:<bob@envoi.test>\r\nDATA\r\n"
                b"From: ceo@gmail.test\r\nSubject: smuggled\r\n\r\npay\r\n")
    c.sendall(b"From: alice@gmail.test\r\nSubject: carrier\r\n\r\nhi" + variant + smuggled + b".\r\n")
    assert f.readline().startswith(b"550 5.6.0")
    c.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"221")
    c.close()
    assert delivered(mx.md, timeout=0.5) == []
