"""envoi spam: train, classify and eval through the CLI on a small split of the
SpamAssassin corpus, against bogofilter trained and run on the same split.

The corpus comes from scripts/fetch-spam-corpus.sh (a cached npm package,
build/corpus/); the split here is every 8th message per folder for training
and the ones 4 after them for testing (about 750 messages each).
"""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ENVOI = os.environ.get("ENVOI_BIN", os.path.join(ROOT, "build", "bin", "envoi"))
FOLDERS = {"spam-1": "spam", "spam-2": "spam", "easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham"}


def run(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, f"{args[:3]} exit {p.returncode}: {p.stderr[-2000:]}"
    return p


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    assert os.access(ENVOI, os.X_OK), "build/bin/envoi missing: run make"
    corpus = os.path.join(ROOT, "build", "corpus", "spam-assassin")
    if not os.path.exists(os.path.join(corpus, ".complete")):
        # a dependency download (npm registry), cached for later runs
        run(os.path.join(ROOT, "scripts", "fetch-spam-corpus.sh"), os.path.join(ROOT, "build", "corpus"))
    base = tmp_path_factory.mktemp("spam")
    for part in ("train", "test"):
        for cls in ("spam", "ham"):
            (base / part / cls).mkdir(parents=True)
    for folder, cls in FOLDERS.items():
        names = sorted(os.listdir(os.path.join(corpus, folder)))
        for i, name in enumerate(names):
            part = "train" if i % 8 == 0 else "test" if i % 8 == 4 else None
            if part:
                os.symlink(os.path.join(corpus, folder, name), base / part / cls / f"{folder}-{name}")
    return base


@pytest.fixture(scope="module")
def db(split):
    path = split / "envoi.db"
    p = run(ENVOI, "spam", "train", "--spam", str(split / "train" / "spam"), "--ham", str(split / "train" / "ham"),
            "-o", str(path))
    nspam = len(os.listdir(split / "train" / "spam"))
    nham = len(os.listdir(split / "train" / "ham"))
    assert f"spam={nspam} ham={nham}" in p.stdout
    assert path.stat().st_size > 64
    return path


def classify(db, paths, check=True):
    p = run(ENVOI, "spam", "classify", "--database", str(db), *map(str, paths), check=check)
    out = {}
    for line in p.stdout.splitlines():
        path, verdict, score = line.split(" ")
        out[path] = (verdict, float(score))
    return p, out


def auc(pairs):
    """P(spam score > ham score), ties half."""
    spam = [s for c, s in pairs if c]
    ham = [s for c, s in pairs if not c]
    wins = sum((s > h) + 0.5 * (s == h) for s in spam for h in ham)
    return wins / (len(spam) * len(ham))


def bogofilter(split):
    d = split / "bogo"
    d.mkdir(exist_ok=True)
    for cls, flag in (("spam", "-s"), ("ham", "-n")):
        files = "\n".join(str(split / "train" / cls / f) for f in sorted(os.listdir(split / "train" / cls)))
        subprocess.run(["bogofilter", "-d", str(d), flag, "-b"], input=files + "\n", text=True, check=True)
    tests = [str(split / "test" / c / f) for c in ("spam", "ham") for f in sorted(os.listdir(split / "test" / c))]
    p = subprocess.run(["bogofilter", "-d", str(d), "-T", "-b"], input="\n".join(tests) + "\n", text=True,
                       capture_output=True)
    assert p.returncode in (0, 1, 2), p.stderr  # the last message's class; 3 is an error
    res = {}
    for line in p.stdout.splitlines():
        path, v, score = line.split()[:3]
        res[path] = ({"S": "yes", "H": "no"}.get(v, "unknown"), float(score))
    return res


def test_classify_against_bogofilter(split, db):
    tests = [split / "test" / c / f for c in ("spam", "ham") for f in sorted(os.listdir(split / "test" / c))]
    _, ours = classify(db, tests)
    assert len(ours) == len(tests)
    for path, (verdict, score) in ours.items():
        assert verdict in ("yes", "no", "unknown")
        assert 0.0 <= score <= 1.0
    bogo = bogofilter(split)
    assert len(bogo) == len(tests)

    def figures(res):
        ham = [v for p, v in res.items() if "/test/ham/" in p]
        spam = [v for p, v in res.items() if "/test/spam/" in p]
        fp = sum(v == "yes" for v, _ in ham)
        caught = sum(v == "yes" for v, _ in spam)
        return fp, caught, auc([("/test/spam/" in p, s) for p, (_, s) in res.items()])

    ofp, ocaught, oauc = figures(ours)
    bfp, bcaught, bauc = figures(bogo)
    print(f"envoi fp={ofp} caught={ocaught} auc={oauc:.5f}; bogofilter fp={bfp} caught={bcaught} auc={bauc:.5f}")
    nham = sum("/test/ham/" in p for p in ours)
    nspam = len(ours) - nham
    # Issue 6's goal, at this small scale: with its default verdicts envoi
    # catches at least as much spam as bogofilter does with its own...
    assert ocaught >= bcaught
    # ...and, set to catch exactly as much spam as bogofilter, flags no more ham.
    spam_scores = sorted((s for p, (_, s) in ours.items() if "/test/spam/" in p), reverse=True)
    if bcaught:
        t = spam_scores[bcaught - 1]
        fp_at_equal_catch = sum(s >= t for p, (_, s) in ours.items() if "/test/ham/" in p)
        print(f"envoi at bogofilter's spam caught ({bcaught}): fp={fp_at_equal_catch}")
        assert fp_at_equal_catch <= bfp
    # and its own false positives stay rare: under 0.5% of ham (bogofilter + 1 at this size)
    assert ofp <= max(bfp + 1, nham // 200)
    assert oauc >= bauc - 0.003
    assert ocaught >= 0.6 * nspam


def test_eval_agrees_with_classify(split, db):
    spam_dir, ham_dir = split / "test" / "spam", split / "test" / "ham"
    p = run(ENVOI, "spam", "eval", "--database", str(db), "--spam", str(spam_dir), "--ham", str(ham_dir),
            "--scores", str(split / "scores.txt"))
    fig = {}
    for line in p.stdout.splitlines():
        k, v = line.split()[:2]
        fig[k] = line.split()
    _, ours = classify(db, [spam_dir, ham_dir])
    nham = len(os.listdir(ham_dir))
    nspam = len(os.listdir(spam_dir))
    fp = sum(v == "yes" for path, (v, _) in ours.items() if "/test/ham/" in path)
    caught = sum(v == "yes" for path, (v, _) in ours.items() if "/test/spam/" in path)
    unknown = sum(v == "unknown" for v, _ in ours.values())
    assert fig["ham_false_positive_rate"][2] == f"{fp}/{nham}"
    assert fig["spam_caught"][2] == f"{caught}/{nspam}"
    assert fig["unknown_rate"][2] == f"{unknown}/{nham + nspam}"
    # --scores has full precision (classify prints 6 decimals, which ties near 0 and 1)
    scores = {}
    for line in (split / "scores.txt").read_text().splitlines():
        truth, path, verdict, score = line.split(" ")
        assert truth == ("spam" if "/test/spam/" in path else "ham")
        assert verdict == ours[path][0]
        assert abs(float(score) - ours[path][1]) <= 5e-7
        scores[path] = float(score)
    assert len(scores) == nham + nspam
    want_auc = auc([("/test/spam/" in path, s) for path, s in scores.items()])
    assert abs(float(fig["auc"][1]) - want_auc) < 1e-5
    assert float(fig["messages_per_second"][1]) > 0


def test_maildir_and_mbox_inputs(split, db, tmp_path):
    msgs = sorted(os.listdir(split / "test" / "spam"))[:3] + sorted(os.listdir(split / "test" / "ham"))[:3]
    srcs = [split / "test" / ("spam" if i < 3 else "ham") / m for i, m in enumerate(msgs)]
    _, single = classify(db, srcs)
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i, s in enumerate(srcs):
        shutil.copy(s, md / ("cur" if i % 2 else "new") / f"{i}.x:2,S")
    shutil.copy(srcs[0], md / "tmp" / "unfinished")  # tmp/ is not delivered mail
    _, fromdir = classify(db, [md])
    assert len(fromdir) == len(srcs)
    assert sorted(s for _, s in fromdir.values()) == sorted(s for _, s in single.values())
    mbox = tmp_path / "mbox"
    with open(mbox, "wb") as f:
        for s in srcs:
            data = open(s, "rb").read()
            if not data.startswith(b"From "):
                data = b"From someone@x.test Thu Jan  1 00:00:00 2002\n" + data
            f.write(data.rstrip(b"\n") + b"\n\n")
    _, frombox = classify(db, [mbox])
    assert sorted(frombox) == [f"{mbox}:{i}" for i in range(len(srcs))]
    # the mbox copy of each message scores as the file does (within rounding of the trailing blank line)
    for i, s in enumerate(srcs):
        assert abs(frombox[f"{mbox}:{i}"][1] - single[str(s)][1]) < 0.05


def test_bad_database_gives_unknown(split, db, tmp_path):
    msgs = [split / "test" / "spam" / sorted(os.listdir(split / "test" / "spam"))[0]]
    bad = tmp_path / "bad.db"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    for path in (bad, tmp_path / "missing.db"):
        p, res = classify(path, msgs, check=False)
        assert p.returncode != 0
        assert "database" in p.stderr
        assert [v for v, _ in res.values()] == ["unknown"]
    p = run(ENVOI, "spam", "eval", "--database", str(bad), "--spam", str(msgs[0]), check=False)
    assert p.returncode != 0 and "checksum" in p.stderr
