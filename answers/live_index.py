"""The newest index for processes that run for long: the bot, `newsbot chat`, any reader that stays up.

Why: the index is replaced, not changed in place (a new generation and an atomic switch of
`CURRENT`, retrieval/stores/embedded/store.py), so a process that loaded it once answers from the old collection
until it loads again. `LiveRetriever` watches the pointer (one small file read every
`index_poll_s`), loads the new generation in its own thread, warms it up, and only then swaps it
in: a question asked meanwhile is answered from the previous generation, which stays on disk for
`GRACE_SECONDS` after the switch and is memory-mapped here anyway, so no question ever meets a
half-loaded index or a false "no index" error. A PostgreSQL store needs none of this: every search
reads the database as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from config.settings import Settings
from retrieval.backends import uses_database
from retrieval.errors import IndexError_
from retrieval.store_protocol import Retriever
from retrieval.stores.embedded.store import current_generation_or_none

logger = logging.getLogger(__name__)


def generation_stamp(settings: Settings) -> str | None:
    """What identifies the collection a reader would load now: the current generation's name (None:
    a store whose readers are always current, or no index yet)."""
    if uses_database(settings):
        return None
    generation = current_generation_or_none(settings.index_dir)
    return generation.name if generation is not None else None


class LiveRetriever:
    """Holds the retriever of the newest generation; `retriever` never blocks on a reload.

    `load(current)` opens the store's current index (reusing `current`'s model when given).
    """

    def __init__(
        self,
        settings: Settings,
        load: Callable[[Retriever | None], Retriever],
        warm: Callable[[Retriever], None] | None = None,
        poll_s: float | None = None,
        initial: Retriever | None = None,
    ) -> None:
        self.settings = settings
        self._load = load
        self._warm = warm
        self.poll_s = poll_s if poll_s is not None else settings.retrieval.index_poll_s
        self._stamp = generation_stamp(settings)
        self._retriever = initial if initial is not None else load(None)
        self._swap_lock = threading.Lock()  # one reload at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.switches = 0
        self.last_switch_s: float | None = None  # seconds from noticing a new generation to answering from it

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    def replace(self, retriever: Retriever) -> None:
        """Use `retriever` from now on (a caller that just loaded the newest index itself)."""
        self._stamp = generation_stamp(self.settings)
        self._retriever = retriever

    def check_now(self) -> bool:
        """Load and switch to a newer generation if there is one; True when it switched.

        A failed load (an index damaged mid-way, a writer's crash) keeps the current retriever and is
        logged; the next check tries again.
        """
        stamp = generation_stamp(self.settings)
        if stamp is None or stamp == self._stamp:
            return False
        with self._swap_lock:
            if stamp == self._stamp:
                return False
            started = time.perf_counter()
            try:
                fresh = self._load(self._retriever)  # reuses its model
                if self._warm is not None:
                    self._warm(fresh)
            except (IndexError_, OSError) as e:
                logger.warning("index generation %s could not be loaded yet (%s); still answering from %s", stamp, e, self._stamp)
                return False
            self._retriever = fresh
            self._stamp = stamp
            self.switches += 1
            self.last_switch_s = time.perf_counter() - started
            logger.info(
                "switched to index generation %s (%d articles) in %.2f s",
                stamp, len(fresh.data.articles), self.last_switch_s,
            )  # fmt: skip
            return True

    def start(self) -> LiveRetriever:
        """Check for new generations every `poll_s` in a daemon thread until `stop`."""
        if self._thread is None and not uses_database(self.settings):
            self._thread = threading.Thread(target=self._follow, name="newsbot-index-follower", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check_now()
            except Exception:  # the follower must outlive any one bad generation
                logger.exception("checking for a new index generation failed; trying again")
