"""A bounded, thread-safe cache of embedding vectors keyed by their text, filled in batches.

The answerer embeds a question's salient terms ("Nordkorea") and the things its figures count
("nordkoreanische Soldaten") at every question, and the same ones recur, so their vectors are
cached. A long-running bot sees many thousands of distinct texts, so the cache is bounded and
evicts the least recently used. A lookup returns the vectors it found or computed itself, never
re-reading them from the cache: filling the cache for one question must not evict a vector that
same question needs (it did, as a KeyError once more texts had been seen than the cache holds,
with the oldest of them asked again), and neither may another thread's question.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np


class VectorCache:
    """`get(texts)` gives one float32 vector per text; `embed` computes the ones not cached, in one call."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], max_items: int) -> None:
        if max_items < 1:
            raise ValueError("a vector cache holds at least one item")
        self._embed = embed
        self.max_items = max_items
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, texts: Sequence[str]) -> list[np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                vector = self._items.get(text)
                if vector is not None:
                    self._items.move_to_end(text)
                    found[text] = vector
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            # Embedded outside the lock: other questions read the cache meanwhile.
            fresh = [np.asarray(vector, dtype=np.float32) for vector in self._embed(missing)]
            with self._lock:
                for text, vector in zip(missing, fresh):
                    found[text] = vector
                    self._items[text] = vector
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
        return [found[text] for text in texts]
