"""A writer process for the stress test in tests/test_nothing_lost.py.

`python -m tests.stress_writer FOLDER TAG SECONDS` adds one small article per `index` run (each run
a full read-merge-write of the shared index) until SECONDS have passed, then prints the ids it
added as JSON. The data folder comes from NEWSBOT_DATA_DIR, as for `newsbot index`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.stores.embedded.indexer import build_index

SEED_SENTENCES = (
    "Nach Angaben des südkoreanischen Geheimdienstes wurden rund 1.500 Soldaten nach Russland verlegt.",
    "NATO-Generalsekretär Mark Rutte warnte vor einer gefährlichen Eskalation des Krieges.",
    "Kim Hong-kyun forderte den sofortigen Abzug der nordkoreanischen Truppen.",
)


def article_text(tag: str, number: int) -> str:
    """A short article that only this writer's run `number` contains (its id sentence is unique)."""
    body = " ".join(SEED_SENTENCES[(number + k) % len(SEED_SENTENCES)] for k in range(2))
    return f"Meldung {tag} Nummer {number}\n{body} Die Kennung dieser Meldung lautet {tag}-{number}.\n"


def main(folder: Path, tag: str, seconds: float) -> None:
    settings = load_settings(env_file=None)
    embedder = load_embedder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    added: list[str] = []
    deadline = time.monotonic() + seconds
    number = 0
    while number < 2 or time.monotonic() < deadline:
        path = folder / f"{tag}_{number:03d}.txt"
        path.write_text(article_text(tag, number), encoding="utf-8")
        added += build_index([path], settings, embedder=embedder).added
        number += 1
    print(json.dumps(added))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
