"""`newsbot chat` over PostgreSQL while the server restarts (issue 28, item 3): the next question
waits for it (NEWSBOT_DATABASE_RECONNECT_S), and a server still away gets one line, not a traceback
that ends the session. A real server of the test's own, so it can be stopped and started."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODEL_CACHE, REPO, make_settings

pytestmark = pytest.mark.slow
RECONNECT_S = 8


@pytest.fixture(scope="module")
def seed_database(own_pg_server: Any, seed_index_dir: Path) -> str:
    """The seed index copied into a fresh database (no embedding); returns its URL."""
    from retrieval.stores.postgres.index import migrate_embedded
    from tests.pg_server import fresh_database

    url = fresh_database(own_pg_server)
    assert len(migrate_embedded(make_settings(seed_index_dir, NEWSBOT_DATABASE_URL=url)).added) == 5
    return url


class Chat:
    """`newsbot chat` as a subprocess fed line by line; its output collected as it comes."""

    def __init__(self, url: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))}
        env.update(
            NEWSBOT_DATA_DIR=str(cwd / "data"), NEWSBOT_MODEL_CACHE_DIR=str(MODEL_CACHE), HF_HUB_OFFLINE="1",
            NEWSBOT_DATABASE_URL=url, NEWSBOT_DATABASE_RECONNECT_S=str(RECONNECT_S), PYTHONPATH=str(REPO),
            COLUMNS="200",
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
        )  # fmt: skip
        self.output: queue.Queue[str] = queue.Queue()
        self.seen = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.put(line)

    def ask(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until `text` appears in the output (fails after `timeout`)."""
        started = time.monotonic()
        while text not in self.seen:
            left = timeout - (time.monotonic() - started)
            if left <= 0 or self.process.poll() is not None:
                raise AssertionError(f"no {text!r} after {timeout} s; output: {self.seen[-2000:]!r}")
            try:
                self.seen += self.output.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
        return time.monotonic() - started


def test_postgres_restarted_during_chat_the_next_question_waits_for_it_and_the_session_goes_on(
    own_pg_server: Any, seed_database: str, tmp_path: Path
) -> None:
    from tests.pg_server import start_again, stop

    chat = Chat(seed_database, tmp_path)
    try:
        chat.ask("Was forderte Kim Hong-kyun?")
        chat.wait_for("sofortigen Abzug", timeout=180)

        stop(own_pg_server)  # the operator restarts the database ...
        chat.ask("Was schrieb Rutte im Onlinedienst X?")
        time.sleep(3)
        start_again(own_pg_server)  # ... and it is back 3 s later: the question waited for it
        chat.wait_for("Eskalation", timeout=60)

        stop(own_pg_server)  # down for longer than the chat waits: one line, and the session goes on
        chat.ask("Was forderte Kim Hong-kyun?")
        waited = chat.wait_for("is not answering after", timeout=RECONNECT_S + 30)
        assert waited >= RECONNECT_S - 1
        start_again(own_pg_server)
        chat.ask("Wie viele nordkoreanische Soldaten sind in Russland?")
        chat.wait_for("1.500", timeout=60)
        chat.ask(":quit")
        assert chat.process.wait(timeout=30) == 0
    finally:
        if chat.process.poll() is None:
            chat.process.kill()
        start_again(own_pg_server)
    stderr = chat.process.stderr.read() if chat.process.stderr else ""
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "NEWSBOT_DATABASE_RECONNECT_S" in chat.seen


class _RestartAfterSearch:
    """The real `PgRetriever`, with the database restarted as its search returns: the question's
    answer then reads its articles, stories and duplicate groups (lazy `PgCorpus` loads) over a broken
    connection, from a server that is back `down_s` later."""

    def __init__(self, retriever: Any, server: Any, down_s: float) -> None:
        self.retriever, self.server, self.down_s = retriever, server, down_s

    def search(self, *args: Any, **kwargs: Any) -> Any:
        from tests.pg_server import start_again, stop

        result = self.retriever.search(*args, **kwargs)
        stop(self.server)
        threading.Timer(self.down_s, start_again, (self.server,)).start()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.retriever, name)


def test_postgres_restarted_between_a_search_and_its_answers_lazy_loads_the_answer_waits_for_it(
    own_pg_server: Any, seed_database: str, tmp_path: Path, e5_embedder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 28, item 3 (narrow window): only the search retried, so a restart between a question's
    search and the loads its answer makes afterwards still failed that question."""
    from answers.answer import answer
    from answers.extractive import ExtractiveAnswerer
    from retrieval.stores.postgres.search import PgRetriever
    from tests.pg_server import start_again

    settings = make_settings(
        tmp_path, NEWSBOT_DATABASE_URL=seed_database, NEWSBOT_DATABASE_RECONNECT_S=str(RECONNECT_S)
    )
    answerer = ExtractiveAnswerer(settings, e5_embedder)
    question = "Was schrieb Rutte im Onlinedienst X?"
    undisturbed = answer(question, settings, retriever=PgRetriever.load(settings, e5_embedder), answerer=answerer)
    assert "Eskalation" in undisturbed.answer

    retriever = PgRetriever.load(settings, e5_embedder)
    try:
        with caplog.at_level("WARNING", logger="retrieval.stores.postgres.reconnect"):
            restarted = answer(question, settings, retriever=_RestartAfterSearch(retriever, own_pg_server, 2.0), answerer=answerer)
    finally:
        time.sleep(2.5)
        start_again(own_pg_server)

    assert any("lost the database" in r.getMessage() for r in caplog.records)  # the restart was met, after the search
    assert restarted.answer == undisturbed.answer
    assert [c.quote for c in restarted.citations] == [c.quote for c in undisturbed.citations]
