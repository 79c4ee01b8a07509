"""Long-running readers follow the index: a `newsbot chat` process answers from a generation another
process wrote within seconds, without a restart, and without an error while the switch happens."""

from __future__ import annotations

import gc
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

from answers.live_index import LiveRetriever, generation_stamp
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from tests.conftest import REPO, make_settings
from tests.news_site import FLOOD

pytestmark = pytest.mark.slow

QUESTION = "Wie viele Tote gab es nach den Unwettern in Valencia?"
HELP_END = ":quit     leave"  # the last line of `:help`: marks the end of the output before it


def _flood_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "valencia.txt"
    path.write_text(f"{FLOOD.title}\n{FLOOD.published}\n\n" + "\n".join(FLOOD.paragraphs) + "\n", encoding="utf-8")
    return path


def test_a_live_retriever_switches_to_a_new_generation_in_its_own_thread(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index, NEWSBOT_INDEX_POLL_S="0.2")
    live = LiveRetriever(settings, load=lambda current: EmbeddedRetriever.load(settings, embedder=e5_embedder)).start()
    try:
        before = live.retriever
        build_index([_flood_file(tmp_path / "new")], settings, embedder=e5_embedder)
        deadline = time.monotonic() + 10
        while live.retriever is before and time.monotonic() < deadline:
            assert before.search(QUESTION).hits  # the old generation keeps answering meanwhile
            time.sleep(0.05)
        assert live.retriever is not before and len(live.retriever.data.articles) == 6
        assert live.switches == 1 and generation_stamp(settings) is not None
        # The replaced generation is freed once no answer holds it: a bot that runs for weeks does not grow.
        gone = weakref.ref(before.data)
        del before
        gc.collect()
        assert gone() is None
    finally:
        live.stop()


def test_a_running_chat_answers_from_what_another_process_indexed_within_seconds(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    env = {
        **os.environ,
        "NEWSBOT_DATA_DIR": str(writable_seed_index),
        "NEWSBOT_INDEX_POLL_S": "0.5",
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat"], env=env, cwd=tmp_path, text=True, encoding="utf-8",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in chat.stdout], daemon=True).start()  # type: ignore[union-attr]

    def ask(text: str, timeout: float = 120) -> str:
        """Send `text` and then `:help`; everything printed before help's last line is the answer."""
        assert chat.stdin is not None
        chat.stdin.write(f"{text}\n:help\n")
        chat.stdin.flush()
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert chat.poll() is None, chat.stderr.read() if chat.stderr else ""
                continue
            if HELP_END in line:
                return "".join(out)
            out.append(line)
        raise AssertionError(f"no answer within {timeout} s: {''.join(out)!r}")

    try:
        before = ask(QUESTION)
        assert "158" not in before  # the seeds know nothing of Valencia

        writer = threading.Thread(target=build_index, args=([_flood_file(tmp_path / "new")], settings), kwargs={"embedder": e5_embedder})
        writer.start()
        during = []
        while writer.is_alive():  # questions while the other process writes and switches: never an error
            during.append(ask(QUESTION))
        writer.join()
        switched = time.monotonic()
        after = ask(QUESTION)
        while "158" not in after and time.monotonic() - switched < 30:
            after = ask(QUESTION)
        seen_after = time.monotonic() - switched
    finally:
        assert chat.stdin is not None
        chat.stdin.write(":quit\n")
        chat.stdin.flush()
        chat.wait(timeout=30)
    errors = chat.stderr.read() if chat.stderr else ""
    assert "158" in after, after
    assert seen_after < 10, f"the chat answered from the new generation only after {seen_after:.1f} s"
    assert chat.returncode == 0
    assert "error" not in (before + "".join(during) + after).lower() and "Traceback" not in errors, errors
    print(f"\nthe running chat answered from the new generation {seen_after:.2f} s after the writer finished")
