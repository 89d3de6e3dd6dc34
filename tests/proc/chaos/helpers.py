"""Process helpers for tests/proc/test_chaos.py: the daemons under test
(spamfilter, verifier, envoi sink as the last hop), SMTP conversations that
stop where a test wants, and measurements (RSS, sessions left)."""
import os
import signal
import smtplib
import socket
import time

from test_hop import BIN, Proc, admin_get, free_port, metrics
from peers import Client

ASAN = os.path.normpath(BIN).endswith(os.path.join("asan", "bin"))
FROM, RCPT = b"MAIL FROM:<a@gmail.test>", b"RCPT TO:<b@envoi.test>"


def sink_proc(tmp_path, name="sink"):
    port = free_port()
    md = tmp_path / (name + "-md")
    p = Proc([os.path.join(BIN, "envoi"), "sink", "--listen", "127.0.0.1:%d" % port, "--maildir", str(md)],
             port, tmp_path / (name + ".log"))
    p.maildir = md
    return p


def hop_proc(tmp_path, dest, *extra, name="hop"):
    """spamfilter with short deadlines (later flags win, so extra can override)."""
    port, admin = free_port(), free_port()
    p = Proc([os.path.join(BIN, "spamfilter"), "--listen", "127.0.0.1:%d" % port, "--destination",
              "127.0.0.1:%d" % dest, "--domain", "chaos.envoi.test", "--admin", "127.0.0.1:%d" % admin,
              "--next-hop-timeout", "1", "--timeout", "5", *extra], port, tmp_path / (name + ".log"))
    p.admin = admin
    return p


def wait_idle(h, timeout=10):
    """/healthz answers and every SMTP session is gone (none leaked)."""
    assert admin_get(h.admin, b"/healthz").startswith(b"HTTP/1.0 200")
    end = time.time() + timeout
    while True:
        n = metrics(h.admin).get("envoi_smtp_connections", 0)
        if n == 0 or time.time() > end:
            break
        time.sleep(0.05)
    assert n == 0, "sessions still open: %s" % n


def send_ok(port, tag, src=None):
    with smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(src, 0) if src else None) as c:
        assert c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: %s\r\n\r\nbody %s\r\n" % (tag, tag)) == {}


def count_tag(msgs, tag):
    return sum(1 for m in msgs if tag in m)


def message(tag, extra=b""):
    return b"Subject: " + tag + b"\r\nFrom: a@gmail.test\r\n\r\nbody of " + tag + b"\r\n" + extra


def stop_within(proc, seconds):
    """SIGTERM; returns (exit code or None if still running after seconds)."""
    proc.p.send_signal(signal.SIGTERM)
    try:
        return proc.p.wait(seconds)
    except Exception:  # noqa: BLE001 - still running: the caller reports it
        return None


VANISH_STEPS = ["connect", "greeting", "mid-ehlo", "ehlo", "mail-sent", "mail", "rcpt", "data", "mid-data",
                "dot", "pipelined", "quit-sent"]


def vanish(port, step, tag, rst):
    c = Client(port, timeout=10)
    try:
        if step == "connect":
            return
        c.greet()
        if step == "greeting":
            return
        if step == "mid-ehlo":
            c.send(b"EHLO cli")
            return
        assert c.cmd(b"EHLO client.test") == 250
        if step == "mail-sent":  # the hop is opening its next-hop session right now
            c.send(FROM + b"\r\n")
        elif step == "pipelined":
            c.send(FROM + b"\r\n" + RCPT + b"\r\nDATA\r\n" + message(tag) + b".\r\n")
        elif step == "quit-sent":
            c.send(b"QUIT\r\n")
        elif step != "ehlo":
            assert c.cmd(FROM) == 250
            if step == "mail":
                return
            assert c.cmd(RCPT) == 250
            if step == "rcpt":
                return
            assert c.cmd(b"DATA") == 354
            if step == "mid-data":
                c.send(message(tag)[:30])
            elif step == "dot":  # gone before the final reply
                c.send(message(tag) + b".\r\n")
    finally:
        c.close(rst)


def transaction(port, tag, extra=b""):
    """EHLO MAIL RCPT DATA message, stopping at the first refusal: {step: code}."""
    c = Client(port, timeout=30)
    c.greet()
    assert c.cmd(b"EHLO client.test") == 250
    res, t0 = {}, time.monotonic()
    for step, line in (("mail", FROM), ("rcpt", RCPT), ("data", b"DATA")):
        c.send(line + b"\r\n")
        res[step] = c.try_reply()[0]
        if res[step] is None or res[step] >= 400:
            break
    else:
        c.send(message(tag, extra) + b".\r\n")
        res["dot"] = c.try_reply()[0]
    res["seconds"] = time.monotonic() - t0
    c.close()
    return res


def hop_rss_kb(h):
    with open("/proc/%d/status" % h.p.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def flood_noops(c, nbytes, block_timeout=1.0):
    """Sends NOOPs without reading replies until nbytes went out or the hop
    stops reading (sendall blocks); returns the bytes sent."""
    c.s.settimeout(block_timeout)
    chunk = b"NOOP\r\n" * 10000
    sent = 0
    try:
        while sent < nbytes:
            c.s.sendall(chunk)
            sent += len(chunk)
    except socket.timeout:
        pass
    return sent


def tls_hop(tmp_path, lab_ca, dest, *extra):
    tport = free_port()
    h = hop_proc(tmp_path, dest, "--tls-cert", str(lab_ca.cert), "--tls-key", str(lab_ca.key), "--listen-tls",
                 "127.0.0.1:%d" % tport, "--timeout", "2", *extra)
    h.tport = tport
    return h


def starttls(h):
    c = Client(h.port, timeout=10).greet()
    assert c.cmd(b"EHLO client.test") == 250
    assert c.cmd(b"STARTTLS") == 220
    return c


def tls_case(h, case, hello, rst):
    """One broken handshake; returns what the hop sent back, for checks."""
    if case.startswith("implicit"):
        c = Client(h.tport, timeout=10)
    else:
        c = starttls(h)
    if case in ("garbage", "implicit-garbage"):
        c.send(b"\x00\x01 this is not TLS at all \xff\xfe\r\n" * 8)
        assert c.closed_by_peer(5)
    elif case in ("plaintext", "implicit-plaintext"):
        c.send(b"EHLO sneaky.test\r\nMAIL FROM:<a@gmail.test>\r\n")
        assert c.closed_by_peer(5)
    elif case == "bad-record-length":
        c.send(b"\x16\x03\x03\xff\xff" + b"\x00" * 64)
        assert c.closed_by_peer(5)
    elif case in ("half-hello", "implicit-half-hello"):
        c.send(hello[:len(hello) // 2])
    elif case in ("hello-then-leave", "implicit-hello-then-leave"):
        c.send(hello)  # the server's flight comes back; the client never finishes
        c.s.settimeout(5)
        first = c.s.recv(5)
        assert first[:1] == b"\x16", first  # a TLS handshake record
    got = c.buf
    c.close(rst)
    return got


def verifier_proc(tmp_path, dest, dns_port, *extra):
    port, admin = free_port(), free_port()
    p = Proc([os.path.join(BIN, "verifier"), "--listen", "127.0.0.1:%d" % port, "--destination",
              "127.0.0.1:%d" % dest, "--domain", "mx.envoi.test", "--recipient-domain", "envoi.test",
              "--admin", "127.0.0.1:%d" % admin, "--nameserver", "127.0.0.1:%d" % dns_port,
              "--next-hop-timeout", "2", "--timeout", "10", *extra], port, tmp_path / "verifier.log")
    p.admin = admin
    return p


def silent_dns():
    """A nameserver that never answers (UDP and TCP ports bound, nothing read)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", u.getsockname()[1]))
        t.listen(0)
    except OSError:
        pass
    return u, t, u.getsockname()[1]


def checked(v):
    return v.text().count("msg=verifier.checked")


def stop_all(*procs):
    """Stops every process (Proc: SIGTERM, must exit 0; FakeUpstream, sockets:
    closed), all of them even when one fails, then raises the first failure."""
    first = None
    for p in procs:
        try:
            if hasattr(p, "p"):
                p.stop()
                if p.p.poll() is None:
                    p.kill()
            else:
                p.stop() if hasattr(p, "stop") else p.close()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the others
            if hasattr(p, "p") and p.p.poll() is None:
                p.kill()
            first = first or e
    if first:
        raise first
