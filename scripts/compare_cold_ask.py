"""Compare the cold `newsbot ask` of checkouts (e.g. a worktree of the previous commit) on one machine.

    python scripts/compare_cold_ask.py --variant before=/tmp/wt-before --variant after=. \
        [--scorers fitted,reader] [--rounds 7] [--question "How many soldiers were reported and by whom?"]

Each round runs every (scorer, variant) once, in turn, so a machine's drift spreads over all of them
(BENCHMARKS.md, session 13). Each run is a new process of this interpreter running `-m bot.cli ask
QUESTION --json` in the variant's folder (its own modules first on the path; give each a `data` link to
the same data folder so they answer from the same index), timed to the answer's first byte and to the
process's exit; peak RSS comes from GNU time. Prints one markdown row per (scorer, variant): medians and
the exit's range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_once(folder: Path, scorer: str, question: str) -> tuple[float, float, float]:
    """(seconds to the first byte of the answer, seconds to exit, peak RSS in MB) of one cold ask."""
    env = {**os.environ, "NEWSBOT_ANSWER_SCORER": scorer}
    command = ["/usr/bin/time", "-f", "RSS %M", sys.executable, "-m", "bot.cli", "ask", question, "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(1)
    first = time.perf_counter() - started
    process.stdout.read()
    err = process.stderr.read().decode(errors="replace")
    if process.wait() != 0:
        raise SystemExit(f"{folder}: ask failed: {err[-500:]}")
    done = time.perf_counter() - started
    rss = [line for line in err.splitlines() if line.startswith("RSS ")]
    return first, done, int(rss[-1].split()[1]) / 1024 if rss else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", required=True, help="LABEL=FOLDER (a checkout with a data link)")
    parser.add_argument("--scorers", default="fitted,reader")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--question", default="How many soldiers were reported and by whom?")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(args.rounds):
        for scorer in args.scorers.split(","):
            for label, folder in variants.items():
                results.setdefault((scorer, label), []).append(run_once(Path(folder).resolve(), scorer, args.question))
    print("| scorer | variant | answer printed, median | exit, median (range) | peak RSS, median |")
    print("|---|---|---|---|---|")
    for (scorer, label), runs in results.items():
        first, done, rss = (statistics.median(x[i] for x in runs) for i in range(3))
        low, high = min(x[1] for x in runs), max(x[1] for x in runs)
        print(f"| {scorer} | {label} | {first:.2f} s | {done:.2f} s ({low:.2f}–{high:.2f}) | {rss:.0f} MB |")


if __name__ == "__main__":
    main()
