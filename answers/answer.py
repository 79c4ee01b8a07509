"""`answer(question) -> Answer`: the one call every front end makes.

Validates the question at the boundary, retrieves, lets the answerer compose, and enforces the
grounding rules on the result. Heavy parts (index, model) are loaded once per process and shared;
callers and tests may pass their own retriever or answerer.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import unicodedata
from pathlib import Path
from typing import Protocol

from answers.dated import dated_by_fallback, window_for, window_note
from answers.errors import QuestionError
from answers.extractive import ExtractiveAnswerer, is_quantity_question
from answers.followup import read_in_context
from answers.grounding import enforce_grounding
from answers.live_index import LiveRetriever
from answers.types import Answer
from config.settings import Settings, load_settings
from models.embedders import load_embedder
from retrieval.backends import open_retriever
from retrieval.errors import IndexCorruptError, IndexMissingError
from retrieval.language import detect_language
from retrieval.store_protocol import Corpus, Retriever, SearchResult
from retrieval.time_window import TimeWindow

logger = logging.getLogger(__name__)
LEMMA_CACHE = "lemmas.json"


class Answerer(Protocol):
    """Turns retrieved passages into an `Answer` (extractive by default, optionally an LLM)."""

    name: str

    def compose(self, question: str, language: str, result: SearchResult, data: Corpus) -> Answer: ...


def validate_question(question: str, max_chars: int = 1000) -> str:
    """The question stripped of surrounding whitespace, or `QuestionError` saying what is wrong."""
    text = question.strip()
    if not text:
        raise QuestionError("the question is empty; ask something about the articles")
    if any("\ud800" <= ch <= "\udfff" for ch in text):  # undecodable bytes, kept by Python as surrogates
        raise QuestionError("the question is not valid UTF-8 text; send it as UTF-8")
    if len(text) > max_chars:
        raise QuestionError(f"the question is {len(text)} characters long; the limit is {max_chars}")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise QuestionError("the question contains control characters; send plain text")
    return " ".join(text.split())


_retrievers: dict[tuple[str, str], Retriever] = {}
_live: dict[tuple[str, str], LiveRetriever] = {}
_answerers: dict[int, ExtractiveAnswerer] = {}
_lock = threading.Lock()


def _store_key(settings: Settings) -> str:
    url = settings.retrieval.database_url
    return url.get_secret_value() if url is not None else str(settings.index_dir.resolve())


def get_retriever(settings: Settings) -> Retriever:
    """The process-wide retriever for this index folder and model (loaded on first use); in a process
    that `follow_index`es, the newest generation's."""
    key = (_store_key(settings), settings.models.embedding_model)
    with _lock:
        live = _live.get(key)
        if live is not None:
            return live.retriever
        if key not in _retrievers:
            _retrievers[key] = open_retriever(settings)
        return _retrievers[key]


def follow_index(settings: Settings, warm: bool = True) -> LiveRetriever:
    """From now on this process answers from the newest index generation, switching within
    `index_poll_s` of each new one (answers/live_index.py). For long-running front ends."""
    key = (_store_key(settings), settings.models.embedding_model)
    with _lock:
        live = _live.get(key)
        if live is None:
            live = _live[key] = LiveRetriever(
                settings,
                load=lambda current: open_retriever(settings, embedder=current.embedder if current else None),
                warm=warm_up if warm else None,
                initial=_retrievers.get(key),
            )
            _retrievers[key] = live.retriever
    return live.start()


def stop_following(settings: Settings) -> None:
    """End `follow_index` for this store (the bot's shutdown); the last retriever stays shared."""
    key = (_store_key(settings), settings.models.embedding_model)
    with _lock:
        live = _live.pop(key, None)
    if live is not None:
        live.stop()


def reload_retriever(settings: Settings) -> Retriever:
    """Load the current index again (after `index` wrote a new generation), warm it up and share it."""
    key = (_store_key(settings), settings.models.embedding_model)
    retriever = open_retriever(settings)
    warm_up(retriever)
    with _lock:
        _retrievers[key] = retriever
        if key in _live:
            _live[key].replace(retriever)
    return retriever


def warm_up(retriever: Retriever) -> None:
    """Do now what the first quantity question would otherwise wait for: the collection's stories
    (answers/stories.py) and the lemma dictionary that names sources (answers/sources.py).

    Long-running front ends (the Telegram bot, `newsbot chat`) call this once after loading the
    index; a one-shot `newsbot ask` does not, since it would pay for it on every question.
    """
    from answers.sources import load_lemmas
    from answers.stories import story_map

    started = time.perf_counter()
    if retriever.data.in_memory:
        story_map(retriever.data)
    load_lemmas()
    logger.info("warmed up stories and lemmas in %.2f s", time.perf_counter() - started)


def warm_up_in_background(settings: Settings) -> threading.Thread:
    """Load the index and `warm_up` in a daemon thread (an interactive session, while the user types);
    the answer scorer's models load beside it."""
    from answers.scoring.preload import start_loading_scorer

    start_loading_scorer(settings)

    def run() -> None:
        try:
            warm_up(get_retriever(settings))
        except (OSError, ValueError, RuntimeError) as e:  # the first question reports it properly
            logger.warning("warm-up skipped: %s", e)

    thread = threading.Thread(target=run, name="newsbot-warm-up", daemon=True)
    thread.start()
    return thread


def default_answerer(settings: Settings, retriever: Retriever) -> Answerer:
    """The extractive answerer, wrapped by the LLM answerer when one is configured."""
    from answers.sources import use_lemma_cache

    use_lemma_cache(settings.retrieval.data_dir / LEMMA_CACHE)  # a one-shot `ask` skips the dictionary (answers/sources.py)
    with _lock:
        extractive = _answerers.get(id(retriever.embedder))
        if extractive is None:
            extractive = _answerers[id(retriever.embedder)] = ExtractiveAnswerer(settings, retriever.embedder)
    if settings.llm.enabled:
        from answers.llm import LLMAnswerer

        return LLMAnswerer(settings, extractive)
    return extractive


def answer(
    question: str,
    settings: Settings | None = None,
    retriever: Retriever | None = None,
    answerer: Answerer | None = None,
    k: int | None = None,
    previous: str | None = None,
    window: TimeWindow | None = None,
    now: dt.datetime | None = None,
) -> Answer:
    """Answer `question` from the indexed articles with verbatim, attributed quotes.

    `previous` is the conversation's previous stand-alone question (see answers/followup.py): a
    follow-up is searched and answered as read together with it, in the follow-up's language,
    and the answer's `read_as` says how it was read. `window` (`--since`/`--until`), or else a day
    the question names, limits the articles searched by publication date (answers/dated.py);
    `now` is what "gestern" and "24h" count from.
    """
    settings = settings or load_settings()
    question = validate_question(question, settings.models.max_question_chars)
    started = time.perf_counter()
    retriever = retriever or get_retriever(settings)
    answerer = answerer or default_answerer(settings, retriever)
    read = read_in_context(previous, question)
    language = detect_language(question)
    k = k or settings.retrieval.top_k * (2 if is_quantity_question(read.text) else 1)
    searched = window_for(read.text, window, now)
    # Only a windowed search names the window: retrievers that wrap `search` (bench/answers.py) need not know it.
    windowed = {"window": searched} if searched is not None else {}
    result = retriever.search(read.text, k=k, language=language, **windowed)
    result.window = searched  # the answerer reads nothing outside it either (a story's other articles)
    composed = answerer.compose(read.text, language, result, retriever.data)
    composed.question = question
    if searched is not None:
        fallback = any(dated_by_fallback(c) for c in composed.citations)  # a fetched/indexed day counted: say so
        said = window_note(searched, language, found_any=bool(result.hits), fallback_dates=fallback)
        composed.note = f"{composed.note} {said}" if composed.note else said
    composed.read_as = read.text if read.follow_up else None
    composed = enforce_grounding(composed, retriever.data.articles)
    composed.timings.update(
        query_embedding=result.timings.query_embedding,
        lexical=result.timings.lexical,
        dense=result.timings.dense,
        fusion=result.timings.fusion,
        total=time.perf_counter() - started,
    )
    logger.info(
        "answered question (%d chars, %s) abstained=%s citations=%d in %.0f ms",
        len(question), language, composed.abstained, len(composed.citations), composed.timings["total"] * 1000,
    )  # fmt: skip
    return composed


def ensure_index(settings: Settings, progress=None) -> bool:  # type: ignore[no-untyped-def]
    """Build the index from the seeds when there is none yet; True when it built one.

    Only when the index folder holds no generation at all: over a damaged or pointer-less index,
    building the seeds would replace a larger collection, so that is left to `newsbot index`, which repairs.
    """
    from retrieval.backends import has_collection, index_paths, uses_database
    from retrieval.stores.embedded.store import list_generations

    if has_collection(settings):
        return False
    if not uses_database(settings) and list_generations(settings.index_dir):
        raise IndexCorruptError(
            f"no complete index generation in {settings.index_dir}; run `newsbot index` to repair it"
        )
    seeds = Path(settings.retrieval.seeds_dir)
    if not seeds.is_dir():
        raise IndexMissingError(f"no index in {settings.index_dir} and no seeds folder {seeds}; run `newsbot index PATH`")
    logger.info("no index yet; building it from %s", seeds)
    index_paths([seeds], settings, embedder=load_embedder(settings), progress=progress)
    return True
