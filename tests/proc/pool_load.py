"""Load for the hops whose transform runs on libuv's thread pool (signer,
spamfilter): does the event loop keep answering while big messages are
being worked on?

Nothing here measures time. The next hop is aiosmtpd, which notes in one
ordered event list when each message's DATA command reaches it: a hop sends
DATA upstream only after its transform finished, so that event marks the end
of the CPU work. The clients add their own events (/healthz answered, small
message accepted) to the same list, and the tests compare positions."""
import re
import signal
import smtplib
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from test_hop import admin_get, free_port

LOAD_DATA_LIMIT = 256 * 1024 * 1024  # what our next hop takes; the hops' own --max-size is lower


class Events:
    """One ordered list of what happened, appended to from several threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seq = []
        self.clock = []  # for failure messages only: no assertion looks at it

    def add(self, *what):
        with self.lock:
            self.seq.append(what)
            self.clock.append(time.monotonic())

    def list(self):
        with self.lock:
            return list(self.seq)

    def __repr__(self):
        with self.lock:
            t0 = self.clock[0] if self.clock else 0
            return "\n".join("%+.3fs %r" % (t - t0, e) for e, t in zip(self.seq, self.clock))


class _NotingSMTP(SMTP):
    line_length_limit = 1 << 20  # corpus mail has lines past RFC 5321's 1000; the hops pass them on

    async def smtp_DATA(self, arg):
        if self.envelope.rcpt_tos:
            self.event_handler.events.add("upstream-data", *self.envelope.rcpt_tos)
        await super().smtp_DATA(arg)


class _NotingController(Controller):
    def factory(self):
        return _NotingSMTP(self.handler, **self.SMTP_kwargs)


class Upstream:
    """aiosmtpd as the next hop; stored maps each recipient to the list of
    message contents received for it (exactly one is expected)."""

    def __init__(self, events):
        self.events = events
        self.stored = {}
        self.lock = threading.Lock()
        self.port = free_port()
        self.ctl = _NotingController(self, hostname="127.0.0.1", port=self.port, data_size_limit=LOAD_DATA_LIMIT)
        self.ctl.start()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for r in envelope.rcpt_tos:
                self.stored.setdefault(r, []).append(bytes(envelope.content))
        return "250 2.0.0 Ok: stored by aiosmtpd"

    def stop(self):
        self.ctl.stop()


def _big_transaction(port, sender, rcpt, msg, sent, go, events, errors):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as c:
            c.ehlo("load.envoi.test")
            assert c.mail(sender)[0] == 250
            assert c.rcpt(rcpt)[0] == 250
            code, text = c.docmd("DATA")
            assert code == 354, text
            c.send(re.sub(rb"(?m)^\.", b"..", msg))
            sent.set()
            # The final dots go together, so the transforms all start at
            # about the same moment instead of one by one as data arrives.
            go.wait(300)
            try:
                c.send(b".\r\n")
                code, text = c.getreply()
            except (ConnectionError, smtplib.SMTPServerDisconnected):
                # A service stopping while this data was still unread closes
                # with it unread: the kernel answers with a reset, which
                # acknowledges nothing (the client keeps the message).
                code = "reset"
            events.add("big-reply", rcpt, code)
    except Exception as e:  # noqa: BLE001
        errors.append("%s: %r" % (rcpt, e))
        sent.set()


def start_bigs(port, events, sender, bigs):
    """Sends every message of bigs ({rcpt: bytes}) at once on its own
    connection, all but the final dots, then the dots. Returns the client
    threads (each adds a "big-reply" event) and their error list."""
    errors = []
    sent = {r: threading.Event() for r in bigs}
    go = threading.Event()
    threads = [threading.Thread(target=_big_transaction, args=(port, sender, r, m, sent[r], go, events, errors))
               for r, m in bigs.items()]
    for t in threads:
        t.start()
    for e in sent.values():
        e.wait(300)
    go.set()
    return threads, errors


def load(port, admin, events, sender, bigs, small):
    """start_bigs(), then asks /healthz and sends small ((rcpt, bytes)) on
    another connection. Returns the client errors; the
    events list gets "healthz", "small-reply" and one "big-reply" per big."""
    threads, errors = start_bigs(port, events, sender, bigs)
    reply = admin_get(admin, b"/healthz")
    events.add("healthz", reply.split(b"\r\n")[0].decode())
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as c:
            refused = c.sendmail(sender, [small[0]], small[1])
            events.add("small-reply", refused)
    except Exception as e:  # noqa: BLE001
        errors.append("small: %r" % e)
    for t in threads:
        t.join(300)
    return errors


def position(seq, *what):
    """Index of the first event starting with what."""
    for i, e in enumerate(seq):
        if e[:len(what)] == what:
            return i
    raise AssertionError("no event %r in %r" % (what, seq))


def assert_loop_stayed_free(events, bigs):
    """Every big message got 250; /healthz was answered (200) before the
    last big message reached the next hop, and the small message was
    accepted while a big one still waited for its reply."""
    seq = events.list()
    assert sorted((e[1], e[2]) for e in seq if e[0] == "big-reply") == [(r, 250) for r in sorted(bigs)], events
    assert seq[position(seq, "healthz")][1].startswith("HTTP/1.0 200"), events
    assert position(seq, "healthz") < max(position(seq, "upstream-data", r) for r in bigs), events
    assert position(seq, "small-reply", {}) < max(position(seq, "big-reply", r) for r in bigs), events


def big_text(size, seed):
    """About size bytes of CRLF text lines made of varied words, no line
    starting with a dot: deterministic for a given seed (no hash())."""
    words = []
    x = seed * 2654435761 + 1
    for _ in range(4096):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        n = 3 + (x >> 60) % 8
        words.append(bytes(97 + (x >> (5 * k)) % 26 for k in range(n)))
    lines, total, i = [], 0, 0
    while total < size:
        line = b" ".join(words[(i * 7 + k * 13) % len(words)] for k in range(14))
        lines.append(line)
        total += len(line) + 2
        i += 1
    return b"\r\n".join(lines) + b"\r\n"


def stop_during_work(proc, events, upstream, sender, bigs):
    """SIGTERM right after the final dots of bigs: the service must exit 0
    with its loop closed (and, under ASan, nothing leaked) while workers
    still hold the messages. Every message it acknowledged must have reached
    upstream once; the others get 421 (or a reset), so the client keeps them."""
    threads, errors = start_bigs(proc.port, events, sender, bigs)
    proc.p.send_signal(signal.SIGTERM)
    events.add("sigterm")
    rc = proc.p.wait(120)
    for t in threads:
        t.join(300)
    assert rc == 0, proc.text()
    assert "loop=closed" in proc.text()
    assert errors == []
    seq = events.list()
    replies = {e[1]: e[2] for e in seq if e[0] == "big-reply"}
    assert sorted(replies) == sorted(bigs) and set(replies.values()) <= {250, 421, "reset"}, events
    for rcpt, code in replies.items():
        # Not acknowledged yet may still have reached upstream (a retry then
        # duplicates it, as SMTP allows); acknowledged must have, once.
        copies = len(upstream.stored.get(rcpt, []))
        assert copies == 1 if code == 250 else copies <= 1, (rcpt, code, copies)
    # Not every transform had finished when the signal went out.
    done_before = [e for e in seq[:position(seq, "sigterm")] if e[0] == "upstream-data"]
    assert len(done_before) < len(bigs), events
