"""The anchor for bench_dkim: dkimpy (python3-dkim) signing and verifying the
same messages with the same algorithms, in one process.

    dkimpy_bench.py SECONDS ALG KEYFILE TXT MSG...
ALG: rsa-sha256 | ed25519-sha256. KEYFILE: PEM (RSA) or base64 seed (Ed25519).
TXT: the key record. Prints lines shaped like bench_dkim's."""
import sys
import time

import dkim


def main():
    secs, alg, keyfile, txt = float(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], sys.argv[4].encode()
    key = open(keyfile, "rb").read()
    msgs = [open(p, "rb").read() for p in sys.argv[5:]]
    done = nbytes = 0
    signed = []
    t0 = time.monotonic()
    while True:
        for m in msgs:
            sig = dkim.sign(m, b"s1", b"example.test", key, canonicalize=(b"relaxed", b"relaxed"),
                            signature_algorithm=alg)
            if len(signed) < len(msgs):
                signed.append(sig + m)
            done += 1
            nbytes += len(m)
        t = time.monotonic() - t0
        if t >= secs:
            break
    print("sign keys=%s messages=%d seconds=%.2f per_sec=%.1f mb_per_sec=%.2f"
          % (alg.decode(), done, t, done / t, nbytes / t / 1e6))
    dnsfunc = lambda name, timeout=5: txt
    sigs = ok = 0
    t0 = time.monotonic()
    while True:
        for m in signed:
            ok += bool(dkim.verify(m, dnsfunc=dnsfunc))
            sigs += 1
        t = time.monotonic() - t0
        if t >= secs:
            break
    print("verify keys=%s signatures=%d passed=%d seconds=%.2f per_sec=%.1f" % (alg.decode(), sigs, ok, t, sigs / t))
    return 0 if ok == sigs else 1


if __name__ == "__main__":
    sys.exit(main())
