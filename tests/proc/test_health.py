"""`envoi health HOST:PORT` (the Docker HEALTHCHECK probe) against Python's
http.server and against a real service's admin port."""

import http.server
import socket
import threading
import time

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    status = {"/healthz": 200}
    seen = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Host")))
        code = self.status.get(self.path, 404)
        body = b"ok\n" if code == 200 else b"unhealthy\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def http_peer():
    servers = []

    def start(status):
        handler = type("H", (_Handler,), {"status": status, "seen": []})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv, handler

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_healthy_is_exit_0(http_peer, envoi):
    srv, h = http_peer({"/healthz": 200})
    r = envoi("health", f"127.0.0.1:{srv.server_port}")
    assert r.returncode == 0, r.stderr
    assert h.seen == [("/healthz", "127.0.0.1")]


def test_unhealthy_is_exit_1(http_peer, envoi):
    srv, h = http_peer({"/healthz": 503})
    r = envoi("health", f"127.0.0.1:{srv.server_port}")
    assert r.returncode == 1
    assert "503" in r.stderr
    assert len(h.seen) == 1


def test_other_path(http_peer, envoi):
    srv, h = http_peer({"/ready": 200})
    r = envoi("health", f"127.0.0.1:{srv.server_port}", "--path", "/ready")
    assert r.returncode == 0, r.stderr
    r = envoi("health", f"127.0.0.1:{srv.server_port}")
    assert r.returncode == 1 and "404" in r.stderr


def test_nothing_listening_is_exit_1(envoi, free_port):
    r = envoi("health", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1
    assert "refused" in r.stderr.lower()


def test_silent_peer_times_out(envoi):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        t0 = time.monotonic()
        r = envoi("health", f"127.0.0.1:{s.getsockname()[1]}", "--timeout", "0.5")
        elapsed = time.monotonic() - t0
    assert r.returncode == 1
    assert "timed out" in r.stderr
    assert elapsed < 5


def test_not_http_is_exit_1(envoi):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)

        def serve():
            c, _ = s.accept()
            c.recv(1024)
            c.sendall(b"220 this is SMTP, not HTTP\r\n")
            c.close()

        t = threading.Thread(target=serve)
        t.start()
        r = envoi("health", f"127.0.0.1:{s.getsockname()[1]}")
        t.join()
    assert r.returncode == 1
    assert "not an HTTP response" in r.stderr


@pytest.mark.parametrize("args", [[], ["127.0.0.1"], ["127.0.0.1:80", "extra"], ["127.0.0.1:80", "--path", "x"]])
def test_usage_is_exit_2(envoi, args):
    r = envoi("health", *args)
    assert r.returncode == 2
    assert "usage: envoi health" in r.stderr


def test_against_a_service_admin_port(start_service, envoi, free_port, smtp_server):
    """The probe as the containers use it: a real service's /healthz; after
    SIGTERM the service exits 0 and the probe fails."""
    peer = smtp_server()
    smtp, admin = free_port(), free_port()
    svc = start_service("spamfilter", "--listen", f"127.0.0.1:{smtp}", "--admin", f"127.0.0.1:{admin}",
                        "--destination", peer.addr, "--domain", "filter.example.test",
                        ready_port=[smtp, admin])
    r = envoi("health", f"127.0.0.1:{admin}")
    assert r.returncode == 0, (r.stderr, svc.stderr_text())
    svc.stop()
    r = envoi("health", f"127.0.0.1:{admin}", "--timeout", "2")
    assert r.returncode == 1
