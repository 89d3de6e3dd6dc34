"""Chaos tests of a hop (spamfilter): clients that vanish anywhere, a next
hop that lies, stalls or hangs up, slowloris, floods, broken TLS and SIGTERM
at awkward moments. After each attack the daemon must still deliver a
normal message, answer /healthz, drop every session, and exit 0 on SIGTERM
(under the ASan build a leak or use-after-free turns that exit non-zero):

  ENVOI_BIN_DIR=$PWD/build/asan/bin ASAN_OPTIONS=detect_leaks=1:exitcode=86 \\
    /usr/bin/python3 -m pytest -q tests/proc/test_chaos.py

The invariant everywhere is the hop contract: a client gets 250 for a
message only when the next hop said 250 for that message, and a message is
never stored twice. Bugs not fixed yet are xfail(strict=True): the fix
turns them into failures to remove the mark."""
import os
import signal
import smtplib
import socket
import ssl
import sys
import threading
import time

import pytest

from test_hop import BIN, Proc, admin_get, delivered, free_port, metrics

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "chaos"))
from peers import DEFAULT_REPLIES, Client, FakeUpstream, blackhole, client_hello, rst_close  # noqa: E402

ASAN = os.path.normpath(BIN).endswith(os.path.join("asan", "bin"))
FROM, RCPT = b"MAIL FROM:<a@gmail.test>", b"RCPT TO:<b@envoi.test>"


# ---- processes ----

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


# ---- clients that vanish ----

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


def test_clients_vanish_at_every_step(tmp_path):
    s = sink_proc(tmp_path)
    h = hop_proc(tmp_path, s.port)
    rounds = 8 if ASAN else 15
    jobs = [(step, b"v-%s-%d-%d" % (step.encode(), i, rst), rst)
            for i in range(rounds) for step in VANISH_STEPS for rst in (0, 1)]
    errors = []

    def worker(k):
        for step, tag, rst in jobs[k::4]:
            try:
                vanish(h.port, step, tag, rst)
            except Exception as e:  # noqa: BLE001 - collected and reported
                errors.append((step, rst, repr(e)))

    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        wait_idle(h)
        send_ok(h.port, "after-vanish")
        msgs = delivered(s.maildir, 1, timeout=10)
        assert count_tag(msgs, b"after-vanish") == 1
        for step, tag, _ in jobs:
            n = count_tag(msgs, b"Subject: " + tag + b"\r\n")
            assert n <= 1, (tag, n)  # nothing stored twice
            if step not in ("dot", "pipelined"):
                assert n == 0, tag  # nothing incomplete is ever passed on
        print("vanish: %d sessions, %d complete messages passed on before the client left"
              % (len(jobs), len(msgs) - 1))
        wait_idle(h)
    finally:
        h.stop()
        s.stop()


# ---- a next hop that misbehaves ----

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


BIG = b"".join(b"line %06d of a long body that the next hop will not read\r\n" % i for i in range(40000))

# (id, script, expected final answer: "ok" = 250 and stored once, "4xx", or a relayed code; extra body)
UPSTREAM_CASES = [
    ("accept-then-close", {"greet": "close"}, "4xx", b""),
    ("accept-then-rst", {"greet": "rst"}, "4xx", b""),
    ("greeting-garbage", {"greet": b"HTTP/1.1 400 Bad Request\r\n\r\n"}, "4xx", b""),
    ("greeting-binary", {"greet": b"\xff\xfe\x00\x01\x16\x03\x01\r\n"}, "4xx", b""),
    ("greeting-554", {"greet": b"554 5.3.2 not now\r\n"}, "4xx", b""),
    ("greeting-multiline-mismatch", {"greet": b"220-up.test\r\n554 no\r\n"}, "4xx", b""),
    ("greeting-multiline-ok", {"greet": b"220-up.test\r\n220 welcome\r\n"}, "ok", b""),
    ("greeting-then-close", {"greet": ("then-close", DEFAULT_REPLIES["greet"])}, "4xx", b""),
    ("greeting-never", {"greet": "silent"}, "4xx", b""),
    ("ehlo-close", {"ehlo": "close"}, "4xx", b""),
    ("ehlo-tls-bytes", {"ehlo": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}, "4xx", b""),
    ("ehlo-multiline-mismatch", {"ehlo": b"250-up.test\r\n550 PIPELINING\r\n"}, "4xx", b""),
    ("ehlo-refused-helo-ok", {"ehlo": b"502 5.5.1 no EHLO\r\n"}, "ok", b""),
    ("ehlo-refused-helo-refused", {"ehlo": b"502 no\r\n", "helo": b"554 no\r\n"}, "4xx", b""),
    ("mail-close", {"mail": "close"}, "4xx", b""),
    ("mail-rst", {"mail": "rst"}, "4xx", b""),
    ("mail-garbage", {"mail": b"garbage\r\n"}, "4xx", b""),
    ("mail-code-999", {"mail": b"999 what\r\n"}, "4xx", b""),
    ("mail-multiline-mismatch", {"mail": b"250-ok\r\n550 no\r\n"}, "4xx", b""),
    ("mail-421", {"mail": ("then-close", b"421 4.3.2 shutting down\r\n")}, "4xx", b""),
    ("mail-never", {"mail": "silent"}, "4xx", b""),
    ("mail-reply-too-long", {"mail": b"250-" + b"x" * 9000 + b"\r\n250 ok\r\n"}, "4xx", b""),
    ("mail-reply-never-ends", {"mail": b"250 " + b"x" * 40000}, "4xx", b""),
    ("mail-nul-in-text", {"mail": b"250 ok\x00\xff\r\n"}, "ok", b""),
    ("mail-unsolicited-extra", {"mail": b"250 ok\r\n250 extra\r\n"}, "ok", b""),
    ("rcpt-close", {"rcpt": "close"}, "4xx", b""),
    ("rcpt-550", {"rcpt": b"550 5.1.1 no such user\r\n"}, 550, b""),
    ("rcpt-never", {"rcpt": "silent"}, "4xx", b""),
    ("data-close", {"data": "close"}, "4xx", b""),
    ("data-554", {"data": b"554 5.5.1 no valid recipients\r\n"}, 554, b""),
    ("data-354-then-close-big-body", {"data": ("then-close", b"354 go\r\n")}, "4xx", BIG),
    ("dot-close", {"dot": "close"}, "4xx", b""),
    ("dot-rst", {"dot": "rst"}, "4xx", b""),
    ("dot-never", {"dot": "silent"}, "4xx", b""),
    ("dot-garbage", {"dot": b"stored, I think\r\n"}, "4xx", b""),
    ("dot-multiline-mismatch", {"dot": b"250-ok\r\n451 4.3.0 not really\r\n"}, "4xx", b""),
    ("dot-452", {"dot": b"452 4.3.1 full\r\n"}, 452, b""),
    ("dot-554", {"dot": b"554 5.7.1 spam\r\n"}, 554, b""),
    ("dot-421-close", {"dot": ("then-close", b"421 4.3.2 bye\r\n")}, 421, b""),
    ("dot-250-then-close", {"dot": ("then-close", b"250 2.0.0 stored\r\n")}, "ok", b""),
    ("dot-250-multiline", {"dot": b"250-stored\r\n250 2.0.0 as 42\r\n"}, "ok", b""),
    ("slow-but-in-time", {"delay": 0.3}, "ok", b""),
    ("big-body-ok", {}, "ok", BIG),
]


@pytest.fixture(scope="module")
def upstream_hop(tmp_path_factory):
    d = tmp_path_factory.mktemp("chaos-up")
    up = FakeUpstream()
    h = hop_proc(d, up.port)
    h.tags = []
    yield up, h
    up.stop()
    h.stop()


@pytest.mark.parametrize("name,script,expect,extra", UPSTREAM_CASES, ids=[c[0] for c in UPSTREAM_CASES])
def test_next_hop_misbehaves(upstream_hop, name, script, expect, extra):
    up, h = upstream_hop
    tag = b"up-" + name.encode()
    h.tags.append(tag)
    up.push(script)
    res = transaction(h.port, tag, extra)
    final = [v for k, v in res.items() if k != "seconds"][-1]
    stored = sum(1 for b in up.stored if tag in b)
    assert stored <= 1
    if stored:
        assert res.get("dot") == 250, res
    else:
        assert res.get("dot") != 250, res  # the contract: no 250 unless the next hop said 250
    if expect == "ok":
        assert res.get("dot") == 250 and stored == 1, res
    elif expect == "4xx":
        assert final is not None and 400 <= final < 500, res
    else:
        assert final == expect, res
    # a silent next hop costs --next-hop-timeout (1 s), five times that after the message
    assert res["seconds"] < (9 if name == "dot-never" else 4), res
    print("%s: %s" % (name, res))


def test_next_hop_chaos_leaves_hop_correct(upstream_hop):
    up, h = upstream_hop
    before = len(up.stored)
    for i in range(3):
        send_ok(h.port, "after-up-chaos-%d" % i)
    assert len(up.stored) == before + 3
    bodies = [b for b in up.stored]
    assert len(set(bodies)) == len(bodies)  # nothing stored twice
    wait_idle(h)


@pytest.mark.xfail(strict=True, reason="smtp_client: a 2xx answer to DATA (no 354) is relayed as the message's "
                   "250 although the body was never sent: the message is lost")
def test_next_hop_answers_data_with_250(tmp_path):
    up = FakeUpstream()
    h = hop_proc(tmp_path, up.port)
    try:
        up.push({"data": b"250 2.0.0 Ok\r\n"})
        res = transaction(h.port, b"data-250")
        assert up.stored == []
        assert res.get("dot") != 250, res
        assert res.get("dot") is not None and 400 <= res["dot"] < 500, res
    finally:
        up.stop()
        h.stop()


def test_next_hop_too_busy_to_accept(tmp_path):
    """The next hop's accept queue is full: its connect hangs. The client gets
    451 within --next-hop-timeout; clients that leave while the connect is
    pending, and SIGTERM during pending connects, leave nothing behind."""
    lsock, fillers, port = blackhole()
    h = hop_proc(tmp_path, port)
    try:
        c = Client(h.port).greet()
        assert c.cmd(b"EHLO client.test") == 250
        t0 = time.monotonic()
        assert c.cmd(FROM) == 451
        assert time.monotonic() - t0 < 3
        c.close()
        for i in range(30):
            c = Client(h.port).greet()
            c.send(b"EHLO client.test\r\n" + FROM + b"\r\n")
            assert c.reply()[0] == 250
            c.close(rst=i % 2)
        wait_idle(h)
        pending = []
        for _ in range(8):
            c = Client(h.port).greet()
            assert c.cmd(b"EHLO client.test") == 250
            c.send(FROM + b"\r\n")
            pending.append(c)
        time.sleep(0.2)
        assert stop_within(h, 10) == 0, h.text()
        assert "loop=closed" in h.text()
        for c in pending:
            assert c.reply()[0] == 421
            c.close()
    finally:
        h.stop()
        lsock.close()
        for f in fillers:
            f.close()
