"""A fresh process that answers one question and reports where its start-up time went.

Run as `python -m bench.coldstart QUESTION` with NEWSBOT_DATA_DIR pointing at an existing
index; prints one JSON object: seconds per phase since interpreter start, and the process's peak RSS.
The latency suite runs it in a subprocess, so the imports it times are really cold for Python
(the OS file cache is warm after the first run, as it is for a user's second `newsbot ask`).
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json
import resource
import sys


def peak_rss_bytes() -> int:
    """This process's peak resident memory. VmHWM, because Linux carries ru_maxrss across exec:
    a child of a large benchmark process would report its parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(question: str) -> dict[str, float]:
    phases: dict[str, float] = {}
    mark = _T0

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 4)
        mark = now

    from answers.answer import answer
    from config.settings import load_settings
    from retrieval.stores.embedded.search import EmbeddedRetriever

    lap("import_core")
    settings = load_settings(env_file=None)
    if settings.models.embedding_backend == "sentence-transformers":
        import sentence_transformers  # noqa: F401  (timed apart from loading the weights)
        import torch  # noqa: F401

    lap("import_torch")
    from models.embedders import load_embedder

    embedder = load_embedder(settings)
    lap("load_model")
    retriever = EmbeddedRetriever.load(settings, embedder=embedder)
    lap("load_index")
    result = answer(question, settings, retriever=retriever)
    lap("first_answer")
    json.dumps(result.to_json(), ensure_ascii=False)
    lap("format")
    phases["in_process_total"] = round(time.perf_counter() - _T0, 4)
    phases["peak_rss_bytes"] = peak_rss_bytes()
    phases["abstained"] = float(result.abstained)
    return phases


if __name__ == "__main__":
    print(json.dumps(main(" ".join(sys.argv[1:]) or "Wie viele Soldaten?")))
