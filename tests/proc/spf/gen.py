"""Random SPF scenarios for differential testing against pyspf.

make_scenario(seed) -> (zonedata, checks): zonedata in the openspf suite's
YAML shape (so tests/proc/spf/zoneserver.py serves it), checks a list of
(client ip, mail from, helo). Deterministic for a given seed. Names are all
under .test; addresses are documentation ranges.
"""
import random

DOMAINS = ["a.test", "b.a.test", "c.test", "d.c.test", "e.test", "mx1.e.test", "mx2.e.test", "f.test"]
IPS4 = ["192.0.2.%d" % i for i in (1, 2, 3, 10, 200)] + ["198.51.100.7", "203.0.113.9"]
IPS6 = ["2001:db8::1", "2001:db8::2", "2001:db8:1::5"]
QUALS = ["", "", "+", "-", "~", "?"]


def rdomain(r, allow_missing=True):
    if allow_missing and r.random() < 0.15:
        return "nx%d.test" % r.randrange(4)
    return r.choice(DOMAINS)


def rmech(r):
    q = r.choice(QUALS)
    k = r.choice(["ip4", "ip4", "ip6", "a", "a", "mx", "ptr", "include", "include", "exists", "all"])
    if k == "ip4":
        ip = r.choice(IPS4)
        return q + "ip4:" + ip + r.choice(["", "/24", "/32", "/16", "/0"])
    if k == "ip6":
        return q + "ip6:" + r.choice(IPS6) + r.choice(["", "/64", "/128", "/32"])
    if k in ("a", "mx"):
        dom = r.choice(["", ":" + rdomain(r), ":%{d}", ":%{d2}", ":%{l}.a.test"])
        cidr = r.choice(["", "", "/24", "//64", "/30//126"])
        return q + k + dom + cidr
    if k == "ptr":
        return q + "ptr" + r.choice(["", ":a.test", ":e.test", ":test"])
    if k == "include":
        return q + "include:" + rdomain(r)
    if k == "exists":
        return q + "exists:" + r.choice(["%{i}.bl.test", "%{l}.users.a.test", rdomain(r),
                                         "%{ir}.%{v}.rev.test", "%{p}.ok.test", "%{L}.users.%{d2}"])
    return q + "all"


def rrecord(r):
    terms = [rmech(r) for _ in range(r.randrange(0, 6))]
    if r.random() < 0.2:
        terms.append("redirect=" + rdomain(r))
    if r.random() < 0.3:
        terms.append("exp=" + r.choice(["why.a.test", "why.c.test", "nx.test"]))
    return " ".join(["v=spf1"] + terms)


def make_scenario(seed):
    r = random.Random(seed)
    zone = {}

    def add(name, rec):
        zone.setdefault(name, []).append(rec)

    for d in DOMAINS:
        if r.random() < 0.8:
            add(d, {"TXT": rrecord(r)})
        for _ in range(r.randrange(0, 3)):
            add(d, {"A": r.choice(IPS4)})
        if r.random() < 0.4:
            add(d, {"AAAA": r.choice(IPS6)})
        if r.random() < 0.4:
            for p, mx in enumerate(r.sample(DOMAINS, r.randrange(1, 3))):
                add(d, {"MX": [p * 10, mx]})
    for ip in IPS4[:4]:
        rev = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
        for n in r.sample(DOMAINS, r.randrange(0, 3)):
            add(rev, {"PTR": n})
        add(ip + ".bl.test", {"A": "127.0.0.2"}) if r.random() < 0.3 else None
    for user in ("alice", "bob"):
        add(user + ".users.a.test", {"A": "127.0.0.2"})
        add(user + ".a.test", {"A": r.choice(IPS4)})
    add("why.a.test", {"TXT": "%{i} may not send for %{d} (user %{l})"})
    add("why.c.test", {"TXT": "see %{o} at %{h}: %{c} is %{p}, %{S}"})
    for n in DOMAINS[:3]:
        add(n + ".ok.test", {"A": "127.0.0.2"})
    checks = []
    for _ in range(6):
        ip = r.choice(IPS4 + IPS6 + ["::ffff:" + IPS4[0]])
        dom = r.choice(DOMAINS + ["nx1.test"])
        user = r.choice(["alice", "bob", "carol"])
        sender = "" if r.random() < 0.1 else "%s@%s" % (user, dom)
        checks.append((ip, sender, r.choice(DOMAINS)))
    return zone, checks
