"""Cold and warm `ask` and `/briefing` latency over one collection, on the embedded store or
PostgreSQL, for the source tree given (this one, or an older checkout to compare with).

Cold `ask`: a fresh `python -m bot ask QUESTION` process per run, wall time and peak RSS from
/usr/bin/time (as a user's one-shot question pays them); every run is listed, since the first one in
a data folder fills the lemma cache (answers/sources.py) the later ones read. Warm `ask` and `/briefing`: one process
loads the store once, then times `answer` and `build_briefing` (the first briefing is the cold one
a bot pays after a start, the rest warm). Medians of `--runs`.

    python scripts/measure_story_latency.py DATA_DIR [--database-url URL] [--tree PATH] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FIGURE_QUESTIONS = ("How many soldiers were reported and by whom?", "Wie viele Soldaten schickt Nordkorea nach Russland?")
PLAIN_QUESTION = "Wer ist Kim Hong-kyun?"
REPO = Path(__file__).resolve().parent.parent

INNER = """
import json, sys, time
t0 = time.perf_counter()
from answers.answer import answer, get_retriever
from answers.briefing import build_briefing
from config.settings import load_settings
settings = load_settings(env_file=None)
retriever = get_retriever(settings)
retriever.search("Nordkorea", k=1)
loaded = time.perf_counter() - t0
runs = int(sys.argv[1])
out = {"load_s": loaded, "ask": {}, "briefing": []}
for question in json.loads(sys.argv[2]):
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        answer(question, settings, retriever=retriever)
        times.append(time.perf_counter() - started)
    out["ask"][question] = {"first": times[0], "warm": sorted(times[1:])[len(times[1:]) // 2]}
for _ in range(runs + 1):
    started = time.perf_counter()
    build_briefing(settings, retriever, None)
    out["briefing"].append(time.perf_counter() - started)
print("RESULT" + json.dumps(out))
"""


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))}
    env.update(NEWSBOT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    env["NEWSBOT_MODEL_CACHE_DIR"] = str(REPO / ".cache" / "models")
    if database_url:
        env["NEWSBOT_DATABASE_URL"] = database_url
    return env


def cold_ask(tree: Path, env: dict[str, str], question: str, runs: int) -> dict[str, float]:
    walls, peaks = [], []
    for _ in range(runs):
        done = subprocess.run(
            ["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", "bot", "ask", question],
            cwd=tree, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        line = next(x for x in done.stderr.splitlines() if x.startswith("TIME "))
        wall, peak_kb = line.split()[1:]
        walls.append(float(wall))
        peaks.append(int(peak_kb) / 1024)
    return {
        "wall_s": statistics.median(walls), "peak_rss_mb": round(statistics.median(peaks), 1),
        "runs_wall_s": walls, "runs_peak_rss_mb": [round(p, 1) for p in peaks],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--database-url")
    parser.add_argument("--tree", type=Path, default=REPO)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = environment(args.data_dir, args.database_url)
    load = os.getloadavg()[0]
    result: dict[str, object] = {"store": "postgres" if args.database_url else "embedded", "tree": str(args.tree)}
    result["cold_ask"] = {q: cold_ask(args.tree, env, q, args.runs) for q in (*FIGURE_QUESTIONS, PLAIN_QUESTION)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", INNER, str(args.runs), json.dumps([*FIGURE_QUESTIONS, PLAIN_QUESTION])],
        cwd=args.tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:  # e.g. the briefing failing on PostgreSQL before issue 26: report it, keep the rest
        result["in_process"] = {"failed": done.stderr.strip().splitlines()[-1]}
        print(json.dumps(result, indent=2))
        return
    inner = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))[6:])
    result["in_process"] = {
        "load_s": round(inner["load_s"], 3),
        "ask": {q: {k: round(v, 3) for k, v in t.items()} for q, t in inner["ask"].items()},
        "briefing_first_s": round(inner["briefing"][0], 3),
        "briefing_warm_s": round(statistics.median(inner["briefing"][1:]), 3),
        "seconds": round(time.perf_counter() - started, 1),
    }
    result["load_average"] = {"start": load, "end": os.getloadavg()[0]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
