"""Hostile peers for tests/proc/test_chaos.py: a raw SMTP client that can
stop anywhere, and a scripted next hop that misbehaves on purpose. Loopback
only; every socket has a timeout so a wedged daemon fails a test instead of
hanging it."""
import os
import socket
import ssl
import struct
import threading
import time

DEFAULT_REPLIES = {
    "greet": b"220 up.envoi.test ESMTP fake\r\n",
    "ehlo": b"250-up.envoi.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n",
    "helo": b"250 up.envoi.test\r\n",
    "mail": b"250 2.1.0 Ok\r\n",
    "rcpt": b"250 2.1.5 Ok\r\n",
    "data": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    "dot": b"250 2.0.0 Ok: stored by fake\r\n",
    "rset": b"250 2.0.0 Ok\r\n",
    "noop": b"250 2.0.0 Ok\r\n",
    "quit": b"221 2.0.0 Bye\r\n",
    "other": b"502 5.5.1 not here\r\n",
}


def rst_close(sock):
    """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Client:
    """A raw SMTP client: bytes out, replies in, nothing hidden."""

    def __init__(self, port, host="127.0.0.1", src=None, timeout=15, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            self.s.bind((src, 0))
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed; pending %r" % self.buf[:200])
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """(code, [lines]) of one possibly multi-line reply; EOFError at end."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    def try_reply(self):
        """(code or None when the connection ended/timed out, lines)."""
        try:
            return self.reply()
        except (EOFError, OSError, ValueError):
            return None, []

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.reply()[0]

    def greet(self):
        code, _ = self.reply()
        assert code == 220
        return self

    def closed_by_peer(self, timeout=10):
        """True when the peer closes (FIN or RST) within timeout; data is drained."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except ConnectionResetError:
            return True
        except OSError:
            return False

    def close(self, rst=False):
        if rst:
            rst_close(self.s)
        else:
            self.s.close()


def client_hello(server_hostname="mx.example.test"):
    """The bytes of a real TLS ClientHello (Python's ssl over memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class FakeUpstream:
    """A next hop that follows a script per connection.

    push(script) queues a script for the next accepted connection (a correct
    server when none is queued). A script maps a step (greet, ehlo, helo, mail,
    rcpt, data, dot, rset, noop, quit) to an action:
      bytes       sent as is (garbage welcome)
      "close"     FIN right away         "rst"    RST right away
      "silent"    never answer again; keep reading until the peer leaves
      "deaf"      never answer nor read again (20 s)
      ("then-close", bytes)   send, then FIN
      ("then-silent", bytes)  send, then as "silent"
    STARTTLS (with tls=context) takes "tls" (the default: 220, handshake,
    go on encrypted), "tls-then-close", "tls-then-plain-garbage" (cleartext
    bytes inside the TLS stream) or any action above; "inject" is sent
    right after the 220, in clear, before the handshake.
    and "delay": seconds before every answer.
    A message counts as stored only when the dot's answer is a well-formed
    single 250 line (or ends in one) that went out; stored holds the bodies."""

    def __init__(self, backlog=128, tls=None):
        self.tls = tls  # server ssl.SSLContext: STARTTLS is then answered per script
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.scripts = []
        self.stored = []
        self.commands = []  # every command line received, in order
        self.accepted = 0
        self.lock = threading.Lock()
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def push(self, script):
        with self.lock:
            self.scripts.append(script)

    def stop(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass

    def _accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                script = self.scripts.pop(0) if self.scripts else {}
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, script), daemon=True).start()

    @staticmethod
    def _stores(answer):
        """True when the first whole reply in answer is a 250."""
        for line in answer.split(b"\r\n")[:-1]:
            if line[:3] != b"250":
                return False
            if line[3:4] != b"-":
                return True
        return False

    def _act(self, c, f, script, step, body=None):
        """Answers one step; False when the session is over."""
        action = script.get(step, DEFAULT_REPLIES.get(step, DEFAULT_REPLIES["other"]))
        if script.get("delay"):
            time.sleep(script["delay"])
        if action == "close":
            c.close()
            return False
        if action == "rst":
            rst_close(c)
            return False
        if action == "deaf":  # neither answer nor read: our receive window fills up
            end = time.time() + 20
            while time.time() < end and not self.stopping:
                time.sleep(0.1)
            c.close()
            return False
        if action == "silent":
            try:
                while c.recv(65536):
                    pass
            except OSError:
                pass
            c.close()
            return False
        after = action[0] if isinstance(action, tuple) else None
        data = action[1] if after else action
        if step == "dot" and self._stores(data):  # stored first, then answered, as a real server
            with self.lock:
                self.stored.append(body)
        c.sendall(data)
        if after == "then-silent":
            return self._act(c, f, {"x": "silent"}, "x")
        if after == "then-close" or step == "quit":
            c.close()
            return False
        return True

    def _starttls(self, c, script):
        """Answers STARTTLS; the socket to go on with, or None when done."""
        action = script.get("starttls", "tls")
        if not (isinstance(action, str) and action.startswith("tls")):
            self._act(c, None, script, "starttls")
            return None
        c.sendall(b"220 2.0.0 Ready to start TLS\r\n" + script.get("inject", b""))
        try:
            t = self.tls.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            return None
        if action == "tls-then-close":
            t.close()
            return None
        if action == "tls-then-plain-garbage":
            os.write(t.fileno(), b"250 this is not a TLS record\r\n" * 4)
            time.sleep(1)
            t.close()
            return None
        return t

    def _serve(self, c, script):
        c.settimeout(60)
        try:
            f = c.makefile("rb")
            if not self._act(c, f, script, "greet"):
                return
            while True:
                line = f.readline(100000)
                if not line:
                    return
                with self.lock:
                    self.commands.append(line)
                verb = line[:4].upper().decode("latin-1")
                step = {"EHLO": "ehlo", "HELO": "helo", "MAIL": "mail", "RCPT": "rcpt", "DATA": "data",
                        "RSET": "rset", "NOOP": "noop", "QUIT": "quit", "STAR": "starttls"}.get(verb, "other")
                if step == "starttls" and self.tls:
                    t = self._starttls(c, script)
                    if t is None:
                        return
                    c = t
                    f = c.makefile("rb")
                    script = dict(script, ehlo=script.get("ehlo-after-tls", DEFAULT_REPLIES["ehlo"]))
                    continue
                if not self._act(c, f, script, step):
                    return
                if step == "data" and script.get("body") == "deaf":
                    self._act(c, f, script, "body")
                    return
                answer = script.get("data", DEFAULT_REPLIES["data"])
                if step == "data" and isinstance(answer, bytes) and answer.startswith(b"354") and \
                        script.get("body") != "deaf":
                    body = []
                    while True:
                        l = f.readline()
                        if not l:
                            return
                        if l == b".\r\n":
                            break
                        body.append(l)
                    if not self._act(c, f, script, "dot", b"".join(body)):
                        return
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass


def blackhole():
    """A listening socket whose accept queue is full: connects to it hang in
    SYN-SENT (Linux drops the SYN), like a next hop too busy to accept."""
    l = socket.socket()
    l.bind(("127.0.0.1", 0))
    l.listen(0)
    port = l.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.1)
    return l, fillers, port
