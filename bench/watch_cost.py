"""What following feeds costs (issue 27): articles per minute fetched and indexed by `newsbot watch`,
and a reader's answer latency while a watch batch indexes.

A local newsroom on 127.0.0.1 serves an RSS feed of 10kGNAD articles as HTML pages (with their
date in the page metadata, as news sites do). The watcher polls it into a copy of the seed index:

1. throughput: one poll over `--articles` new items (fetch, extract, batch-index), timed by phase;
2. latency: the same questions answered by a reader that follows the index (`LiveRetriever`, as the
   bot does), first idle, then while `newsbot watch --once` indexes `--batch` more articles in
   another process (the README demo), then while the watcher runs in the reader's own process (a
   bot with NEWSBOT_WATCH_CONFIG).

    python -m bench.watch_cost --articles 128 --batch 32 --out bench-results/watch_cost.json

Latency is `answers.answer.answer()` end to end (what the bot's handler runs in its thread), without
Telegram's round trip.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from config.settings import Settings, load_settings

QUESTIONS = (
    "Wie viele Soldaten hat Nordkorea nach Russland geschickt?",
    "What did NATO Secretary General Mark Rutte warn about?",
    "Wer ist Leonid Sluzki?",
    "Wie hoch war die Geldstrafe gegen Neymar?",
    "Was sagte Putin zu den Satellitenbildern?",
)


class Newsroom:
    """Pages and a feed that lists the published ones, newest first."""

    def __init__(self, corpus: Path) -> None:
        self.files = sorted(corpus.glob("*.txt"))
        self.published: list[Path] = []
        self.base_url = ""

    def publish(self, count: int) -> None:
        start = len(self.published)
        self.published += self.files[start : start + count]

    def page(self, stem: str) -> bytes | None:
        path = next((p for p in self.published if p.stem == stem), None)
        if path is None:
            return None
        text = path.read_text(encoding="utf-8").strip()
        title, _, body = text.partition(". ")
        day = 1 + (int(stem.split("_")[-1]) % 28)
        paragraphs = "".join(f"<p>{html.escape(p.strip())}.</p>" for p in body.split(". ") if p.strip())
        return (
            f"<!doctype html><html lang='de'><head><meta charset='utf-8'><title>{html.escape(title[:120])}</title>"
            f"<meta property='article:published_time' content='2015-06-{day:02d}T08:00:00+02:00'></head><body>"
            f"<nav><a href='/'>Start</a></nav><article><h1>{html.escape(title[:120])}</h1>{paragraphs}</article>"
            "<footer>Impressum</footer></body></html>"
        ).encode()

    def feed(self) -> bytes:
        items = "".join(
            f"<item><title>{p.stem}</title><link>{self.base_url}/a/{p.stem}.html</link></item>" for p in reversed(self.published)
        )
        return f"<?xml version='1.0'?><rss version='2.0'><channel><title>n</title>{items}</channel></rss>".encode()


@contextmanager
def serve(newsroom: Newsroom) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/feed.xml":
                body, kind = newsroom.feed(), "application/rss+xml"
            else:
                page = newsroom.page(self.path.removeprefix("/a/").removesuffix(".html"))
                body, kind = page or b"not found", "text/html; charset=utf-8"
                if page is None:
                    self.send_response(404)
                    self.end_headers()
                    return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    newsroom.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield newsroom.base_url
    finally:
        server.shutdown()
        server.server_close()


def _summary(latencies: list[float]) -> dict[str, float | int]:
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "median_ms": round(1000 * statistics.median(ordered), 1) if ordered else 0.0,
        "p90_ms": round(1000 * ordered[int(0.9 * (len(ordered) - 1))], 1) if ordered else 0.0,
        "max_ms": round(1000 * ordered[-1], 1) if ordered else 0.0,
    }


def _ask_while(settings: Settings, busy: threading.Event | subprocess.Popen, live) -> list[float]:  # type: ignore[no-untyped-def,type-arg]
    """Answer QUESTIONS round-robin until `busy` ends; the latency of each."""
    from answers.answer import answer

    latencies = []
    running = (lambda: busy.poll() is None) if isinstance(busy, subprocess.Popen) else (lambda: not busy.is_set())
    position = 0
    while running():
        started = time.perf_counter()
        answer(QUESTIONS[position % len(QUESTIONS)], settings, live.retriever)
        latencies.append(time.perf_counter() - started)
        position += 1
    return latencies


def measure(corpus: Path, articles: int, batch: int, workdir: Path, idle_s: float = 20.0, base: int = 0) -> dict[str, object]:
    from answers.answer import warm_up
    from answers.live_index import LiveRetriever
    from models.embedders import load_embedder
    from retrieval.stores.embedded.indexer import build_index
    from retrieval.stores.embedded.search import EmbeddedRetriever
    from retrieval.watch import Watcher
    from retrieval.watch_config import UrlSource, WatchConfig

    data = workdir / "data"
    os.environ["NEWSBOT_DATA_DIR"] = str(data)
    settings = load_settings(env_file=None)
    embedder = load_embedder(settings)
    newsroom = Newsroom(corpus)
    # The collection the feed grows: the seeds, and `base` corpus articles that the feed never lists.
    base_files, newsroom.files = newsroom.files[:base], newsroom.files[base:]
    if len(newsroom.files) < articles + 2 * batch:  # the two latency rounds publish a batch each
        raise ValueError(
            f"{corpus} leaves {len(newsroom.files)} articles after --base {base}; need --articles + 2 x --batch = {articles + 2 * batch}"
        )
    build_index([Path(settings.retrieval.seeds_dir), *base_files], settings, embedder=embedder)
    results: dict[str, object] = {
        "articles": articles, "batch_articles": batch, "collection_before": 5 + len(base_files), "cpu_count": os.cpu_count(),
    }  # fmt: skip
    with serve(newsroom) as site:
        config = WatchConfig(feeds=[UrlSource(url=f"{site}/feed.xml")], batch_articles=batch, max_new_per_poll=50_000)
        phases = {"index_s": 0.0}

        def timed_index(paths, settings_, embedder_):  # type: ignore[no-untyped-def]
            from retrieval.backends import index_paths

            started = time.perf_counter()
            try:
                return index_paths(paths, settings_, embedder=embedder_)
            finally:
                phases["index_s"] += time.perf_counter() - started

        # 1. Throughput of one poll over `articles` new items.
        newsroom.publish(articles)
        watcher = Watcher(config, settings, embedder=embedder, index=timed_index)
        embedder.embed_corpus(["warm"], batch_size=1)  # as `Watcher.run` does: the engine loads before the first batch
        started = time.perf_counter()
        report = watcher.poll_once(force=True)
        total = time.perf_counter() - started
        watcher.close()
        results["throughput"] = {
            "fetched": report.fetched,
            "indexed": report.articles_new,
            "failed_pages": len(report.failed_pages),
            "batches": report.batches,
            "seconds": round(total, 1),
            "fetch_and_extract_s": round(total - phases["index_s"], 1),
            "index_s": round(phases["index_s"], 1),
            "articles_per_minute": round(60 * report.articles_new / total, 1),
        }

        # 2. Reader latency: idle, then beside a watcher process, then beside a watcher thread.
        live = LiveRetriever(settings, load=lambda current: EmbeddedRetriever.load(settings, embedder=embedder), warm=warm_up).start()
        warm_up(live.retriever)
        idle = threading.Event()
        timer = threading.Timer(idle_s, idle.set)
        timer.start()
        results["latency_idle"] = _summary(_ask_while(settings, idle, live))

        newsroom.publish(batch)
        config_file = workdir / "watch.toml"
        config_file.write_text(f"batch_articles = {batch}\n[[feeds]]\nurl = \"{site}/feed.xml\"\n", encoding="utf-8")
        env = {**os.environ, "NEWSBOT_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
        process = subprocess.Popen([sys.executable, "-m", "bot", "watch", "--once", "--config", str(config_file)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        switches = live.switches
        beside_process = _ask_while(settings, process, live)
        deadline = time.monotonic() + 30
        while live.switches == switches and time.monotonic() < deadline:
            time.sleep(0.1)
        results["latency_beside_watch_process"] = _summary(beside_process) | {
            "reader_switched": live.switches > switches, "switch_load_s": round(live.last_switch_s or 0.0, 2),
        }  # fmt: skip

        newsroom.publish(batch)
        in_process = Watcher(config, settings, embedder=embedder)
        done = threading.Event()

        def poll() -> None:
            try:
                in_process.poll_once(force=True)
            finally:
                done.set()

        worker = threading.Thread(target=poll)
        worker.start()
        results["latency_beside_watch_thread"] = _summary(_ask_while(settings, done, live))
        worker.join()
        in_process.close()
        live.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpora/10kgnad"))
    parser.add_argument("--articles", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--base", type=int, default=0, help="Corpus articles indexed before the feed starts.")
    parser.add_argument("--idle-s", type=float, default=20.0, help="Seconds of questions with nothing indexing.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if Path(".cache/models").is_dir():  # the converted model the tests use; else it is converted into the work folder
        os.environ.setdefault("NEWSBOT_MODEL_CACHE_DIR", str(Path(".cache/models").resolve()))
    workdir = Path(tempfile.mkdtemp(prefix="newsbot-watch-cost-"))
    try:
        results = measure(args.corpus.resolve(), args.articles, args.batch, workdir, args.idle_s, args.base)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
