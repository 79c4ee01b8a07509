"""`--since`/`--until` inside a chat command (`/ask --since 24h Wie viele …`), as the CLI takes them."""

from __future__ import annotations

import datetime as dt

from retrieval.time_window import TimeWindow, TimeWindowError, window_from_options

OPTIONS = ("--since", "--until")


def split_window(args: list[str], now: dt.datetime) -> tuple[TimeWindow | None, list[str]]:
    """The window named by `--since X`/`--until X` among `args` (None: none named) and the other words.

    Telegram turns "—" for "--" on some keyboards; both are read. `TimeWindowError` for a bad value.
    """
    values: dict[str, str] = {}
    words: list[str] = []
    position = 0
    while position < len(args):
        word = args[position].replace("—", "--").replace("–", "--")
        if word in OPTIONS:
            if position + 1 >= len(args):
                raise TimeWindowError(f"{word} needs a date or a duration after it, such as {word} 24h or {word} 2024-10-20")
            values[word] = args[position + 1]
            position += 2
            continue
        words.append(args[position])
        position += 1
    if not values:
        return None, words
    return window_from_options(values.get("--since"), values.get("--until"), now), words
