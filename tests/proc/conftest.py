"""Shared fixtures for process-level tests: real binaries from build/bin on
loopback, real peers (aiosmtpd, openssl, http.server) on free ports.

Fixtures:
  free_port()                      a function: a free TCP port on 127.0.0.1
  start_service(name, *args, ready_port=N|[N..], env=None, timeout=10)
                                   starts build/bin/<name>, waits until every ready
                                   port accepts connections; returns a Service with
                                   .stop() (SIGTERM, asserts exit status 0),
                                   .kill(), .stderr_text(), .proc. Anything still
                                   running at teardown is stopped (and must exit 0).
  envoi(*args, input=None, timeout=60)
                                   runs build/bin/envoi, returns CompletedProcess
                                   (text stdout/stderr, returncode).
  smtp_server(**kw)                starts an aiosmtpd server recording every message;
                                   returns a Peer with .port, .recorder (messages,
                                   ehlo_count...). kw: tls ("starttls"|"implicit"),
                                   auth={"user": "pass"}, pipelining=True,
                                   rcpt_reply={"addr": "451 ..."}, data_reply="...".
  lab_ca                           session-wide CA + server certificate for
                                   mx.example.test (openssl): .ca, .cert, .key,
                                   .ssl_context(), and .other_ca (an unrelated CA).
"""

import os
import pathlib
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# ENVOI_BIN_DIR lets the same tests run against other builds (e.g. ASan)
BIN = pathlib.Path(os.environ.get("ENVOI_BIN_DIR", ROOT / "build" / "bin")).resolve()
LOOPBACK = "127.0.0.1"


def _free_port(host=LOOPBACK):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def free_port():
    return _free_port


def read_log(f):
    """All a service has written so far to f, a file it shares with the test.
    pread, not seek and read: the open file's offset is shared, and moving it
    here would make the service write over its own earlier lines (and a read
    racing its next write could come back empty)."""
    fd = f.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")


class Service:
    """A service binary started by a test. stderr goes to a temporary file so
    a chatty service can never block on a full pipe."""

    def __init__(self, name, args, env=None, cwd=None, stdin=None):
        path = BIN / name
        if not path.exists():
            pytest.fail(f"{path} missing: run `make` first")
        self.name = name
        self.args = [str(a) for a in args]
        self._err = tempfile.TemporaryFile()
        self._out = tempfile.TemporaryFile()
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [str(path), *self.args],
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            env=full_env,
            cwd=cwd,
        )
        self.stopped = False

    def stderr_text(self):
        return read_log(self._err)

    def stdout_text(self):
        return read_log(self._out)

    def running(self):
        return self.proc.poll() is None

    def wait_ready(self, ports, timeout=10.0, host=LOOPBACK):
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            if not self.running():
                pytest.fail(
                    f"{self.name} exited with {self.proc.returncode} before listening on "
                    f"{pending}; args={self.args}\nstderr:\n{self.stderr_text()}"
                )
            if _accepts(host, pending[0]):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(
                    f"{self.name} not accepting on {host}:{pending[0]} after {timeout}s\n"
                    f"stderr:\n{self.stderr_text()}"
                )
            time.sleep(0.05)

    def stop(self, timeout=10.0):
        """SIGTERM, then the service must exit on its own with status 0."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not exit within {timeout}s of SIGTERM\nstderr:\n{self.stderr_text()}")
        assert rc == 0, f"{self.name} exited with {rc} after SIGTERM\nstderr:\n{self.stderr_text()}"
        return rc

    def kill(self):
        """SIGKILL, for tests of a peer that dies; no status check."""
        self.stopped = True
        if self.running():
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def start_service():
    started = []

    def start(name, *args, ready_port=None, env=None, timeout=10.0, cwd=None, stdin=None):
        svc = Service(name, args, env=env, cwd=cwd, stdin=stdin)
        started.append(svc)
        if ready_port is not None:
            ports = ready_port if isinstance(ready_port, (list, tuple)) else [ready_port]
            svc.wait_ready(ports, timeout=timeout)
        return svc

    yield start
    errors = []
    for svc in reversed(started):
        try:
            svc.stop()
        except BaseException as e:  # report every service, not only the first
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors))


@pytest.fixture
def envoi():
    path = BIN / "envoi"
    if not path.exists():
        pytest.fail(f"{path} missing: run `make` first")

    def run(*args, input=None, timeout=120, env=None):
        # a password in the caller's environment must not leak into tests
        full_env = {k: v for k, v in os.environ.items() if k != "ENVOI_AUTH_PASSWORD"}
        full_env.update(env or {})
        return subprocess.run(
            [str(path), *[str(a) for a in args]],
            input=input,
            capture_output=True,
            text=isinstance(input, str) or input is None,
            timeout=timeout,
            env=full_env,
        )

    return run


# ---- an independent SMTP server: aiosmtpd ----


class Recorder:
    """aiosmtpd handler keeping what arrived. Replies can be scripted per
    recipient; PIPELINING can be advertised (aiosmtpd reads commands one by
    one from its stream, so pipelined input works; it just does not say so)."""

    def __init__(self, pipelining=False, rcpt_reply=None, data_reply=None):
        self.messages = []
        self.ehlo_count = 0
        self.mail_count = 0
        self.pipelined_mail = 0  # MAIL commands that arrived with more commands behind them
        self.pipelining = pipelining
        self.rcpt_reply = dict(rcpt_reply or {})
        self.data_reply = data_reply
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.ehlo_count += 1
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        buf = getattr(getattr(server, "_reader", None), "_buffer", b"")
        with self.lock:
            self.mail_count += 1
            if b"RCPT TO" in bytes(buf).upper():
                self.pipelined_mail += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_reply.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        with self.lock:
            self.messages.append(
                types.SimpleNamespace(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    mail_options=list(envelope.mail_options),
                    content=bytes(envelope.original_content or envelope.content),
                    tls=session.ssl is not None  # STARTTLS
                    or server.transport.get_extra_info("ssl_object") is not None,  # implicit TLS
                    auth=session.authenticated,
                    peer=session.peer,
                )
            )
        return "250 2.0.0 OK queued"


@pytest.fixture
def smtp_server(lab_ca):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    controllers = []

    def start(tls=None, auth=None, pipelining=False, rcpt_reply=None, data_reply=None):
        rec = Recorder(pipelining=pipelining, rcpt_reply=rcpt_reply, data_reply=data_reply)
        port = _free_port()
        kw = dict(server_hostname="mx.example.test", decode_data=False, enable_SMTPUTF8=True)
        if tls == "starttls":
            kw["tls_context"] = lab_ca.ssl_context()
        elif tls == "implicit":
            kw["ssl_context"] = lab_ca.ssl_context()
        if auth is not None:

            def authenticator(server, session, envelope, mechanism, data):
                ok = (
                    mechanism in ("PLAIN", "LOGIN")
                    and auth.get(data.login.decode("utf-8", "replace")) == data.password.decode("utf-8", "replace")
                )
                if ok:
                    return AuthResult(success=True, handled=True, auth_data=data)
                return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535

            kw["authenticator"] = authenticator
            kw["auth_require_tls"] = True
        ctl = Controller(rec, hostname=LOOPBACK, port=port, **kw)
        ctl.start()
        controllers.append(ctl)
        return types.SimpleNamespace(port=port, recorder=rec, controller=ctl, addr=f"{LOOPBACK}:{port}")

    yield start
    for ctl in controllers:
        ctl.stop()


# ---- certificates for TLS tests ----


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d, name):
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.crt",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab-ca")
    _make_ca(d, "lab-ca")
    _make_ca(d, "other-ca")
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:mx.example.test,DNS:localhost\n"
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mx.example.test",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "lab-ca.crt", "-CAkey", "lab-ca.key",
             "-CAcreateserial", "-days", "30", "-extfile", "ext.cnf", "-out", "server.crt", cwd=d)

    def ssl_context():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(d / "server.crt"), str(d / "server.key"))
        return ctx

    return types.SimpleNamespace(
        dir=d, ca=d / "lab-ca.crt", cert=d / "server.crt", key=d / "server.key",
        other_ca=d / "other-ca.crt", ssl_context=ssl_context,
    )
