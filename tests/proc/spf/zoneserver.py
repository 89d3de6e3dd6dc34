"""A tiny authoritative DNS server for the openspf test-suite zone data.

It serves one scenario's `zonedata` on 127.0.0.1 (UDP and TCP, same port)
with the semantics of python3-spf's testspf.py driver:

- `SPF` records are also served as `TXT` unless the name has its own `TXT`
  entries; `TXT: NONE` only suppresses that copy;
- a `TIMEOUT` entry makes queries for that name go unanswered, except for
  types that already had records listed before it;
- names not in the zone answer NXDOMAIN (names starting with `error.` time out);
- `CNAME` answers carry the target's records (loops are cut).

Records are emitted one RRset per record so duplicates and order survive.
UDP answers over 512 bytes are truncated (TC) so the client retries on TCP.
"""
import socket
import socketserver
import struct
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

UDP_MAX = 512
CNAME_DEPTH = 5
IN = dns.rdataclass.IN
SPF_TYPE = 99  # the obsolete SPF RR type still appears in the zone data


def mkname(text):
    """Absolute name from text; labels are raw bytes (spaces, ':' and '/' allowed)."""
    text = text.rstrip(".")
    labels = [lab.encode("utf-8") for lab in text.split(".")] if text else []
    return dns.name.Name(labels + [b""])


def load_zone(zonedata):
    """zonedata (from YAML) -> {lowercase name: [("TIMEOUT",) | (type, value)]}."""
    zone = {}
    for name, entries in (zonedata or {}).items():
        recs, spf_copies, has_txt = [], [], False
        for ent in entries or []:
            if ent == "TIMEOUT":
                recs.append(("TIMEOUT",))
                continue
            for rtype, val in ent.items():
                if rtype in ("TXT", "SPF") and isinstance(val, str):
                    val = [val]
                if rtype == "TXT":
                    has_txt = True
                elif rtype == "SPF":
                    spf_copies.append(("TXT", val))
                if val != ["NONE"]:
                    recs.append((rtype, val))
        if not has_txt:
            recs.extend(spf_copies)
        zone[name.lower().rstrip(".")] = recs
    return zone


def make_rdata(rtype, val):
    if rtype == "A":
        return A(IN, dns.rdatatype.A, val)
    if rtype == "AAAA":
        return AAAA(IN, dns.rdatatype.AAAA, val)
    if rtype == "MX":
        return MX(IN, dns.rdatatype.MX, int(val[0]), mkname(val[1]))
    if rtype == "PTR":
        return PTR(IN, dns.rdatatype.PTR, mkname(val))
    if rtype == "CNAME":
        return CNAME(IN, dns.rdatatype.CNAME, mkname(val))
    if rtype in ("TXT", "SPF"):
        strings = [s.encode("utf-8") if isinstance(s, str) else s for s in val]
        return TXT(IN, dns.rdatatype.TXT if rtype == "TXT" else SPF_TYPE, strings)
    raise ValueError(rtype)


def rtype_num(rtype):
    return SPF_TYPE if rtype == "SPF" else dns.rdatatype.from_text(rtype)


class Zone:
    def __init__(self, zonedata):
        self.zone = load_zone(zonedata)
        self.log = []  # (name, type, transport) of every question

    def lookup(self, qname, qtype, depth=0):
        """-> (rcode, [rrset...]) or None to stay silent (timeout)."""
        key = b".".join(qname.relativize(dns.name.root).labels).decode("utf-8", "replace").lower()
        if key not in self.zone:
            if key.startswith("error."):
                return None
            return (dns.rcode.NXDOMAIN, [])
        answers, seen = [], False
        for ent in self.zone[key]:
            if ent[0] == "TIMEOUT":
                if not seen:
                    return None
                break
            rtype, val = ent
            num = rtype_num(rtype)
            if num == qtype:
                seen = True
                answers.append(self.rrset(qname, num, make_rdata(rtype, val)))
            elif rtype == "CNAME" and qtype != dns.rdatatype.CNAME:
                answers.append(self.rrset(qname, num, make_rdata(rtype, val)))
                if depth < CNAME_DEPTH:
                    sub = self.lookup(mkname(val), qtype, depth + 1)
                    if sub is None:
                        return None
                    answers.extend(sub[1])
        return (dns.rcode.NOERROR, answers)

    @staticmethod
    def rrset(name, num, rdata):
        rs = dns.rrset.RRset(name, IN, num)
        rs.add(rdata, 60)
        return rs

    def respond(self, wire, udp):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return None
        if not q.question:
            return None
        qn = q.question[0]
        self.log.append((str(qn.name), dns.rdatatype.to_text(qn.rdtype), "udp" if udp else "tcp"))
        res = self.lookup(qn.name, qn.rdtype)
        if res is None:
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        r.set_rcode(res[0])
        r.answer = list(res[1])
        try:
            return r.to_wire(max_size=UDP_MAX if udp else 65535)
        except dns.exception.TooBig:
            t = dns.message.make_response(q)
            t.flags |= dns.flags.TC
            return t.to_wire()


class _UDP(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        out = self.server.zone.respond(data, True)
        if out is not None:
            sock.sendto(out, self.client_address)


class _TCP(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            hdr = self._read(2)
            if not hdr:
                return
            msg = self._read(struct.unpack("!H", hdr)[0])
            if msg is None:
                return
            out = self.server.zone.respond(msg, False)
            if out is None:
                return
            self.request.sendall(struct.pack("!H", len(out)) + out)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


class _ThreadUDP(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True


class _ThreadTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadUDP6(_ThreadUDP):
    address_family = socket.AF_INET6


class _ThreadTCP6(_ThreadTCP):
    address_family = socket.AF_INET6


class ZoneServer:
    """Serves a Zone on 127.0.0.1 (or ::1) :<port> over UDP and TCP until stop()."""

    def __init__(self, zonedata, host="127.0.0.1"):
        self.zone = Zone(zonedata)
        udp_cls, tcp_cls = (_ThreadUDP6, _ThreadTCP6) if ":" in host else (_ThreadUDP, _ThreadTCP)
        for _ in range(50):
            self.udp = udp_cls((host, 0), _UDP)
            self.port = self.udp.server_address[1]
            try:
                self.tcp = tcp_cls((host, self.port), _TCP)
                break
            except OSError:
                self.udp.server_close()
        else:
            raise RuntimeError("no free port for UDP and TCP")
        for s in (self.udp, self.tcp):
            s.zone = self.zone
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()


if __name__ == "__main__":  # manual use: serve one scenario of a suite file
    import gzip
    import sys
    import time

    import yaml

    path, idx = sys.argv[1], int(sys.argv[2])
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        scen = list(yaml.safe_load_all(fh))[idx]
    srv = ZoneServer(scen["zonedata"])
    print("serving on 127.0.0.1:%d" % srv.port, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        srv.stop()
