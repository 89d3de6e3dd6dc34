"""TLS on both sides of a hop: STARTTLS and implicit TLS towards clients
(with certificate reload), STARTTLS towards the next hop with verification
against a CA bundle, and the STARTTLS command-injection defence."""
import shutil
import smtplib
import socket
import ssl
import subprocess

import pytest

from test_hop import BIN, Proc, delivered, free_port


def sink_tls(tmp_path, lab_ca):
    port = free_port()
    return Proc([f"{BIN}/envoi", "sink", "--listen", f"127.0.0.1:{port}", "--maildir", str(tmp_path / "md"),
                 "--tls-cert", str(lab_ca.cert), "--tls-key", str(lab_ca.key)], port, tmp_path / "sink.log")


def hop(tmp_path, dest, *extra, name="hop"):
    port = free_port()
    return Proc([f"{BIN}/spamfilter", "--listen", f"127.0.0.1:{port}", "--destination", f"127.0.0.1:{dest}",
                 "--domain", "hop.envoi.test", *extra], port, tmp_path / f"{name}.log")


def client_ctx(lab_ca):
    ctx = ssl.create_default_context(cafile=str(lab_ca.ca))
    return ctx


def test_starttls_from_client(tmp_path, lab_ca):
    s = sink_tls(tmp_path, lab_ca)
    h = hop(tmp_path, s.port, "--tls-cert", str(lab_ca.cert), "--tls-key", str(lab_ca.key))
    try:
        with smtplib.SMTP("localhost", h.port) as c:
            c.ehlo("client.gmail.test")
            assert c.has_extn("starttls")
            c.starttls(context=client_ctx(lab_ca))  # checks the name "localhost" in the certificate
            c.ehlo("client.gmail.test")
            assert not c.has_extn("starttls")
            c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: tls\r\n\r\nsecret\r\n")
        (raw,) = delivered(tmp_path / "md", 1)
        assert b"with ESMTPS id" in raw and b"(using TLSv1.2 " in raw
    finally:
        h.stop()
        s.stop()


def test_swaks_starttls_and_implicit(tmp_path, lab_ca):
    s = sink_tls(tmp_path, lab_ca)
    tport = free_port()
    h = hop(tmp_path, s.port, "--tls-cert", str(lab_ca.cert), "--tls-key", str(lab_ca.key), "--listen-tls",
            f"127.0.0.1:{tport}")
    try:
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{h.port}", "--tls", "--tls-verify", "--tls-ca-path",
                            str(lab_ca.ca), "--tls-sni", "mx.example.test", "--from", "a@gmail.test", "--to",
                            "b@envoi.test"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
        with smtplib.SMTP_SSL("localhost", tport, context=client_ctx(lab_ca)) as c:
            c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: 465\r\n\r\nimplicit\r\n")
        assert len(delivered(tmp_path / "md", 2)) == 2
    finally:
        h.stop()
        s.stop()


@pytest.mark.parametrize("mode", ["required", "opportunistic"])
def test_next_hop_starttls_verified(tmp_path, lab_ca, mode):
    s = sink_tls(tmp_path, lab_ca)
    h = hop(tmp_path, s.port, "--next-hop-tls", mode, "--next-hop-ca", str(lab_ca.ca), "--next-hop-name",
            "mx.example.test")
    try:
        with smtplib.SMTP("127.0.0.1", h.port) as c:
            c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: up\r\n\r\nx\r\n")
        assert len(delivered(tmp_path / "md", 1)) == 1
        assert "msg=smtp.tls" in s.text() and "ok=1 tls=\"TLSv1.2" in s.text()  # the sink saw TLS
    finally:
        h.stop()
        s.stop()


def test_next_hop_wrong_ca_gives_451(tmp_path, lab_ca):
    s = sink_tls(tmp_path, lab_ca)
    h = hop(tmp_path, s.port, "--next-hop-tls", "required", "--next-hop-ca", str(lab_ca.other_ca),
            "--next-hop-name", "mx.example.test")
    try:
        with smtplib.SMTP("127.0.0.1", h.port) as c:
            with pytest.raises(smtplib.SMTPSenderRefused) as e:
                c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: up\r\n\r\nx\r\n")
            assert e.value.smtp_code == 451
        assert delivered(tmp_path / "md", timeout=0.3) == []
    finally:
        h.stop()
        s.stop()


def test_next_hop_without_tls_required_gives_451(tmp_path, lab_ca):
    sport = free_port()
    s = Proc([f"{BIN}/envoi", "sink", "--listen", f"127.0.0.1:{sport}", "--maildir", str(tmp_path / "md")],
             sport, tmp_path / "sink.log")
    h = hop(tmp_path, sport, "--next-hop-tls", "required", "--next-hop-ca", str(lab_ca.ca))
    try:
        with smtplib.SMTP("127.0.0.1", h.port) as c:
            with pytest.raises(smtplib.SMTPSenderRefused) as e:
                c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: up\r\n\r\nx\r\n")
            assert e.value.smtp_code == 451
        assert "STARTTLS required but not offered" in h.text()
    finally:
        h.stop()
        s.stop()


def test_next_hop_opportunistic_falls_back_to_plaintext(tmp_path, lab_ca):
    """A next hop (aiosmtpd) that offers STARTTLS but only speaks TLS 1.3,
    which mbedtls 2.28 does not: the handshake really fails. Opportunistic
    mode connects again without STARTTLS and the message goes through in
    clear; required mode gives 451 and sends nothing."""
    import ssl as _ssl

    from aiosmtpd.controller import Controller

    from conftest import Recorder

    ctx = lab_ca.ssl_context()
    ctx.minimum_version = _ssl.TLSVersion.TLSv1_3
    rec = Recorder()
    port = free_port()
    ctl = Controller(rec, hostname="127.0.0.1", port=port, server_hostname="mx.example.test", decode_data=False,
                     tls_context=ctx)
    ctl.start()
    try:
        h = hop(tmp_path, port, "--next-hop-tls", "opportunistic", "--next-hop-ca", str(lab_ca.ca))
        try:
            with smtplib.SMTP("127.0.0.1", h.port) as c:
                c.sendmail("a@gmail.test", ["b@envoi.test"], "Subject: fallback\r\n\r\nx\r\n")
                c.sendmail("a@gmail.test", ["c@envoi.test"], "Subject: again\r\n\r\ny\r\n")
        finally:
            h.stop()
        assert [m.rcpt_tos for m in rec.messages] == [["b@envoi.test"], ["c@envoi.test"]]
        assert not any(m.tls for m in rec.messages)
        assert "msg=smtp.client.tls-fallback" in h.text()
        r = hop(tmp_path, port, "--next-hop-tls", "required", "--next-hop-ca", str(lab_ca.ca), name="req")
        try:
            with smtplib.SMTP("127.0.0.1", r.port) as c:
                with pytest.raises(smtplib.SMTPSenderRefused) as e:
                    c.sendmail("a@gmail.test", ["d@envoi.test"], "Subject: no\r\n\r\nz\r\n")
                assert e.value.smtp_code == 451
        finally:
            r.stop()
        assert len(rec.messages) == 2 and "tls-fallback" not in r.text()
    finally:
        ctl.stop()


def peer_cert(port, lab_ca):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO x.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        raw.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220")
        with ctx.wrap_socket(raw, server_hostname="mx.example.test") as t:
            return t.getpeercert(binary_form=True)


def test_certificate_reloaded_when_files_change(tmp_path, lab_ca):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    shutil.copy(lab_ca.cert, cert)
    shutil.copy(lab_ca.key, key)
    s = sink_tls(tmp_path, lab_ca)
    h = hop(tmp_path, s.port, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        first = peer_cert(h.port, lab_ca)
        # A renewed certificate (here: self-signed, new key) replaces the files.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=mx.example.test", "-keyout", str(tmp_path / "k2.pem"), "-out", str(tmp_path / "c2.pem")],
                       check=True, capture_output=True)
        shutil.move(tmp_path / "k2.pem", key)
        shutil.move(tmp_path / "c2.pem", cert)
        second = peer_cert(h.port, lab_ca)
        assert first != second
        assert second == ssl.PEM_cert_to_DER_cert(cert.read_text())
        assert "msg=tls.reload" in h.text()
    finally:
        h.stop()
        s.stop()


def test_starttls_injection_discarded(tmp_path, lab_ca):
    s = sink_tls(tmp_path, lab_ca)
    h = hop(tmp_path, s.port, "--tls-cert", str(lab_ca.cert), "--tls-key", str(lab_ca.key))
    try:
        raw = socket.create_connection(("127.0.0.1", h.port), timeout=5)
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO x.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        # A man in the middle appends a command after STARTTLS in clear text.
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@gmail.test>\r\n")
        assert f.readline().startswith(b"220")
        ctx = ssl.create_default_context(cafile=str(lab_ca.ca))
        t = ctx.wrap_socket(raw, server_hostname="mx.example.test")
        t.sendall(b"NOOP\r\n")
        reply = t.recv(4096)
        assert reply.startswith(b"250 2.0.0 Ok"), reply  # not a reply to the injected MAIL
        t.sendall(b"MAIL FROM:<a@gmail.test>\r\n")
        assert t.recv(4096).startswith(b"503")  # no EHLO yet inside TLS: state was reset
        t.close()
    finally:
        h.stop()
        s.stop()
