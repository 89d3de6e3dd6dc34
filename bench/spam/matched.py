#!/usr/bin/env python3
"""False positives at equal spam caught: for each level (a number of spam
messages to catch), every tool's threshold is set to the score of its k-th
highest-scoring spam, and the ham at or above it are counted. This compares
the tools' rankings at the operating points that matter, whatever their own
cutoffs are.

usage: matched.py NAME=RESULTS... --levels K1,K2,...   (results as for metrics.py)
"""
import sys


def main():
    levels = []
    tools = []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--levels":
            levels = [int(x) for x in args.pop(0).split(",") if x]
        else:
            name, path = a.split("=", 1)
            rows = [(l.split()[0] == "spam", float(l.split()[2])) for l in open(path)]
            tools.append((name, rows))
    nspam = sum(1 for c, _ in tools[0][1] if c)
    nham = len(tools[0][1]) - nspam
    levels = sorted(set(k for k in levels if 0 < k <= nspam))
    print("| spam caught | " + " | ".join(f"{name} ham FP" for name, _ in tools) + " |")
    print("|---|" + "---|" * len(tools))
    for k in levels:
        cells = []
        for _, rows in tools:
            spam = sorted((s for c, s in rows if c), reverse=True)
            t = spam[k - 1]
            fp = sum(1 for c, s in rows if not c and s >= t)
            cells.append(f"{fp} ({100 * fp / nham:.2f}%)")
        print(f"| {k}/{nspam} ({100 * k / nspam:.2f}%) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
