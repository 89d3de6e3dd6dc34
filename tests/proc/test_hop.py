"""Process-level tests of the hop contract: real clients (swaks, smtplib, raw
sockets) -> spamfilter (a hop) -> envoi sink, all on loopback."""
import glob
import os
import signal
import smtplib
import socket
import subprocess
import threading
import time
import email

import pytest

from conftest import read_log

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ENVOI_BIN_DIR", os.path.join(ROOT, "build", "bin"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("process exited early: rc=%s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened" % port)


class Proc:
    def __init__(self, argv, port, logpath):
        self.log = open(logpath, "w+b")
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = port
        wait_port(port, self.p)

    def stop(self):
        """SIGTERM must end the process cleanly: exit 0 and the loop closed."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            rc = self.p.wait(10)
            assert rc == 0, self.text()
            assert "loop=closed" in self.text()

    def kill(self):
        self.p.kill()
        self.p.wait(10)

    def text(self):
        return read_log(self.log)


@pytest.fixture
def sink(tmp_path):
    port = free_port()
    md = tmp_path / "maildir"
    p = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % port, "--maildir", str(md)],
             port, tmp_path / "sink.log")
    p.maildir = md
    yield p
    p.stop()


def start_hop(tmp_path, dest_port, *extra):
    port, admin = free_port(), free_port()
    p = Proc([os.path.join(BIN, "spamfilter"), "--listen", "127.0.0.1:%d" % port, "--destination",
              "127.0.0.1:%d" % dest_port, "--domain", "spamfilter.envoi.test", "--admin", "127.0.0.1:%d" % admin,
              "--next-hop-timeout", "5", *extra], port, tmp_path / "hop.log")
    p.admin = admin
    return p


@pytest.fixture
def hop(tmp_path, sink):
    p = start_hop(tmp_path, sink.port)
    yield p
    p.stop()


def delivered(md, n=None, timeout=10):
    end = time.time() + timeout
    while True:
        files = sorted(glob.glob(str(md / "new" / "*")))
        if n is None or len(files) >= n or time.time() > end:
            return [open(f, "rb").read() for f in files]
        time.sleep(0.05)


def split(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def test_swaks_through_hop(hop, sink):
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % hop.port, "--from", "a@gmail.test", "--to",
                        "bob@envoi.test", "--header", "X-Spamtacus: yes", "--header", "Subject: swaks",
                        "--body", "line one\n.leading dot\n..two dots\nend"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: stored as" in r.stdout  # the next hop's own answer came back
    msgs = delivered(sink.maildir, 1)
    assert len(msgs) == 1
    head, body = split(msgs[0])
    assert b"\r\nReceived: from " in head and b"by spamfilter.envoi.test (envoi spamfilter) with ESMTP id" in head
    assert b" ([127.0.0.1])\r\n" in head  # TCP-info as an address literal (RFC 5321 4.4)
    assert b"for <bob@envoi.test>" in head
    assert head.count(b"X-Spamtacus:") == 1 and b"X-Spamtacus: yes" not in head  # forged copy stripped
    assert head.count(b"X-Spamtacus-Score:") == 1
    assert body.startswith(b"line one\r\n.leading dot\r\n..two dots\r\nend\r\n")


def test_received_names_utf8smtp(hop, sink):
    """A transaction with SMTPUTF8 is received "with UTF8SMTP" (RFC 6531
    3.7.3), one without it "with ESMTP"."""
    with smtplib.SMTP("127.0.0.1", hop.port) as c:
        c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: plain\r\n\r\nx\r\n")
        c.sendmail("j\u00fcrgen@gmail.test", ["b@envoi.test"], "Subject: utf8\r\n\r\nx\r\n".encode(),
                   mail_options=["SMTPUTF8"])
    got = {b"utf8" if b"Subject: utf8" in m else b"plain": split(m)[0] for m in delivered(sink.maildir, 2)}
    assert b"(envoi spamfilter) with UTF8SMTP id" in got[b"utf8"], got
    assert b"(envoi spamfilter) with ESMTP id" in got[b"plain"], got


def test_smtplib_many_messages_one_connection(hop, sink):
    with smtplib.SMTP("127.0.0.1", hop.port) as c:
        c.ehlo("client.gmail.test")
        assert c.has_extn("pipelining") and c.has_extn("size") and c.has_extn("8bitmime")
        for i in range(5):
            msg = "Subject: n%d\r\nFrom: a@gmail.test\r\n\r\nbody %d\r\n" % (i, i)
            refused = c.sendmail("a@gmail.test", ["x@envoi.test", "y@envoi.test"], msg)
            assert refused == {}
    msgs = delivered(sink.maildir, 5)
    assert len(msgs) == 5
    for m in msgs:
        assert b"X-Envoi-Rcpt: <x@envoi.test>\r\nX-Envoi-Rcpt: <y@envoi.test>" in m


def test_next_hop_down_gives_451_then_retry_delivers(tmp_path):
    dead = free_port()
    h = start_hop(tmp_path, dead)
    try:
        with smtplib.SMTP("127.0.0.1", h.port) as c:
            with pytest.raises(smtplib.SMTPSenderRefused) as e:
                c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: x\r\n\r\nkeep me\r\n")
            assert e.value.smtp_code == 451
        # The sender kept the message; once the next hop is back the retry lands.
        md = tmp_path / "md"
        s = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % dead, "--maildir", str(md)],
                 dead, tmp_path / "sink2.log")
        try:
            with smtplib.SMTP("127.0.0.1", h.port) as c:
                assert c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: x\r\n\r\nkeep me\r\n") == {}
            got = delivered(md, 1)
            assert len(got) == 1 and b"keep me" in got[0]
        finally:
            s.stop()
    finally:
        h.stop()


def test_next_hop_dies_mid_transaction(tmp_path):
    port = free_port()
    md = tmp_path / "md"
    s = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % port, "--maildir", str(md)],
             port, tmp_path / "sink.log")
    h = start_hop(tmp_path, port)
    try:
        c = smtplib.SMTP("127.0.0.1", h.port)
        c.ehlo("x.test")
        assert c.mail("a@gmail.test")[0] == 250
        assert c.rcpt("b@envoi.test")[0] == 250
        s.kill()  # the next hop vanishes after accepting the envelope
        code, _ = c.data(b"Subject: lost?\r\n\r\nbody\r\n")
        assert 400 <= code < 500  # never 250: the sender must keep it
        c.close()
        assert delivered(md) == []
    finally:
        h.stop()


def test_smuggling_variants_refused(hop, sink):
    variants = [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n"]
    for v in variants:
        c = socket.create_connection(("127.0.0.1", hop.port), timeout=5)
        f = c.makefile("rb")
        f.readline()
        smuggled = b"MAIL FROM:<evil@gmail.test>\r\nRCPT TO:<victim@envoi.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
        c.sendall(b"EHLO x.test\r\nMAIL FROM:<a@gmail.test>\r\nRCPT TO:<b@envoi.test>\r\nDATA\r\n")
        lines = []
        while not (lines and lines[-1].startswith(b"354")):
            lines.append(f.readline())
        c.sendall(b"Subject: carrier\r\n\r\nhello" + v + smuggled + b"\r\n.\r\n")
        reply = f.readline()
        assert reply.startswith(b"550 5.6.0"), (v, reply)
        # The smuggled message's own CRLF.CRLF ended the carrier's data, so the
        # trailing "\r\n.\r\n" arrives as two bogus commands: 500 each, never a 250.
        c.sendall(b"QUIT\r\n")
        rest = [f.readline() for _ in range(3)]
        assert rest[:2] == [b"500 5.5.2 Error: command not recognized\r\n"] * 2, (v, rest)
        assert rest[2].startswith(b"221"), (v, rest)
        c.close()
    assert delivered(sink.maildir, timeout=0.5) == []


def test_thousand_messages_twenty_connections(hop, sink):
    n_conn, per_conn = 20, 50
    bodies = {}
    errors = []

    def worker(k):
        try:
            with smtplib.SMTP("127.0.0.1", hop.port, timeout=30) as c:
                for i in range(per_conn):
                    tag = "m-%02d-%03d" % (k, i)
                    body = ("Subject: %s\r\nFrom: a@gmail.test\r\nTo: b@envoi.test\r\n\r\n" % tag +
                            "".join("line %d of %s with some text .%s\r\n" % (j, tag, "." * (j % 3)) for j in range(40)))
                    bodies[tag] = body.encode()
                    c.sendmail("a@gmail.test", ["b@envoi.test"], body)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_conn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    msgs = delivered(sink.maildir, n_conn * per_conn, timeout=60)
    assert len(msgs) == n_conn * per_conn
    seen = set()
    for m in msgs:
        # Strip what the sink and the hop add on top; the rest must be byte-identical.
        rest = m
        for prefix in (b"Return-Path:", b"X-Envoi-Rcpt:", b"Received:", b"X-Spamtacus:", b"X-Spamtacus-Score:"):
            assert rest.startswith(prefix), rest[:80]
            end = rest.index(b"\r\n")
            while rest[end + 2:end + 3] in (b"\t", b" "):
                end = rest.index(b"\r\n", end + 2)
            rest = rest[end + 2:]
        tag = rest.split(b"\r\n", 1)[0][len(b"Subject: "):].decode()
        assert rest == bodies[tag]
        seen.add(tag)
    assert len(seen) == n_conn * per_conn


def admin_get(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET " + path + b" HTTP/1.0\r\n\r\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d


def metrics(port):
    text = admin_get(port, b"/metrics").decode()
    assert text.startswith("HTTP/1.0 200")
    vals = {}
    for line in text.split("\r\n\r\n", 1)[1].splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def test_admin_health_and_metrics(hop, sink):
    before = metrics(hop.admin)
    with smtplib.SMTP("127.0.0.1", hop.port) as c:
        c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: m\r\n\r\nx\r\n")
    after = metrics(hop.admin)
    h = admin_get(hop.admin, b"/healthz")
    assert h.startswith(b"HTTP/1.0 200") and h.endswith(b"ok\n")
    assert after['envoi_messages_total{result="2xx"}'] == before.get('envoi_messages_total{result="2xx"}', 0) + 1
    assert after["envoi_smtp_connections_total"] == before["envoi_smtp_connections_total"] + 1
    assert after["envoi_message_latency_seconds_count"] == 1
    assert after['envoi_smtp_replies_total{class="2xx"}'] >= 5  # EHLO MAIL RCPT DATA-end QUIT
    assert admin_get(hop.admin, b"/nope").startswith(b"HTTP/1.0 404")
    # Paths match whole, not by prefix.
    assert admin_get(hop.admin, b"/healthzz").startswith(b"HTTP/1.0 404")
    assert admin_get(hop.admin, b"/healthz?probe=1").startswith(b"HTTP/1.0 200")


def test_destination_by_name(tmp_path):
    # A name is looked up for every upstream session, off the event loop
    # (the old per-session getaddrinfo blocked every other session). The
    # sink listens where glibc's first answer for localhost points (files
    # only: /etc/hosts, no DNS traffic).
    family, _, _, _, sa = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0]
    host = sa[0]
    with socket.socket(family) as s:
        s.bind((host, 0))
        sport = s.getsockname()[1]
    md = tmp_path / "md"
    listen = ["--listen", "127.0.0.1:%d" % sport]  # where wait_port looks
    if family == socket.AF_INET6:
        listen += ["--listen", "[%s]:%d" % (host, sport)]
    sink = Proc([os.path.join(BIN, "envoi"), "sink", *listen, "--maildir", str(md)], sport, tmp_path / "sink.log")
    port = free_port()
    hop = Proc([os.path.join(BIN, "spamfilter"), "--listen", "127.0.0.1:%d" % port, "--destination",
                "localhost:%d" % sport, "--domain", "spamfilter.envoi.test"], port, tmp_path / "hop.log")
    try:
        for i in range(2):
            with smtplib.SMTP("127.0.0.1", port) as c:
                c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: by name %d\r\n\r\nx\r\n" % i)
        got = delivered(md, 2)
        assert sorted(b"by name 0" in m for m in got) == [False, True]
        assert "hop.resolve.failed" not in hop.text()
    finally:
        hop.stop()
        sink.stop()


def test_admin_request_with_nul_gets_400(hop):
    # Without the check the NUL hid the request end from the parser and the
    # connection was only closed by the 5 s timeout, with no answer at all.
    out = admin_get(hop.admin, b"/healthz\x00")
    assert out.startswith(b"HTTP/1.0 400"), out


def test_config_check(tmp_path):
    sf = os.path.join(BIN, "spamfilter")
    ok = subprocess.run([sf, "-n", "--destination", "127.0.0.1:25"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([sf, "-n"], capture_output=True, text=True)
    assert missing.returncode == 2 and "--destination is required" in missing.stderr
    bad = subprocess.run([sf, "-n", "--destination", "x:99999"], capture_output=True, text=True)
    assert bad.returncode == 2
    unknown = subprocess.run([sf, "--no-such-flag"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown flag" in unknown.stderr
    env = dict(os.environ, ENVOI_DESTINATION="127.0.0.1:2525")
    fromenv = subprocess.run([sf, "-n"], capture_output=True, text=True, env=env)
    assert fromenv.returncode == 0, fromenv.stderr


def test_envoi_send_through_hop_parallel(hop, sink):
    """The walking skeleton: envoi send -> spamfilter -> envoi sink."""
    r = subprocess.run([os.path.join(BIN, "envoi"), "send", "--server", "127.0.0.1:%d" % hop.port, "--from",
                        "alice@gmail.test", "--to", "bob@envoi.test", "--subject", "load", "--body",
                        "hello\n.dot\nend", "--count", "200", "--parallel", "10", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sent 200, failed 0" in r.stdout + r.stderr
    msgs = delivered(sink.maildir, 200)
    assert len(msgs) == 200
    subjects = set()
    for m in msgs:
        head, body = split(m)
        assert body == b"hello\r\n.dot\r\nend\r\n"
        subjects.add([l for l in head.split(b"\r\n") if l.startswith(b"Subject:")][0])
    assert len(subjects) == 200  # numbered: every message arrived exactly once


def test_next_hop_temporary_refusal_relayed(tmp_path, sink):
    """The hop relays the next hop's own answers, 4xx included, and loses nothing."""
    import asyncio  # noqa: F401  (aiosmtpd runs its own loop in a thread)
    from aiosmtpd.controller import Controller

    class Busy:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("busy"):
                return "452 4.2.2 Mailbox full"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 accepted by peer"

    port = free_port()
    ctl = Controller(Busy(), hostname="127.0.0.1", port=port)
    ctl.start()
    h = start_hop(tmp_path, port)
    try:
        with smtplib.SMTP("127.0.0.1", h.port) as c:
            c.ehlo("x.test")
            c.mail("a@gmail.test")
            assert c.rcpt("busy@envoi.test") == (452, b"4.2.2 Mailbox full")
            assert c.rcpt("ok@envoi.test")[0] == 250
            code, text = c.data(b"Subject: x\r\n\r\nx\r\n")
            assert (code, text) == (250, b"2.0.0 accepted by peer")
    finally:
        h.stop()
        ctl.stop()
