"""How `newsbot index` shows its progress: a rich bar on a terminal, a plain line every few seconds
otherwise (logs, CI, `nohup`), nothing with `--quiet`. The indexer only reports `IndexProgress`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from retrieval.indexing import IndexProgress, ProgressCallback

LINE_INTERVAL_S = 5.0


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def progress_line(status: IndexProgress) -> str:
    """One line of plain text: 'indexing: 120/509 articles, 1,820 chunks, 21.3 chunks/s, 4m05s left (fp32)'."""
    articles = f"{status.articles_done:,}/{status.articles_total:,} articles, " if status.articles_total else ""
    return (
        f"indexing: {articles}{status.chunks_done:,} chunks, "
        f"{status.chunks_per_s:.1f} chunks/s, {format_duration(status.eta_s)} left ({status.precision})"
    )


class LineProgress:
    """Writes `progress_line` to `stream` at most every `interval_s` seconds, and once at the end."""

    def __init__(
        self, stream: TextIO, interval_s: float = LINE_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ):
        self._stream = stream
        self._interval = interval_s
        self._clock = clock
        self._last_written: float | None = None
        self._last: IndexProgress | None = None

    def __call__(self, status: IndexProgress) -> None:
        self._last = status
        now = self._clock()
        if self._last_written is None or now - self._last_written >= self._interval:
            self._write(status)
            self._last_written = now

    def close(self) -> None:
        """The final figures, unless they were the last line written."""
        if self._last is not None and self._last_written is not None and self._clock() != self._last_written:
            self._write(self._last)

    def _write(self, status: IndexProgress) -> None:
        self._stream.write(progress_line(status) + "\n")
        self._stream.flush()


@contextlib.contextmanager
def index_progress(
    console: Console, quiet: bool = False, stream: TextIO | None = None
) -> Iterator[ProgressCallback | None]:
    """The callback to pass to the indexer: a bar when `console` is a terminal, else lines on `stream`."""
    if quiet:
        yield None
        return
    if not console.is_terminal:
        lines = LineProgress(stream or console.file)
        try:
            yield lines
        finally:
            lines.close()
        return
    bar = Progress(
        TextColumn("Indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("articles · {task.fields[chunks]:,} chunks · {task.fields[rate]:.1f} chunks/s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task("index", total=None, chunks=0, rate=0.0)

        def update(status: IndexProgress) -> None:
            bar.update(
                task,
                completed=status.articles_done,
                total=status.articles_total,
                chunks=status.chunks_done,
                rate=status.chunks_per_s,
            )

        yield update
