"""The feed watcher inside the bot process (NEWSBOT_WATCH_CONFIG), in a thread of its own.

The watcher's work is blocking (HTTP, embedding, writing a generation), so it runs beside the event
loop rather than on it; its new generations reach the bot's answers through the same
`LiveRetriever` that picks up generations written by any other process.
"""

from __future__ import annotations

import logging
import threading

from config.settings import Settings
from models.embedders import Embedder
from retrieval.watch import Watcher
from retrieval.watch_config import load_watch_config

logger = logging.getLogger(__name__)


class BackgroundWatcher:
    """A `Watcher` polling in a daemon thread until `stop`."""

    def __init__(self, settings: Settings, embedder: Embedder | None) -> None:
        assert settings.retrieval.watch_config is not None
        self.path = settings.retrieval.watch_config
        self.watcher = Watcher(load_watch_config(self.path), settings, embedder=embedder)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.watcher.run, args=(self._stop,), name="newsbot-watch", daemon=True)

    def start(self) -> BackgroundWatcher:
        self._thread.start()
        logger.info("watching %d sources from %s inside the bot", len(self.watcher.sources), self.path)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the watcher to stop after its current step (a fetch ends within its timeout)."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            logger.warning("the feed watcher is still busy after %.0f s; leaving it to end with the process", timeout_s)
