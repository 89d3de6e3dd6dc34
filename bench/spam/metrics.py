#!/usr/bin/env python3
"""Spam benchmark figures from normalized per-message results.

Input lines: "<truth> <verdict> <score>", truth spam|ham, verdict yes|no|unknown,
score in [0, 1]. Prints one markdown table row:
  | tool | ham false positives | spam caught | unknown | AUC | msgs/s | speed vs bogofilter | [CPU s | CPU ratio |]
(the CPU ratio is bogofilter's CPU seconds / this tool's: > 1 means faster)
With --cutoff X the verdicts are recomputed as a binary split at X (score >= X: yes).
"""
import argparse


def auc(items):
    """P(score of a random spam > score of a random ham), ties half (rank sum)."""
    ranked = sorted(items, key=lambda t: t[1])
    nspam = sum(1 for s, _ in items if s)
    nham = len(items) - nspam
    if not nspam or not nham:
        return 0.0
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][1] == ranked[i][1]:
            j += 1
        r = (i + 1 + j) / 2
        rank_sum += r * sum(1 for k in range(i, j) if ranked[k][0])
        i = j
    return (rank_sum - nspam * (nspam + 1) / 2) / (nspam * nham)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("results")
    ap.add_argument("--rate", type=float, default=0.0, help="messages per second")
    ap.add_argument("--base-rate", type=float, default=0.0, help="bogofilter messages per second")
    ap.add_argument("--cpu", type=float, help="CPU seconds (user + sys) for the test set")
    ap.add_argument("--base-cpu", type=float, help="bogofilter's CPU seconds")
    ap.add_argument("--cutoff", type=float)
    a = ap.parse_args()
    rows = []
    for line in open(a.results):
        truth, verdict, score = line.split()[:3]
        score = float(score)
        if a.cutoff is not None:
            verdict = "yes" if score >= a.cutoff else "no"
        rows.append((truth == "spam", verdict, score))
    spam = [r for r in rows if r[0]]
    ham = [r for r in rows if not r[0]]
    fp = sum(1 for r in ham if r[1] == "yes")
    caught = sum(1 for r in spam if r[1] == "yes")
    unk = sum(1 for r in rows if r[1] == "unknown")
    ratio = f"{a.rate / a.base_rate:.2f}x" if a.base_rate else "-"
    print(f"| {a.name} | {100 * fp / len(ham):.2f}% ({fp}/{len(ham)}) "
          f"| {100 * caught / len(spam):.2f}% ({caught}/{len(spam)}) "
          f"| {100 * unk / len(rows):.2f}% ({unk}) | {auc([(r[0], r[2]) for r in rows]):.5f} "
          f"| {a.rate:.0f} | {ratio} |" + (f" {a.cpu:.2f} | {a.base_cpu / a.cpu:.2f}x |" if a.cpu else ""))


if __name__ == "__main__":
    main()
