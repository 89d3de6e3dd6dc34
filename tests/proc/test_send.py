"""`envoi send` against an independent SMTP server (aiosmtpd) on loopback:
what arrives, TLS and AUTH, parallel connections, exit statuses."""

import email
import email.policy
import email.utils
import re

import pytest

FROM = "alice@example.test"


def parse(content):
    return email.message_from_bytes(content, policy=email.policy.default)


def test_single_message_headers_and_body(smtp_server, envoi):
    peer = smtp_server()
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test",
              "--subject", "Hello there", "--body", "first line\nsecond line\n", "--helo", "client.example.test")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^msg 1: 250 2\.0\.0 OK queued$", r.stdout, re.M), r.stdout
    assert re.search(r"^sent 1, failed 0, [0-9.]+ msg/s$", r.stdout, re.M), r.stdout
    [m] = peer.recorder.messages
    assert m.mail_from == FROM
    assert m.rcpt_tos == ["bob@example.test"]
    msg = parse(m.content)
    assert msg["From"] == FROM
    assert msg["To"] == "bob@example.test"
    assert msg["Subject"] == "Hello there"
    assert msg["MIME-Version"] == "1.0"
    assert re.fullmatch(r"<[0-9a-f]{16}\.\d+\.1@example\.test>", msg["Message-ID"])
    date = email.utils.parsedate_to_datetime(msg["Date"])
    assert date.tzinfo is not None
    assert msg.get_content_type() == "text/plain"
    # the body arrives with CRLF line ends, exactly
    assert m.content.split(b"\r\n\r\n", 1)[1] == b"first line\r\nsecond line\r\n"
    assert b"\n" not in m.content.replace(b"\r\n", b"")
    # aiosmtpd declares SIZE: the sender gives the size of what it sends
    assert any(o.startswith("SIZE=") for o in m.mail_options), m.mail_options


def test_non_ascii_subject_is_encoded_and_body_is_8bit(smtp_server, envoi):
    peer = smtp_server()
    subject = ("Grüße aus Köln — ünïcödé " * 3).strip()
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test",
              "--subject", subject, "--body", "Ça va? Ünïcödé body.\n")
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    raw_headers = m.content.split(b"\r\n\r\n", 1)[0]
    assert all(b < 0x80 for b in raw_headers), "header must be 7-bit (RFC 2047)"
    assert all(len(line) <= 78 for line in raw_headers.split(b"\r\n"))
    msg = parse(m.content)
    assert msg["Subject"] == subject
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert m.content.split(b"\r\n\r\n", 1)[1] == "Ça va? Ünïcödé body.\r\n".encode()
    assert msg.get_content_charset() == "utf-8"
    assert "BODY=8BITMIME" in m.mail_options


def test_dot_lines_round_trip(smtp_server, envoi, tmp_path):
    """Lines starting with '.' (including a lone '.') are dot-stuffed on the
    wire and arrive unchanged after the server removes the stuffing."""
    peer = smtp_server()
    body = ".\n..\n...three\n.leading dot\nmiddle . dot\n.\n"
    bf = tmp_path / "body.txt"
    bf.write_text(body)
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test", "--body-file", bf)
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    assert m.content.split(b"\r\n\r\n", 1)[1] == body.replace("\n", "\r\n").encode()


def test_raw_from_stdin_arrives_byte_identical(smtp_server, envoi):
    peer = smtp_server()
    raw = (b"From: Carol <carol@example.test>\r\nTo: dave@example.test\r\nSubject: raw one\r\n"
           b"Message-ID: <raw-1@example.test>\r\nX-Custom: kept as is\r\n\r\n"
           b"body\r\n.\r\n..x\r\nlast line without newline")
    r = envoi("send", "--server", peer.addr, "--from", "carol@example.test", "--to", "dave@example.test",
              "--raw", "-", input=raw)
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    # a missing final line end is the only thing a sender must add
    assert m.content == raw + b"\r\n"


def test_raw_file_with_bare_lf_is_sent_as_crlf(smtp_server, envoi, tmp_path):
    peer = smtp_server()
    f = tmp_path / "msg.eml"
    f.write_bytes(b"Subject: lf\nFrom: a@example.test\n\nline\n.dot\n")
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test", "--raw", f)
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    assert m.content == b"Subject: lf\r\nFrom: a@example.test\r\n\r\nline\r\n.dot\r\n"


def test_multiple_recipients(smtp_server, envoi):
    peer = smtp_server()
    rcpts = [f"user{i}@example.test" for i in range(12)]
    args = ["send", "--server", peer.addr, "--from", FROM, "--subject", "to many"]
    for a in rcpts:
        args += ["--to", a]
    r = envoi(*args)
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    assert m.rcpt_tos == rcpts
    msg = parse(m.content)
    assert [a for _, a in email.utils.getaddresses([str(msg["To"])])] == rcpts
    raw_headers = m.content.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in raw_headers.split(b"\r\n")), "the To: list is folded"


def test_count_parallel_all_arrive_over_reused_connections(smtp_server, envoi):
    peer = smtp_server()
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test",
              "--subject", "load", "--body", "x\n", "--count", 50, "--parallel", 5)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^sent 50, failed 0, [0-9.]+ msg/s$", r.stdout, re.M), r.stdout
    assert len(re.findall(r"^msg \d+: 250 ", r.stdout, re.M)) == 50
    msgs = peer.recorder.messages
    assert len(msgs) == 50
    subjects = sorted(parse(m.content)["Subject"] for m in msgs)
    assert subjects == sorted(f"load #{i}" for i in range(1, 51))
    assert len({parse(m.content)["Message-ID"] for m in msgs}) == 50
    # one session per worker, each carrying ten transactions
    assert peer.recorder.ehlo_count == 5
    assert len({m.peer for m in msgs}) == 5


def test_quiet_prints_only_the_summary(smtp_server, envoi):
    peer = smtp_server()
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test",
              "--count", 3, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("sent 3, failed 0,")
    assert len(r.stdout.splitlines()) == 1
    assert len(peer.recorder.messages) == 3


def test_pipelining_used_when_offered(smtp_server, envoi):
    peer = smtp_server(pipelining=True)
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "a@example.test", "--to", "b@example.test",
              "--count", 5, "--verbose")
    assert r.returncode == 0, r.stderr
    assert len(peer.recorder.messages) == 5
    assert all(m.rcpt_tos == ["a@example.test", "b@example.test"] for m in peer.recorder.messages)
    # the RCPTs were already in the server's buffer when it read MAIL
    assert peer.recorder.pipelined_mail >= 4, peer.recorder.pipelined_mail
    assert "250-PIPELINING" in r.stderr


def test_no_pipelining_when_not_offered(smtp_server, envoi):
    peer = smtp_server(pipelining=False)
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "a@example.test", "--to", "b@example.test",
              "--count", 3)
    assert r.returncode == 0, r.stderr
    assert len(peer.recorder.messages) == 3
    assert peer.recorder.pipelined_mail == 0


@pytest.mark.parametrize("pipelining", [False, True])
def test_temporary_refusal_exits_75(smtp_server, envoi, pipelining):
    peer = smtp_server(pipelining=pipelining, rcpt_reply={"busy@example.test": "451 4.3.0 try again later"})
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "busy@example.test", "--count", 2)
    assert r.returncode == 75, (r.stdout, r.stderr)
    assert "RCPT TO:<busy@example.test>: 451 4.3.0 try again later" in r.stderr
    assert re.search(r"^sent 0, failed 2,", r.stdout, re.M), r.stdout
    assert peer.recorder.messages == []
    # the session stayed usable: both transactions reached RCPT on one connection
    assert peer.recorder.mail_count == 2 and peer.recorder.ehlo_count == 1


@pytest.mark.parametrize("pipelining", [False, True])
def test_permanent_refusal_exits_1_and_other_recipients_get_it(smtp_server, envoi, pipelining):
    peer = smtp_server(pipelining=pipelining, rcpt_reply={"nobody@example.test": "550 5.1.1 no such user"})
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "nobody@example.test",
              "--to", "bob@example.test")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "550 5.1.1 no such user" in r.stderr
    assert "accepted for 1 of 2 recipients" in r.stderr
    [m] = peer.recorder.messages
    assert m.rcpt_tos == ["bob@example.test"]


def test_permanent_wins_over_temporary(smtp_server, envoi):
    peer = smtp_server(rcpt_reply={"busy@example.test": "452 4.2.2 mailbox full",
                                   "gone@example.test": "550 5.1.1 gone"})
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "busy@example.test",
              "--to", "gone@example.test")
    assert r.returncode == 1
    assert "452 4.2.2" in r.stderr and "550 5.1.1" in r.stderr


def test_refused_data_exits_with_its_class(smtp_server, envoi):
    peer = smtp_server(data_reply="554 5.7.1 content rejected")
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test", "--count", 3)
    assert r.returncode == 1
    assert r.stderr.count("end of data: 554 5.7.1 content rejected") == 3
    assert re.search(r"^sent 0, failed 3,", r.stdout, re.M)
    assert peer.recorder.ehlo_count == 1


def test_server_down_is_a_temporary_failure(envoi, free_port):
    port = free_port()
    r = envoi("send", "--server", f"127.0.0.1:{port}", "--from", FROM, "--to", "bob@example.test",
              "--count", 4, "--parallel", 2, "--timeout", 5)
    assert r.returncode == 75, (r.stdout, r.stderr)
    assert "cannot connect to 127.0.0.1" in r.stderr
    assert re.search(r"^sent 0, failed 4,", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("args,why", [
    ([], "--server is required"),
    (["--server", "127.0.0.1:1", "--to", "b@example.test"], "--from is required"),
    (["--server", "127.0.0.1:1", "--from", FROM], "at least one --to"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--tls", "maybe"], "--tls must be"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--body", "x", "--raw", "-"],
     "exclude each other"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--count", "0"], "bad --count"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@ex ample.test"], "bad --to"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--subject", "a\nBcc: x@y.test"],
     "--subject must be one line"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--insecure"], "need --tls"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--auth-user", "u"],
     "go together"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--body", "x" * 1200],
     "longer than 998"),
    (["--server", "127.0.0.1:1", "--from", FROM, "--to", "b@example.test", "--bogus"], "unknown"),
])
def test_usage_errors_exit_2(envoi, args, why):
    r = envoi("send", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert why in r.stderr
    assert "usage: envoi send" in r.stderr


# ---- TLS and AUTH ----


def test_starttls_verified_against_ca(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="starttls")
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.ca, "--tls-name",
              "mx.example.test", "--from", FROM, "--to", "bob@example.test", "--count", 3, "--verbose")
    assert r.returncode == 0, r.stderr
    assert len(peer.recorder.messages) == 3
    assert all(m.tls for m in peer.recorder.messages)
    assert "TLS up: TLSv1.2" in r.stderr
    # EHLO again after the handshake, once per connection
    assert peer.recorder.ehlo_count == 2


def test_starttls_name_mismatch_is_refused(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="starttls")
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.ca, "--tls-name",
              "other.example.test", "--from", FROM, "--to", "bob@example.test")
    assert r.returncode == 1
    assert "TLS certificate of other.example.test not trusted" in r.stderr
    assert "Common Name (CN) does not match" in r.stderr
    assert peer.recorder.messages == []


def test_starttls_unknown_ca_is_refused(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="starttls")
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.other_ca, "--tls-name",
              "mx.example.test", "--from", FROM, "--to", "bob@example.test")
    assert r.returncode == 1
    assert "not trusted" in r.stderr
    assert peer.recorder.messages == []


def test_starttls_insecure_skips_verification(smtp_server, envoi):
    peer = smtp_server(tls="starttls")
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--insecure",
              "--from", FROM, "--to", "bob@example.test")
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    assert m.tls


def test_starttls_not_offered_fails_clearly(smtp_server, envoi, lab_ca):
    peer = smtp_server()
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.ca,
              "--from", FROM, "--to", "bob@example.test", "--count", 2)
    assert r.returncode == 1
    assert "server does not offer STARTTLS" in r.stderr
    assert re.search(r"^sent 0, failed 2,", r.stdout, re.M)
    assert peer.recorder.messages == [] and peer.recorder.mail_count == 0


def test_implicit_tls(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="implicit")
    r = envoi("send", "--server", peer.addr, "--tls", "implicit", "--ca", lab_ca.ca, "--tls-name",
              "mx.example.test", "--from", FROM, "--to", "bob@example.test", "--count", 4, "--parallel", 2)
    assert r.returncode == 0, r.stderr
    assert len(peer.recorder.messages) == 4
    assert all(m.tls for m in peer.recorder.messages)


def test_implicit_tls_against_plain_server_fails(smtp_server, envoi, lab_ca):
    peer = smtp_server()
    r = envoi("send", "--server", peer.addr, "--tls", "implicit", "--ca", lab_ca.ca, "--timeout", 5,
              "--from", FROM, "--to", "bob@example.test")
    assert r.returncode != 0
    assert "TLS handshake" in r.stderr
    assert peer.recorder.messages == []


def test_bad_ca_file_is_a_usage_error(envoi, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    r = envoi("send", "--server", "127.0.0.1:1", "--tls", "starttls", "--ca", bad,
              "--from", FROM, "--to", "bob@example.test")
    assert r.returncode == 2
    assert "cannot load CA certificates" in r.stderr


def test_auth_plain_after_starttls(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="starttls", auth={"alice@example.test": "s3cret pass"})
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.ca, "--tls-name",
              "mx.example.test", "--auth-user", "alice@example.test", "--auth-password", "s3cret pass",
              "--from", FROM, "--to", "bob@example.test", "--verbose")
    assert r.returncode == 0, r.stderr
    [m] = peer.recorder.messages
    assert m.auth and m.tls
    assert "s3cret" not in r.stderr, "the password never appears in the dialogue"
    assert "AUTH PLAIN ********" in r.stderr


def test_auth_password_from_environment(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="starttls", auth={"alice@example.test": "envpass"})
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--insecure",
              "--auth-user", "alice@example.test", "--from", FROM, "--to", "bob@example.test",
              env={"ENVOI_AUTH_PASSWORD": "envpass"})
    assert r.returncode == 0, r.stderr
    assert len(peer.recorder.messages) == 1


def test_auth_wrong_password_exits_1(smtp_server, envoi, lab_ca):
    peer = smtp_server(tls="starttls", auth={"alice@example.test": "right"})
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.ca, "--tls-name",
              "mx.example.test", "--auth-user", "alice@example.test", "--auth-password", "wrong",
              "--from", FROM, "--to", "bob@example.test", "--count", 2)
    assert r.returncode == 1
    assert "session refused: 535" in r.stderr
    assert peer.recorder.messages == []


def test_auth_not_offered_in_clear(smtp_server, envoi):
    peer = smtp_server(tls="starttls", auth={"alice@example.test": "right"})
    r = envoi("send", "--server", peer.addr, "--auth-user", "alice@example.test", "--auth-password", "right",
              "--from", FROM, "--to", "bob@example.test")
    assert r.returncode == 1
    assert "server does not offer AUTH PLAIN" in r.stderr and "--tls starttls" in r.stderr
    assert peer.recorder.messages == []


# ---- the dispatcher ----


def test_unknown_command_and_help(envoi):
    r = envoi("frobnicate")
    assert r.returncode == 2 and 'unknown command "frobnicate"' in r.stderr
    r = envoi("--help")
    assert r.returncode == 0
    for cmd in ("send", "sink", "health", "dkim", "spam", "spf", "dns", "user"):
        assert re.search(rf"^  {cmd} ", r.stdout, re.M), cmd
    r = envoi("send", "--help")
    assert r.returncode == 0 and "usage: envoi send" in r.stdout


# ---- through the project's own SMTP engine (a hop) ----


def test_through_spamfilter_hop_pipelined(start_service, smtp_server, envoi, free_port, tmp_path):
    """Our sender against our server engine (which offers PIPELINING), relayed
    to an independent server: every message arrives with its body intact."""
    peer = smtp_server()
    port = free_port()
    hop = start_service("spamfilter", "--listen", f"127.0.0.1:{port}", "--destination", peer.addr,
                        "--domain", "filter.example.test", ready_port=port)
    raw = tmp_path / "m.eml"
    body = b"line one\r\n.\r\n..two dots\r\n.x\r\nend\r\n"
    raw.write_bytes(b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: via hop\r\n"
                    b"Message-ID: <hop-1@example.test>\r\n\r\n" + body)
    r = envoi("send", "--server", f"127.0.0.1:{port}", "--from", FROM, "--to", "bob@example.test",
              "--to", "carol@example.test", "--raw", raw, "--count", 20, "--parallel", 4, "--verbose")
    assert r.returncode == 0, (r.stderr[-2000:], hop.stderr_text()[-2000:])
    assert re.search(r"^sent 20, failed 0,", r.stdout, re.M)
    assert "250-PIPELINING" in r.stderr
    msgs = peer.recorder.messages
    assert len(msgs) == 20
    for m in msgs:
        assert m.rcpt_tos == ["bob@example.test", "carol@example.test"]
        assert m.content.endswith(raw.read_bytes())  # the hop only prepends headers
        assert m.content.startswith(b"Received:") or b"\r\nReceived:" in m.content
    hop.stop()


# ---- protocol edge cases no well-behaved server produces ----

import socket  # noqa: E402
import threading  # noqa: E402


class ScriptedPeer:
    """A misbehaving SMTP server for the cases aiosmtpd will not produce
    (STARTTLS injection, 421 mid-session, no ESMTP). Each session is a list of
    (expected command prefix, reply) steps; the first step's prefix is None
    (the greeting); "<data>" reads a message up to CRLF.CRLF; a reply of None
    closes the connection. Sessions are served one after the other."""

    def __init__(self, sessions):
        self.sessions = sessions
        self.lines = []
        self.errors = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(20)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            for steps in self.sessions:
                c, _ = self.sock.accept()
                c.settimeout(20)
                f = c.makefile("rb")
                for expect, reply in steps:
                    if expect == "<data>":
                        while f.readline() not in (b".\r\n", b""):
                            pass
                    elif expect is not None:
                        line = f.readline().decode("ascii", "replace").rstrip("\r\n")
                        self.lines.append(line)
                        if not line.upper().startswith(expect):
                            self.errors.append(f"expected {expect!r}, got {line!r}")
                            break
                    if reply is None:
                        break
                    c.sendall(reply.encode() + b"\r\n")
                f.close()
                c.close()
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
        finally:
            self.sock.close()

    def join(self):
        self.thread.join(timeout=30)
        return self.errors


OK_TXN = [("MAIL FROM:", "250 ok"), ("RCPT TO:", "250 ok"), ("DATA", "354 go"), ("<data>", "250 queued"),
          ("QUIT", "221 bye")]


def test_helo_fallback_when_ehlo_is_refused(envoi):
    peer = ScriptedPeer([[(None, "220 old.example.test"), ("EHLO", "502 5.5.1 what is EHLO"),
                          ("HELO", "250 old.example.test")] + OK_TXN])
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test")
    assert peer.join() == []
    assert r.returncode == 0, r.stderr
    # without ESMTP: no SIZE or BODY parameters
    assert f"MAIL FROM:<{FROM}>" in peer.lines


def test_starttls_response_injection_is_refused(envoi, lab_ca):
    peer = ScriptedPeer([[(None, "220 mx.example.test"), ("EHLO", "250-mx.example.test\r\n250 STARTTLS"),
                          ("STARTTLS", "220 go ahead\r\n250 injected before the handshake"), ("", None)]])
    r = envoi("send", "--server", peer.addr, "--tls", "starttls", "--ca", lab_ca.ca, "--timeout", 5,
              "--from", FROM, "--to", "bob@example.test")
    peer.join()
    assert r.returncode == 1
    assert "injection" in r.stderr


def test_421_ends_the_session_and_the_next_message_reconnects(envoi):
    peer = ScriptedPeer([
        [(None, "220 mx"), ("EHLO", "250 mx"), ("MAIL FROM:", "421 4.3.2 going down"), ("", None)],
        [(None, "220 mx"), ("EHLO", "250 mx")] + OK_TXN,
    ])
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test", "--count", 2)
    assert peer.join() == []
    assert r.returncode == 75, (r.stdout, r.stderr)
    assert "msg 1: MAIL FROM:<alice@example.test>: 421 4.3.2 going down" in r.stderr
    assert re.search(r"^msg 2: 250 queued$", r.stdout, re.M)
    assert re.search(r"^sent 1, failed 1,", r.stdout, re.M)


def test_refused_greeting_is_permanent(envoi):
    peer = ScriptedPeer([[(None, "554 5.7.1 go away"), ("QUIT", "221 bye")]])
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test", "--count", 3)
    peer.join()
    assert r.returncode == 1
    assert "session refused: 554 5.7.1 go away" in r.stderr
    assert re.search(r"^sent 0, failed 3,", r.stdout, re.M)


def test_connection_lost_after_data_is_temporary(envoi):
    peer = ScriptedPeer([[(None, "220 mx"), ("EHLO", "250 mx"), ("MAIL FROM:", "250 ok"), ("RCPT TO:", "250 ok"),
                          ("DATA", "354 go"), ("<data>", None)]])
    r = envoi("send", "--server", peer.addr, "--from", FROM, "--to", "bob@example.test", "--timeout", 5)
    assert peer.join() == []
    assert r.returncode == 75
    assert "connection closed by server" in r.stderr


def test_two_step_auth_plain(envoi, lab_ca):
    """A server answering the initial AUTH PLAIN with an empty 334 gets the
    credentials on their own line (RFC 4954 §4)."""
    import base64
    cred = base64.b64encode(b"\0alice@example.test\0pw").decode()
    peer = ScriptedPeer([[(None, "220 mx"), ("EHLO", "250-mx\r\n250 AUTH PLAIN"),
                          ("AUTH PLAIN " + cred.upper(), "334 "), (cred.upper(), "235 2.7.0 ok")] + OK_TXN])
    r = envoi("send", "--server", peer.addr, "--auth-user", "alice@example.test", "--auth-password", "pw",
              "--from", FROM, "--to", "bob@example.test")
    assert peer.join() == []
    assert r.returncode == 0, r.stderr
    assert "without TLS" in r.stderr  # the clear-text password is not silent
