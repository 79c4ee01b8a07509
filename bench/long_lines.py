"""How reading one article costs as its single line grows from 100 KB to 5 MB (issue 28).

Sentence splitting used to re-search the line up to every full stop (100 KB on one line: 8.4 s,
200 KB: 32 s), so an article just under the 5 MB file limit took hours while holding the writer
lock. This suite builds single-line articles of real German prose (10kGNAD bodies joined, or the
seed articles' cleaned text) and times, per size, what indexing does with an article before its
texts reach the encoder: reading and cleaning it (`read_article`: decoding, header, boilerplate,
language), splitting it into sentences and cutting chunks (`segment`), and the near-duplicate
tokens of its sentences. Time per MB must be flat across sizes; the encoder's own cost is per chunk,
and chunks per MB are reported to show that it is flat too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from config.settings import Settings

SIZES = (100_000, 500_000, 1_000_000, 2_000_000, 4_900_000)  # bytes; the last just under the 5 MB limit
QUICK_SIZES = (100_000, 400_000)
TITLE = "Ein sehr langer Artikel auf einer Zeile\n"


def prose(corpus: Path | None, seeds: Path, limit_bytes: int = 400_000) -> tuple[str, str]:
    """(German news prose on one line, where it came from): article bodies joined by spaces."""
    from retrieval.ingest import read_article

    if corpus is not None and corpus.is_dir():
        texts, size = [], 0
        for path in sorted(corpus.glob("*.txt")):
            text = " ".join(path.read_text(encoding="utf-8").split())
            texts.append(text)
            size += len(text.encode())
            if size >= limit_bytes:
                break
        return " ".join(texts), f"{len(texts)} 10kGNAD articles from {corpus}"
    texts = [" ".join(read_article(p).text.split()) for p in sorted(seeds.glob("*.txt"))]
    return " ".join(texts), f"the {len(texts)} seed articles' cleaned text"


def one_line_article(text: str, n_bytes: int) -> bytes:
    """A title line and `text`, repeated on one line, cut at a character boundary to `n_bytes`."""
    body = (text + " ") * (n_bytes // max(1, len(text.encode())) + 1)
    return (TITLE + body).encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore").rstrip().encode("utf-8") + b"\n"


def _best_of(repeats: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def run_long_lines(
    settings: Settings,
    work_dir: Path,
    corpus: Path | None,
    seeds: Path,
    sizes: Sequence[int] = SIZES,
    repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Seconds per MB of reading, splitting and segmenting single-line articles of each size (best of `repeats`)."""
    from retrieval.dedup import sentence_tokens
    from retrieval.indexing import segment
    from retrieval.ingest import read_article
    from retrieval.sentences import split_sentences

    text, source = prose(corpus, seeds)
    folder = work_dir / "long_lines"
    folder.mkdir(parents=True, exist_ok=True)
    warm = folder / "warm_up.txt"  # loads the language detector and the cleaner once, outside the timings
    warm.write_bytes(one_line_article(text, 20_000))
    segment(read_article(warm), settings)
    rows = []
    for size in sizes:
        path = folder / f"one_line_{size}.txt"
        path.write_bytes(one_line_article(text, size))
        mb = path.stat().st_size / 1e6
        if progress:
            progress(f"long lines: {mb:.1f} MB on one line")
        read_s, article = _best_of(repeats, lambda p=path: read_article(p, settings.retrieval.max_file_bytes))
        split_s, spans = _best_of(repeats, lambda a=article: split_sentences(a.text))
        segment_s, (sentences, chunks) = _best_of(repeats, lambda a=article: segment(a, settings))
        tokens_s, _ = _best_of(repeats, lambda ss=sentences: [sentence_tokens(s.text) for s in ss])
        total = read_s + segment_s + tokens_s
        rows.append(
            {
                "bytes": path.stat().st_size,
                "longest_line_chars": max(len(line) for line in article.text.split("\n")),
                "sentences": len(spans),
                "chunks": len(chunks),
                "chunks_per_mb": round(len(chunks) / mb, 1),
                "read_s": round(read_s, 3),
                "split_s": round(split_s, 3),
                "segment_s": round(segment_s, 3),
                "tokens_s": round(tokens_s, 3),
                "split_s_per_mb": round(split_s / mb, 4),
                "before_encoder_s_per_mb": round(total / mb, 4),
            }
        )
    split_rates = [r["split_s_per_mb"] for r in rows]
    total_rates = [r["before_encoder_s_per_mb"] for r in rows]
    return {
        "prose": source,
        "repeats": repeats,
        "sizes": rows,
        # Largest over smallest time per MB: 1.0 is perfectly linear; quadratic cost would grow with
        # the size ratio (49 from 100 KB to 4.9 MB).
        "split_flatness": round(max(split_rates) / max(min(split_rates), 1e-9), 2),
        "before_encoder_flatness": round(max(total_rates) / max(min(total_rates), 1e-9), 2),
    }


def long_lines_section(suite: dict[str, Any]) -> list[str]:
    """The suite's table for results.md."""
    rows = [
        [
            f"{r['bytes'] / 1e6:.1f}", f"{r['longest_line_chars']:,}", f"{r['sentences']:,}", f"{r['chunks']:,}",
            r["chunks_per_mb"], r["split_s"], r["split_s_per_mb"], r["read_s"], r["segment_s"], r["tokens_s"],
            r["before_encoder_s_per_mb"],
        ]
        for r in suite["sizes"]
    ]  # fmt: skip
    header = ["MB", "Line chars", "Sentences", "Chunks", "Chunks/MB", "Split s", "Split s/MB", "Read s", "Segment s",
              "Dedup tokens s", "Before encoder s/MB"]  # fmt: skip
    lines = [
        "## Long lines (one article on a single line)",
        "",
        (
            f"Prose: {suite['prose']}, repeated on one line; best of {suite['repeats']}. Time per MB should be flat: "
            f"largest/smallest split s/MB **{suite['split_flatness']}**, everything before the encoder "
            f"**{suite['before_encoder_flatness']}** (quadratic cost would give about the size ratio)."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]
