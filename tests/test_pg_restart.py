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
