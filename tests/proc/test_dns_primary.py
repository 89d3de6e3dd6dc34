"""dns-primary on loopback with a zone repository in a temp dir (file://):
answers checked with dnspython and dig, updates with nsupdate and envoi,
transfers, NOTIFY-driven reloads, broken commits and malformed packets."""

import socket
import subprocess
import time

import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.flags
import dns.tsigkeyring
import dns.update
import dns.zone
import pytest

from dns_helpers import (DATA, KEYS, free_port, git, make_repo, query, rrset_texts,
                         start_primary, wait_serial)


@pytest.fixture
def primary(tmp_path, start_service):
    url, work = make_repo(tmp_path)
    port = free_port()
    svc = start_primary(start_service, url, port)
    svc.port, svc.work, svc.url = port, work, url
    return svc


def answer_texts(r):
    return rrset_texts(r.answer)


def test_exact_answer_is_authoritative(primary):
    r = query(primary.port, "mail.zt.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert answer_texts(r) == ["mail.zt.test. 300 in a 192.0.2.25"]


def test_mx_gets_additional_addresses(primary):
    r = query(primary.port, "zt.test", "MX", payload=1232)
    assert sorted(str(rd.exchange) for rd in r.answer[0]) == ["mail.zt.test.", "mail2.outside.test."]
    extra = rrset_texts(r.additional)
    assert "mail.zt.test. 300 in a 192.0.2.25" in extra
    assert "mail.zt.test. 300 in aaaa 2001:db8::25" in extra


def test_cname_chain_is_followed_inside_the_zone(primary):
    r = query(primary.port, "alias.zt.test", "A")
    assert answer_texts(r) == [
        "alias.zt.test. 300 in cname www.zt.test.",
        "www.zt.test. 300 in cname zt.test.",
        "zt.test. 300 in a 192.0.2.1",
    ]


def test_cname_out_of_zone_stops(primary):
    r = query(primary.port, "ext.zt.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert answer_texts(r) == ["ext.zt.test. 300 in cname host.outside.test."]


def test_cname_to_missing_name_is_nxdomain(primary):
    r = query(primary.port, "dangling.zt.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert answer_texts(r) == ["dangling.zt.test. 300 in cname nothere.zt.test."]


def test_cname_loop_terminates(primary):
    r = query(primary.port, "loop1.zt.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) >= 2


def test_wildcard_synthesis(primary):
    r = query(primary.port, "Anything.Wild.zt.test", "A")
    assert r.flags & dns.flags.AA
    assert answer_texts(r) == ["anything.wild.zt.test. 300 in a 192.0.2.99"]
    deep = query(primary.port, "a.b.wild.zt.test", "TXT")
    assert answer_texts(deep) == ['a.b.wild.zt.test. 300 in txt "wildcard"']


def test_wildcard_does_not_cover_existing_names(primary):
    r = query(primary.port, "exact.wild.zt.test", "TXT")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer  # NODATA, no wildcard
    assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_wildcard_nodata(primary):
    r = query(primary.port, "x.wild.zt.test", "MX")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_wildcard_cname(primary):
    r = query(primary.port, "foo.cw.zt.test", "A")
    assert answer_texts(r) == ["foo.cw.zt.test. 300 in cname mail.zt.test.",
                               "mail.zt.test. 300 in a 192.0.2.25"]


def test_delegation_with_glue(primary):
    r = query(primary.port, "host.sub.zt.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert not (r.flags & dns.flags.AA)
    assert not r.answer
    assert rrset_texts(r.authority) == ["sub.zt.test. 300 in ns ns.outside.test.",
                                        "sub.zt.test. 300 in ns ns.sub.zt.test."]
    assert rrset_texts(r.additional) == ["ns.sub.zt.test. 300 in a 192.0.2.54"]


def test_nxdomain_and_nodata_carry_the_soa(primary):
    nx = query(primary.port, "nope.zt.test", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    soa = nx.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 60  # min(SOA TTL, SOA minimum): RFC 2308
    nodata = query(primary.port, "mail.zt.test", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


def test_empty_non_terminal_is_nodata(primary):
    r = query(primary.port, "b.c.zt.test", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer


def test_case_insensitive(primary):
    r = query(primary.port, "MIXEDcase.ZT.test", "A")
    assert [rd.address for rd in r.answer[0]] == ["192.0.2.7"]


def test_refused_outside_our_zones(primary):
    # the lab root zone is loaded too; query a name under no zone of ours
    r = query(primary.port, "zt.example", "A")
    assert r.rcode() in (dns.rcode.NXDOMAIN, dns.rcode.REFUSED)
    url, _ = primary.url, None
    assert r.rcode() == dns.rcode.NXDOMAIN  # the root zone answers for everything


def test_refused_without_root(tmp_path, start_service):
    url, _ = make_repo(tmp_path, with_lab=False)
    port = free_port()
    start_primary(start_service, url, port)
    r = query(port, "www.example.test", "A")
    assert r.rcode() == dns.rcode.REFUSED
    assert not (r.flags & dns.flags.AA)


def test_truncation_and_tcp_retry(primary):
    udp = query(primary.port, "big.zt.test", "TXT")  # no EDNS: 512 bytes
    assert udp.flags & dns.flags.TC
    assert not udp.answer
    tcp = query(primary.port, "big.zt.test", "TXT", tcp=True)
    assert not (tcp.flags & dns.flags.TC)
    assert len(tcp.answer[0]) == 5
    edns = query(primary.port, "big.zt.test", "TXT", payload=4096)
    assert edns.edns == 0 and edns.payload == 1232
    assert len(edns.answer[0]) == 5  # about 1.1 KB: fits the EDNS limit


def test_dig_over_tcp_and_udp(primary):
    for mode in ("+notcp", "+tcp"):
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(primary.port), mode, "+short",
                              "multi.zt.test", "A"], capture_output=True, text=True, check=True)
        assert sorted(out.stdout.split()) == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]


def test_notimp_and_formerr(primary):
    q = dns.message.make_query("zt.test", "SOA")
    q.set_opcode(dns.opcode.STATUS)
    r = dns.query.udp(q, "127.0.0.1", port=primary.port, timeout=3)
    assert r.rcode() == dns.rcode.NOTIMP
    two = dns.message.make_query("zt.test", "SOA")
    two.question.append(dns.message.make_query("mail.zt.test", "A").question[0])
    r = dns.query.udp(two, "127.0.0.1", port=primary.port, timeout=3)
    assert r.rcode() == dns.rcode.FORMERR
    bad_vers = dns.message.make_query("zt.test", "SOA")
    bad_vers.use_edns(edns=1)  # (use_edns=1 would read as True: version 0)
    r = dns.query.udp(bad_vers, "127.0.0.1", port=primary.port, timeout=3)
    assert r.rcode() == dns.rcode.BADVERS


def raw_udp(port, data, timeout=1.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def test_malformed_packets_get_formerr_or_silence(primary):
    header = bytes.fromhex("abcd0100")
    cases = [
        b"",                                     # nothing
        b"\xab\xcd\x01",                        # truncated header
        header + bytes.fromhex("0001000000000000"),  # qdcount 1, no question
        header + bytes.fromhex("0001000000000000") + b"\xc0\x0c\x00\x01\x00\x01",  # pointer loop
        header + bytes.fromhex("ffffffffffffffff") + b"\x00\x00\x01\x00\x01",  # huge counts
        header + bytes.fromhex("0001000000000000") + b"\x3fabc",  # label past the end
        bytes.fromhex("abcd8100") + bytes(8),   # a response: never answered
    ]
    for data in cases:
        reply = raw_udp(primary.port, data)
        if reply is not None:
            assert reply[:2] == b"\xab\xcd"
            assert reply[3] & 0x0F == dns.rcode.FORMERR
    # still serving
    assert query(primary.port, "mail.zt.test", "A").answer


def axfr(port, zone, keyname=None):
    kw = {}
    if keyname:
        alg, secret = KEYS[keyname]
        kw = dict(keyring=dns.tsigkeyring.from_text({keyname: secret}), keyname=keyname,
                  keyalgorithm=alg)
    return list(dns.query.xfr("127.0.0.1", zone, port=port, timeout=5, lifetime=10,
                              relativize=False, **kw))


def test_axfr_needs_a_key_and_equals_the_zone(primary):
    with pytest.raises(Exception):
        axfr(primary.port, "zt.test")
    msgs = axfr(primary.port, "zt.test", "xfr._transfer.zt.test.")
    got = set()
    for m in msgs:
        for rrset in m.answer:
            for rd in rrset:
                got.add((rrset.name.to_text().lower(), rrset.rdtype, rd.to_text().lower()))
    z = dns.zone.from_file(str(DATA / "zt.test"), origin="zt.test.", relativize=False)
    want = set()
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            for rd in rds:
                want.add((name.to_text().lower(), rds.rdtype, rd.to_text().lower()))
    assert got == want
    assert msgs[0].answer[0].rdtype == dns.rdatatype.SOA


def test_axfr_open_flag(tmp_path, start_service):
    url, _ = make_repo(tmp_path)
    port = free_port()
    start_primary(start_service, url, port, "--axfr")
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "zt.test", "AXFR"],
                         capture_output=True, text=True, check=True).stdout
    assert "XFR size" in out and "192.0.2.99" in out


def nsupdate(port, script_lines, key=None):
    script = f"server 127.0.0.1 {port}\nzone zt.test\n" + "\n".join(script_lines) + "\nsend\n"
    cmd = ["nsupdate"]
    if key:
        cmd += ["-y", key]
    return subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=30)


def test_nsupdate_good_bad_and_no_key(primary):
    alg, secret = KEYS["tester._update.zt.test."]
    good = f"{alg}:tester._update.zt.test:{secret}"
    r = nsupdate(primary.port, ["update add new.zt.test. 120 TXT \"added\""], good)
    assert r.returncode == 0, r.stderr
    assert answer_texts(query(primary.port, "new.zt.test", "TXT")) == [
        'new.zt.test. 120 in txt "added"']
    assert query(primary.port, "zt.test", "SOA").answer[0][0].serial == 2026010102
    # the change is committed with the key as author, and pushed
    log = subprocess.run(["git", "--git-dir", primary.url[len("file://"):], "log", "-1",
                          "--format=%an%n%B"], capture_output=True, text=True, check=True).stdout
    assert log.startswith("tester._update.zt.test\n")
    bad = f"{alg}:tester._update.zt.test:{'A' * 43}="
    r = nsupdate(primary.port, ["update add bad.zt.test. 120 TXT \"x\""], bad)
    assert r.returncode != 0
    r = nsupdate(primary.port, ["update add nokey.zt.test. 120 TXT \"x\""])
    assert r.returncode != 0 and "REFUSED" in (r.stdout + r.stderr)
    alg2, secret2 = KEYS["xfr._transfer.zt.test."]
    r = nsupdate(primary.port, ["update add xfr.zt.test. 120 TXT \"x\""],
                 f"{alg2}:xfr._transfer.zt.test:{secret2}")
    assert r.returncode != 0  # a transfer key has no update right
    for name in ("bad", "nokey", "xfr"):
        assert query(primary.port, f"{name}.zt.test", "TXT").rcode() == dns.rcode.NXDOMAIN


def signed_update(port, builder):
    alg, secret = KEYS["tester._update.zt.test."]
    u = dns.update.UpdateMessage("zt.test", keyring=dns.tsigkeyring.from_text(
        {"tester._update.zt.test.": secret}), keyname="tester._update.zt.test.", keyalgorithm=alg)
    builder(u)
    return dns.query.tcp(u, "127.0.0.1", port=port, timeout=15)


def test_update_prerequisites_and_deletes(primary):
    # prerequisite: name must not exist -> YXDOMAIN when it does
    r = signed_update(primary.port, lambda u: (u.absent("mail"), u.add("x", 60, "A", "192.0.2.200")))
    assert r.rcode() == dns.rcode.YXDOMAIN
    # prerequisite: RRset must exist with this value
    r = signed_update(primary.port, lambda u: (u.present("mail", "A", "192.0.2.26"),
                                               u.add("x", 60, "A", "192.0.2.200")))
    assert r.rcode() == dns.rcode.NXRRSET
    r = signed_update(primary.port, lambda u: (u.present("mail", "A", "192.0.2.25"),
                                               u.add("x", 60, "A", "192.0.2.200")))
    assert r.rcode() == dns.rcode.NOERROR
    assert answer_texts(query(primary.port, "x.zt.test", "A")) == ["x.zt.test. 60 in a 192.0.2.200"]
    # delete one record, then an RRset, then a name
    r = signed_update(primary.port, lambda u: u.delete("multi", "A", "192.0.2.11"))
    assert r.rcode() == dns.rcode.NOERROR
    assert sorted(rd.address for rd in query(primary.port, "multi.zt.test").answer[0]) == [
        "192.0.2.10", "192.0.2.12"]
    r = signed_update(primary.port, lambda u: u.delete("mail", "AAAA"))
    assert query(primary.port, "mail.zt.test", "AAAA").answer == []
    r = signed_update(primary.port, lambda u: u.delete("multi"))
    assert query(primary.port, "multi.zt.test", "A").rcode() == dns.rcode.NXDOMAIN
    # the apex keeps its SOA and NS even when asked to delete everything
    r = signed_update(primary.port, lambda u: u.delete("@"))
    assert r.rcode() == dns.rcode.NOERROR
    assert query(primary.port, "zt.test", "NS").answer
    # outside the zone: NOTZONE
    r = signed_update(primary.port, lambda u: u.add("x.other.test.", 60, "A", "192.0.2.1"))
    assert r.rcode() == dns.rcode.NOTZONE


def test_envoi_dns_update_replaces_txt(primary, envoi):
    alg, secret = KEYS["tester._update.zt.test."]
    key = f"tester._update.zt.test:SHA256:{secret}"
    srv = f"127.0.0.1:{primary.port}"
    for value in ("first", "second"):
        r = envoi("dns", "update", "--dns-server", srv, "--dns-key", key, "replace",
                  "sel._domainkey.zt.test", "TXT", f'"v=DKIM1; p={value}"')
        assert r.returncode == 0, r.stderr
    assert answer_texts(query(primary.port, "sel._domainkey.zt.test", "TXT")) == [
        'sel._domainkey.zt.test. 300 in txt "v=dkim1; p=second"']
    r = envoi("dns", "update", "--dns-server", srv, "--dns-key", key, "add", "mx2.zt.test",
              "MX", "5", "mail.zt.test.")
    assert r.returncode == 0, r.stderr
    r = envoi("dns", "update", "--dns-server", srv, "--dns-key", key, "add", "h.zt.test",
              "A", "192.0.2.77")
    assert r.returncode == 0
    assert [rd.address for rd in query(primary.port, "h.zt.test").answer[0]] == ["192.0.2.77"]
    r = envoi("dns", "update", "--dns-server", srv, "--dns-key", key, "del", "h.zt.test", "A")
    assert r.returncode == 0
    assert query(primary.port, "h.zt.test").rcode() == dns.rcode.NXDOMAIN
    bad = envoi("dns", "update", "--dns-server", srv, "--dns-key",
                f"tester._update.zt.test:SHA256:{'B' * 43}=", "add", "h.zt.test", "A", "192.0.2.1")
    assert bad.returncode != 0


def bump(work, serial, extra=""):
    text = (work / "zt.test").read_text()
    import re
    text = re.sub(r"hostmaster \d+", f"hostmaster {serial}", text) + extra
    (work / "zt.test").write_text(text)
    git(work, "commit", "-q", "-am", f"serial {serial}")
    git(work, "push", "-q", "origin", "HEAD:main")


def test_pushed_commit_is_served_after_signed_notify(primary, envoi):
    bump(primary.work, 2026010150, "fresh A 192.0.2.150\n")
    time.sleep(0.3)
    assert query(primary.port, "zt.test", "SOA").answer[0][0].serial == 2026010101  # no poll
    unsigned = envoi("dns", "notify", "zt.test", "--dns-server", f"127.0.0.1:{primary.port}")
    assert unsigned.returncode != 0
    alg, secret = KEYS["poke._notify.zt.test."]
    r = envoi("dns", "notify", "zt.test", "--dns-server", f"127.0.0.1:{primary.port}",
              "--dns-key", f"poke._notify.zt.test:SHA384:{secret}")
    assert r.returncode == 0, r.stderr
    wait_serial(primary.port, "zt.test", 2026010150)
    assert query(primary.port, "fresh.zt.test").answer


def test_broken_commit_keeps_the_last_good_zone(primary, envoi):
    bump(primary.work, 2026010160, "broken-line IN A not-an-address\n")
    alg, secret = KEYS["poke._notify.zt.test."]
    r = envoi("dns", "notify", "zt.test", "--dns-server", f"127.0.0.1:{primary.port}",
              "--dns-key", f"poke._notify.zt.test:SHA384:{secret}")
    assert r.returncode == 0
    deadline = time.time() + 10
    while "zones.kept_last_good" not in primary.stderr_text() and time.time() < deadline:
        time.sleep(0.1)
    assert "zone_rejected zone=zt.test." in primary.stderr_text()
    assert query(primary.port, "zt.test", "SOA").answer[0][0].serial == 2026010101
    assert query(primary.port, "mail.zt.test").answer


def test_poll_picks_up_commits(tmp_path, start_service):
    url, work = make_repo(tmp_path)
    port = free_port()
    start_primary(start_service, url, port, poll="1")
    bump(work, 2026010170)
    wait_serial(port, "zt.test", 2026010170, timeout=10)


@pytest.fixture
def git_daemon_primary(tmp_path, start_service):
    """The zone repository behind a real `git daemon` (git://), so pushes go
    through receive-pack and its hooks, as in the lab."""
    url, work = make_repo(tmp_path)
    gport = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all",
                               "--enable=receive-pack", f"--base-path={tmp_path}",
                               "--listen=127.0.0.1", f"--port={gport}", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", gport), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        port = free_port()
        svc = start_primary(start_service, f"git://127.0.0.1:{gport}/remote.git", port)
        svc.port, svc.work, svc.bare = port, work, tmp_path / "remote.git"
        yield svc
        svc.stop()
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_update_survives_a_concurrent_push(git_daemon_primary):
    """Another writer lands a commit between our pull and our push: the push
    is rejected, the update is re-applied on the new head and pushed."""
    p = git_daemon_primary
    marker = race_hook(p.bare)
    r = signed_update(p.port, lambda u: u.add("race", 60, "TXT", '"mine"'))
    assert r.rcode() == dns.rcode.NOERROR
    assert marker.exists()  # the hook ran and rejected the first push
    assert "tries=2" in p.stderr_text()
    assert query(p.port, "race.zt.test", "TXT").answer
    assert query(p.port, "other.zt.test", "TXT").answer  # the other writer's change
    log = subprocess.run(["git", "--git-dir", str(p.bare), "log", "--format=%an", "-3"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert log[:2] == ["tester._update.zt.test", "test"]


def race_hook(bare):
    """A pre-receive hook that, the first time, lands another writer's commit
    and declines the push in progress: a real race, made deterministic."""
    marker = bare / "raced"
    other = bare.parent / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    text = (other / "zt.test").read_text() + 'other TXT "theirs"\n'
    (other / "zt.test").write_text(text)
    git(other, "commit", "-q", "-am", "other writer")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"""#!/bin/sh
if [ ! -e {marker} ]; then
  touch {marker}
  ( unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    cd {other} && git push -q origin HEAD:main ) >/dev/null 2>&1 </dev/null &
  sleep 1
  exit 1
fi
exit 0
""")
    hook.chmod(0o755)
    return marker


def test_ixfr_is_answered_with_the_whole_zone(primary):
    q = dns.message.make_query("zt.test", "IXFR")
    alg, secret = KEYS["xfr._transfer.zt.test."]
    q.use_tsig(dns.tsigkeyring.from_text({"xfr._transfer.zt.test.": secret}),
               keyname="xfr._transfer.zt.test.", algorithm=alg)
    r = dns.query.tcp(q, "127.0.0.1", port=primary.port, timeout=5, one_rr_per_rrset=True)
    assert r.answer[0].rdtype == dns.rdatatype.SOA and r.answer[-1].rdtype == dns.rdatatype.SOA
    assert len(r.answer) > 20  # every record, not a delta
    udp = dns.query.udp(dns.message.make_query("zt.test", "IXFR"), "127.0.0.1", port=primary.port,
                        timeout=3)
    assert [rs.rdtype for rs in udp.answer] == [dns.rdatatype.SOA]  # "ask me over TCP"


def wait_log(svc, text, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if text in svc.stderr_text():
            return True
        time.sleep(0.05)
    return False


def primary_notifying(tmp_path, start_service, sec, *targets_and_flags):
    """A primary whose --notify targets are given (SEC: the port of the
    secondary socket sec), after one signed UPDATE has changed zt.test."""
    url, _ = make_repo(tmp_path)
    sec.bind(("127.0.0.1", 0))
    sec.settimeout(10)
    port = free_port()
    args = [a.replace("SEC", str(sec.getsockname()[1])) for a in targets_and_flags]
    svc = start_primary(start_service, url, port, *args)
    assert signed_update(port, lambda u: u.add("changed", 60, "A", "192.0.2.7")).rcode() == dns.rcode.NOERROR
    return svc


def test_notify_sent_to_secondaries_after_an_update(tmp_path, start_service):
    """--notify: every change (here an UPDATE) is announced to the secondary,
    and resent (same message) until the secondary answers (RFC 1996 3.6)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sec:
        svc = primary_notifying(tmp_path, start_service, sec, "--notify", "localhost:SEC")
        first, _ = sec.recvfrom(4096)
        again, peer = sec.recvfrom(4096)  # unanswered: the same NOTIFY once more
        assert again == first
        n = dns.message.from_wire(again)
        sec.sendto(dns.message.make_response(n).to_wire(), peer)
        assert wait_log(svc, "msg=notify.answered zone=zt.test. serial=2026010102")
    assert n.opcode() == dns.opcode.NOTIFY
    assert n.question[0].name.to_text() == "zt.test." and n.question[0].rdtype == dns.rdatatype.SOA
    assert n.answer[0][0].serial == 2026010102
    assert "try=2" in svc.stderr_text() and "try=3" not in svc.stderr_text()


def test_sigterm_with_notifies_pending(tmp_path, start_service):
    """Unanswered NOTIFYs (a silent secondary, a name still being looked up)
    do not hold the exit: SIGTERM ends the primary at once, status 0, and
    under ASan without a leak."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sec:
        svc = primary_notifying(tmp_path, start_service, sec, "--notify", "127.0.0.1:SEC", "--notify", "localhost:SEC")
        sec.recvfrom(4096)
        t0 = time.monotonic()
        assert svc.stop() == 0
        assert time.monotonic() - t0 < 5  # not after the retries (1+2+4+8 s)
    assert "msg=notify.answered" not in svc.stderr_text()


def test_notify_out_signed_with_notify_key(tmp_path, start_service):
    """--notify-key: the NOTIFY carries a TSIG that dnspython verifies; an
    unsigned answer does not count (it could come from anyone), a signed
    one does."""
    name, secret = "out._notify.zt.test.", "b3V0Z29pbmctbm90aWZ5LWtleS0wMTIzNDU2Nzg5YWI="
    ring = dns.tsigkeyring.from_text({name: secret})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sec:
        svc = primary_notifying(tmp_path, start_service, sec, "--notify", "127.0.0.1:SEC", "--notify-key",
                                f"{name[:-1]}:SHA256:{secret}")
        wire, peer = sec.recvfrom(4096)
        n = dns.message.from_wire(wire, keyring=ring)  # raises unless the TSIG verifies
        assert n.had_tsig and n.keyname.to_text() == name
        # An unsigned answer (make_response would sign it: the query was signed).
        forged = dns.message.Message(id=n.id)
        forged.flags = dns.flags.QR | dns.flags.AA
        forged.set_opcode(dns.opcode.NOTIFY)
        forged.question = list(n.question)
        sec.sendto(forged.to_wire(), peer)
        assert wait_log(svc, "msg=notify.answer_unsigned"), svc.stderr_text()
        wire, peer = sec.recvfrom(4096)  # still resent
        n = dns.message.from_wire(wire, keyring=ring)
        resp = dns.message.make_response(n)  # signed with the query's key
        assert resp.had_tsig or resp.keyring
        sec.sendto(resp.to_wire(), peer)
        assert wait_log(svc, "msg=notify.answered zone=zt.test.")
    with pytest.raises(Exception):
        dns.message.from_wire(wire, keyring=dns.tsigkeyring.from_text({name: "d3JvbmctLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDE="}))


def test_kdig_and_drill_agree(primary):
    kd = subprocess.run(["kdig", "@127.0.0.1", "-p", str(primary.port), "+short", "alias.zt.test", "A"],
                        capture_output=True, text=True, check=True).stdout.split()
    assert kd == ["www.zt.test.", "zt.test.", "192.0.2.1"]
    dr = subprocess.run(["drill", "-p", str(primary.port), "foo.wild.zt.test", "@127.0.0.1", "A"],
                        capture_output=True, text=True, check=True).stdout
    assert "rcode: NOERROR" in dr and "192.0.2.99" in dr
    dr = subprocess.run(["drill", "-p", str(primary.port), "nope.zt.test", "@127.0.0.1", "A"],
                        capture_output=True, text=True, check=True).stdout
    assert "rcode: NXDOMAIN" in dr


def test_tcp_pipelining_and_byte_by_byte_framing(primary):
    """Several queries in one write, one more dribbled a byte at a time: every
    one answered on the same connection, matched by ID."""
    msgs = []
    for i, name in enumerate(("mail.zt.test", "www.zt.test", "nope.zt.test", "multi.zt.test")):
        q = dns.message.make_query(name, "A")
        q.id = 1000 + i
        w = q.to_wire()
        msgs.append(len(w).to_bytes(2, "big") + w)
    with socket.create_connection(("127.0.0.1", primary.port), timeout=5) as s:
        s.sendall(b"".join(msgs[:3]))
        for b in msgs[3]:
            s.sendall(bytes([b]))
            time.sleep(0.002)
        got = {}
        buf = b""
        while len(got) < 4:
            chunk = s.recv(65535)
            assert chunk, "connection closed early"
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                n = int.from_bytes(buf[:2], "big")
                r = dns.message.from_wire(buf[2:2 + n])
                got[r.id] = r
                buf = buf[2 + n:]
    assert sorted(got) == [1000, 1001, 1002, 1003]
    assert got[1002].rcode() == dns.rcode.NXDOMAIN
    assert len(got[1003].answer[0]) == 3


def test_tcp_garbage_and_half_messages_do_not_hurt(primary):
    with socket.create_connection(("127.0.0.1", primary.port), timeout=5) as s:
        s.sendall(b"\x00\x05\x01\x02\x03\x04\x05")  # 5 bytes: shorter than a header: silence
        s.sendall(b"\x00\x40abc")                    # announces 64 bytes, sends 3, then leaves
    with socket.create_connection(("127.0.0.1", primary.port), timeout=5) as s:
        s.sendall(b"\x00\x00")  # a zero length closes the connection
        s.settimeout(2)
        assert s.recv(10) == b""
    assert query(primary.port, "mail.zt.test", "A", tcp=True).answer


def test_remote_password_never_logged(tmp_path):
    """An https token in --remote stays out of the logs, also when the clone
    fails (here: nothing listens on the loopback port)."""
    from conftest import BIN
    port = free_port()
    err = tmp_path / "stderr"
    with open(err, "wb") as f:
        p = subprocess.Popen([str(BIN / "dns-primary"), "--listen", f"127.0.0.1:{free_port()}", "--remote",
                              f"https://zones:s3cret-token@127.0.0.1:{port}/zones.git", "--clone-dir",
                              str(tmp_path / "clone")], stdout=subprocess.DEVNULL, stderr=f)
    try:
        end = time.time() + 20
        while "git.clone_failed" not in err.read_text() and time.time() < end:
            time.sleep(0.1)
    finally:
        p.kill()  # it would retry for 30 s: the git server may start after it
        p.wait()
    text = err.read_text()
    assert "git.clone_failed" in text and "zones:***@127.0.0.1" in text, text
    assert "s3cret" not in text
