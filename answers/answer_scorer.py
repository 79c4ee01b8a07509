"""Which retrieved sentence answers the question, and whether the collection answers it at all.

Two models, fitted on the fit half of XQuAD (and its left-out-article and on-story variants, with
and without 10kGNAD distractors) by `training/fit_answer_scorer.py`; their parameters live in
`answer_scorer.json` beside this module and are applied here with numpy alone:

- the sentence model (gradient-boosted trees) gives P(this sentence holds the answer) for every sentence of the retrieved
  passages, from evidence a similarity score cannot see: whether the question's salient terms
  (names, numbers, rare words) occur in the sentence and its article, literally or, across
  languages, by the embedding model ("Germany" ~ "Deutschland"); whether the sentence holds the
  kind of answer asked for (who → names, how many → a new figure, when → a date); for quantity
  questions, whether a figure's following words name what is counted ("12.000 Soldaten" for "How
  many soldiers", literally or by embedding); and the dense, BM25 and rank evidence of its passage;
- the answerability model (gradient-boosted trees) gives P(the collection answers the question) from the best candidates
  (their sentence scores, the weakest salient term's best match in the top article, the share of
  the question's words the collection has never seen, the collection's size). newsbot declines below a threshold chosen
  on the fit half to meet the answer/decline targets (the JSON records how).

Optionally, the JSON names a query adapter (`query_adapter.npz`, training/train_query_adapter.py:
the question vector mapped by a fitted linear map, its cosine to each sentence as ADAPTER_FEATURES);
both models then read those columns too, and `baseline` holds the same scorer fitted without them
(the answers benchmark's `fitted-features` variant). The committed JSON uses the adapter
(BENCHMARKS.md, issue 12: it declines better with 10kGNAD; answer@1 is unchanged within noise).
"""

from __future__ import annotations

import json
import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from answers.errors import ScorerFileError
from answers.vector_cache import VectorCache
from retrieval.lexical import tokenize
from retrieval.store_protocol import Corpus, SearchResult, chunk_sentence_ids

PARAMETERS = Path(__file__).with_name("answer_scorer.json")

# Question kinds; each is what the sentence must hold (see `answer_type_features`).
KINDS = ("who", "quantity", "when", "where", "other")
_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("quantity", re.compile(
        r"\b(?:how\s+(?:many|much|large|big|long|high|old|far)|number\s+of|what\s+percentage|wie\s*viele?|wieviele?|"
        r"wie\s+(?:groß|hoch|lang|alt|weit)|anzahl|zahl\s+der|wie\s+viel\s+prozent)\b", re.IGNORECASE)),
    ("when", re.compile(
        r"\b(?:when|what\s+(?:year|century|decade|date|time)|which\s+(?:year|century|decade)|in\s+what\s+year|"
        r"wann|seit\s+wann|in\s+welchem\s+jahr(?:hundert)?|welche[nms]?\s+jahr(?:hundert)?|an\s+welchem\s+tag)\b",
        re.IGNORECASE)),
    ("where", re.compile(
        r"\b(?:where|in\s+which\s+(?:country|city|state|region|place)|wo|wohin|woher|in\s+welche[mnr]?\s+"
        r"(?:land|stadt|staat|region|ort))\b", re.IGNORECASE)),
    ("who", re.compile(
        r"\b(?:who|whom|whose|which\s+(?:person|company|organi[sz]ation|group|team|country)|wer|wem|wen|wessen|"
        r"welche[rsnm]?\s+(?:person|firma|unternehmen|organisation|partei|land|mannschaft))\b", re.IGNORECASE)),
)  # fmt: skip
_WORD = re.compile(r"\w[\w'’-]*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MONTHS = (
    "januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember|"
    "january|february|march|june|july|october|december"
)
_DATE = re.compile(
    rf"\b(?:1[0-9]{{3}}|20[0-9]{{2}})\b|\b(?:{_MONTHS})\b|\b\d{{1,2}}\.\s*(?:{_MONTHS})|jahrhundert|century|"
    r"\b\d{1,2}\.\s*jh\b|\b\d0er\b",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!?…\"“”»«)]$")
# What a quantity question counts: the words after its cue ("How many *soldiers*", "Wie viele
# *nordkoreanische Soldaten*"); a figure answers it when the words after the figure name that thing.
_COUNTED = re.compile(
    r"\b(?:how\s+(?:many|much)|number\s+of|wie\s*viele?|wieviele?|anzahl\s+(?:der|an)?|zahl\s+der)\s+"
    r"(\w[\w'’-]*(?:\s+\w[\w'’-]*)?)",
    re.IGNORECASE,
)
FIGURE_WINDOW = 2  # words after a figure read as what it counts ("1.500 nordkoreanische Soldaten")
MAX_FIGURES = 64  # figure phrases embedded per question: one small batch
MAX_TERMS = 4  # salient terms embedded per question: one small batch, within the latency budget
TERM_VECTORS_CACHED = 8192  # salient-term vectors kept per answerer (1.5 KB each: ~12 MB at most)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

    wh = {"who", "whom", "whose", "what", "which", "when", "where", "why", "how", "many", "much", "wer", "wem",
          "wen", "wessen", "was", "welche", "welcher", "welches", "welchen", "welchem", "wann", "wo", "wie",
          "viele", "warum", "weshalb", "wieso", "did", "does", "do", "is", "are", "were", "name"}  # fmt: skip
    # Auxiliary and modal verb forms that bm25s' lists lack (its German list has "würde" but not "wurde",
    # its English list has 33 words): grammar, like the lists themselves, not words of any story.
    auxiliaries = {"wurde", "wurden", "worden", "wurdest", "has", "have", "had", "been", "being", "can", "could",
                   "would", "should", "may", "might", "must", "shall"}  # fmt: skip
    return frozenset(w.lower() for w in (*STOPWORDS_GERMAN, *STOPWORDS_EN, *wh, *auxiliaries))


def content_stems(question: str) -> frozenset[str]:
    """The stems of the question's content words: its question words and auxiliaries left out.

    The lexical tokenizer keeps "wer", "wem", "viele" and "wurden" (bm25s' stopword lists lack them),
    and a collection rarely holds them, so they counted as words the collection has never seen: "Wer
    ist Leonid Sluzki?" had a third of its words unknown, and overlap features counted "wurd".
    """
    stop = _stopwords()
    content = _WORD.sub(lambda m: " " if m.group(0).lower() in stop else m.group(0), question)
    return frozenset(tokenize([content])[0])


@dataclass(frozen=True)
class QuestionProfile:
    """What the scorer reads off a question once: its kind, its stems and its salient terms."""

    text: str
    kind: str
    stems: frozenset[str]
    terms: tuple[str, ...]  # surface forms, most salient first: names, numbers, then rare words
    term_stems: tuple[frozenset[str], ...]
    numbers: frozenset[str]
    counted: str  # what a quantity question counts ("soldiers"); "" for other kinds


def counted_thing(question: str, terms: Sequence[str]) -> str:
    """The words a quantity question counts, without stopwords; else its most salient term."""
    match = _COUNTED.search(question)
    if match:
        words = [w for w in match.group(1).split() if w.lower() not in _stopwords()]
        if words:
            return " ".join(words)
    return terms[0] if terms else ""


def figure_phrases(text: str, question: QuestionProfile) -> list[str]:
    """What each figure of the sentence counts: the words right after it ("12.000 Soldaten")."""
    phrases = []
    for match in _NUMBER.finditer(text):
        if match.group(0) in question.numbers or _DATE.fullmatch(match.group(0)):
            continue
        words = _WORD.findall(text[match.end() : match.end() + 80])[:FIGURE_WINDOW]
        if words:
            phrases.append(" ".join(words))
    return phrases


def question_kind(question: str) -> str:
    """ "who", "quantity", "when", "where" or "other" (the first pattern that matches, in that order)."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return "other"


def profile_question(question: str, idf: Callable[[Sequence[str]], np.ndarray]) -> QuestionProfile:
    """Salient terms are capitalised runs (names), numbers and the rarest remaining words by IDF."""
    stop = _stopwords()
    words = [(m.group(0), m.start()) for m in _WORD.finditer(question)]
    spans: list[str] = []
    current: list[str] = []
    rest: list[str] = []
    for index, (word, _) in enumerate(words):
        capital = word[:1].isupper() and index > 0 and word.lower() not in stop
        if capital or (current and word.isdigit()):
            current.append(word)
            continue
        if current:
            spans.append(" ".join(current))
            current = []
        if word.lower() in stop:
            continue
        if word[:1].isdigit():
            spans.append(word)
        elif len(word) > 3:  # short words ("say", "war") are rarely what a question is about
            rest.append(word)
    if current:
        spans.append(" ".join(current))
    if words and words[0][0].lower() not in stop and words[0][0] not in spans and len(words[0][0]) > 3:
        rest.append(words[0][0])
    rest = list(dict.fromkeys(rest))
    if rest:
        weights = idf([s[0] if s else "" for s in tokenize(rest)])
        # Rarest first; words the collection never uses (every English word in a German collection)
        # tie, and then the longer, more specific word goes first.
        rest = [w for _, _, w in sorted(zip((-weights).tolist(), [-len(w) for w in rest], rest))]
    terms = tuple(dict.fromkeys(spans + rest))[:MAX_TERMS]
    term_stems = tuple(frozenset(t) for t in tokenize(list(terms))) if terms else ()
    kind = question_kind(question)
    return QuestionProfile(
        text=question,
        kind=kind,
        stems=content_stems(question),
        terms=terms,
        term_stems=term_stems,
        numbers=frozenset(_NUMBER.findall(question)),
        counted=counted_thing(question, terms) if kind == "quantity" else "",
    )


def answer_type_features(kind: str, text: str, question: QuestionProfile) -> list[float]:
    """Does the sentence hold the kind of thing asked for: a figure, a date, names not in the question."""
    numbers = {n for n in _NUMBER.findall(text) if n not in question.numbers}
    has_number = 1.0 if numbers else 0.0
    has_date = 1.0 if _DATE.search(text) else 0.0
    words = _WORD.findall(text)
    new_names = sum(
        1 for w in words[1:] if w[:1].isupper() and w.lower() not in question.text.lower() and len(w) > 1
    )
    names = min(new_names, 5) / 5.0
    return [
        has_number * (kind == "quantity"),
        has_date * (kind == "when"),
        names * (kind == "who"),
        names * (kind == "where"),
        has_number,
        has_date,
        names,
    ]


SENTENCE_FEATURES = (
    "dense", "dense_in_context", "dense_gap_to_best", "passage_fused", "passage_rank_inverse",
    "passage_dense", "idf_overlap", "idf_overlap_with_previous", "term_match_mean", "term_match_min",
    "article_term_min", "novelty", "heading", "log_length",
    "quantity_has_number", "when_has_date", "who_has_names", "where_has_names", "has_number", "has_date",
    "has_names",
    # The same evidence relative to the question's best candidate (0 for the best): what matters is
    # often which sentence matches best, not how well in absolute terms.
    "dense_in_context_gap", "idf_overlap_gap", "idf_overlap_with_previous_gap", "term_match_mean_gap",
    "term_match_min_gap", "passage_fused_gap",
    # The sentence's article: the question's words it holds (IDF-weighted), and the rarest word of
    # the question that the collection knows but this article lacks ("Mali", "2030").
    "article_idf_overlap", "article_missing_known_idf",
    # Quantity questions: how well the best figure's following words name what is counted
    # ("12.000 Soldaten" for "How many soldiers"; literal or by embedding, across languages); 0 else.
    "figure_counts_thing",
)  # fmt: skip
# The query adapter's columns (training/train_query_adapter.py), appended to SENTENCE_FEATURES when
# the parameters use it: the cosine of the adapted question vector with the sentence, and its gap
# to the question's best candidate.
ADAPTER_FEATURES = ("dense_adapted", "dense_adapted_gap")
ADAPTER_ANSWERABILITY_FEATURES = ("best_dense_adapted", "top_dense_adapted")
_RELATIVE = ("dense_in_context", "idf_overlap", "idf_overlap_with_previous", "term_match_mean", "term_match_min",
             "passage_fused")  # fmt: skip
ANSWERABILITY_FEATURES = (
    "best_logit", "second_logit", "best_dense", "best_passage_dense", "passage_dense_margin",
    "best_term_match_min", "best_article_term_min", "best_idf_overlap",
    "other_language", "kind_who", "kind_quantity", "kind_when", "kind_where", "best_term_match_mean",
    "best_sentence_dense", "unknown_word_share_same_language", "best_article_idf_overlap",
    "best_article_missing_known_idf",
    # Any candidate, and the top one, holding a figure of the thing counted (quantity questions).
    "best_figure_counts_thing", "top_figure_counts_thing",
    # The collection's size (log10 of its chunks): how well the evidence separates answered from not
    # shifts with it (five articles of one story against thousands of many), so the model learns that
    # from the fit's three collection sizes instead of one cut serving all of them.
    "collection_log_chunks",
    # The share of the question's names and numbers (salient terms written with a capital, German
    # nouns included, or a digit) that no chunk of the collection holds, literally. Unlike the
    # unknown-word share it is kept for questions in another language than the articles: names and
    # numbers are mostly written alike ("Mali", "2030", "Tesla"), other words are not.
    "unknown_name_share",
)  # fmt: skip


@dataclass
class Candidates:
    """The sentences of the retrieved passages with their feature rows (row i ↔ sentence_ids[i])."""

    sentence_ids: np.ndarray
    features: np.ndarray  # (n, len(columns))
    question_features: dict[str, float]  # features of the question and collection, for answerability
    columns: tuple[str, ...] = SENTENCE_FEATURES  # + ADAPTER_FEATURES when the parameters use it


@dataclass(frozen=True)
class LogisticModel:
    """A standardised logistic regression: P = sigmoid(((x - mean) / scale) @ coef + intercept)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_json(cls, raw: dict) -> LogisticModel:
        return cls(
            names=tuple(raw["features"]),
            mean=np.asarray(raw["mean"], dtype=np.float64),
            scale=np.asarray(raw["scale"], dtype=np.float64),
            coef=np.asarray(raw["coef"], dtype=np.float64),
            intercept=float(raw["intercept"]),
        )

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier, exported by the fit
    script): logit = baseline + the leaf value each tree reaches, all trees walked at once."""

    names: tuple[str, ...]
    baseline: float
    feature: np.ndarray  # (trees, nodes) feature index per node
    threshold: np.ndarray  # (trees, nodes) go left when x[feature] <= threshold
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # (trees, nodes) leaf values (shrinkage included)
    leaf: np.ndarray  # (trees, nodes) bool
    depth: int

    @classmethod
    def from_json(cls, raw: dict) -> TreeEnsemble:
        trees = raw["trees"]
        width = max(len(t["feature"]) for t in trees)

        def pad(key: str, dtype: type) -> np.ndarray:
            out = np.zeros((len(trees), width), dtype=dtype)
            for i, tree in enumerate(trees):
                out[i, : len(tree[key])] = tree[key]
            return out

        return cls(
            names=tuple(raw["features"]),
            baseline=float(raw["baseline"]),
            feature=pad("feature", np.int64),
            threshold=pad("threshold", np.float64),
            left=pad("left", np.int64),
            right=pad("right", np.int64),
            value=pad("value", np.float64),
            leaf=pad("leaf", bool) | (pad("left", np.int64) == 0) & (pad("right", np.int64) == 0),
            depth=int(raw["depth"]),
        )

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        trees = np.arange(self.feature.shape[0])[None, :]
        rows = np.arange(x.shape[0])[:, None]
        node = np.zeros((x.shape[0], self.feature.shape[0]), dtype=np.int64)
        for _ in range(self.depth):
            values = x[rows, self.feature[trees, node]]
            step = np.where(
                values <= self.threshold[trees, node], self.left[trees, node], self.right[trees, node]
            )
            node = np.where(self.leaf[trees, node], node, step)
        return self.baseline + self.value[trees, node].sum(axis=1)


def model_from_json(raw: dict) -> LogisticModel | TreeEnsemble:
    return TreeEnsemble.from_json(raw) if raw.get("kind") == "trees" else LogisticModel.from_json(raw)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class ScorerParameters:
    sentence: LogisticModel | TreeEnsemble
    answerability: LogisticModel | TreeEnsemble
    thresholds: dict[str, float]  # decline below these P(answerable): "same_language" / "other_language"
    provenance: dict
    # The same scorer fitted without the adapter's columns (the answers benchmark's baseline
    # variant, fitted in the same run).
    baseline: ScorerParameters | None = None
    query_adapter: np.ndarray | None = None  # (d, d): the question vector becomes normalise(W q)

    def threshold(self, candidates: Candidates) -> float:
        """Questions in another language than the top article's are separated less well (names and
        numbers are most of what they share), so each case has its own fitted threshold."""
        other = candidates.question_features.get("other_language", 0.0) > 0.5
        return self.thresholds["other_language" if other else "same_language"]


def load_parameters(path: Path = PARAMETERS) -> ScorerParameters:
    """The fitted scorer; `ScorerFileError` in one line when the file is missing, truncated or not ours."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _parameters_from_json(raw, path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ScorerFileError(
            f"the answer scorer's parameters {path} cannot be read ({type(e).__name__}: {str(e)[:300]}); "
            "restore the file from the newsbot release (or re-run training/fit_answer_scorer.py), "
            "or answer without it: NEWSBOT_ANSWER_SCORER=legacy"
        ) from e


def _parameters_from_json(raw: dict, path: Path) -> ScorerParameters:
    if raw.get("reranker"):
        # The LoRA cross-encoder was measured worse than the plain cosine (BENCHMARKS.md, issue 12)
        # and its code removed; git history keeps it (models/cross_encoder.py at commit a002519).
        raise ValueError(
            f"{path} uses the answer reranker (cross-encoder), which was removed from newsbot; "
            "re-run training/fit_answer_scorer.py"
        )
    sentence = model_from_json(raw["sentence_model"])
    answerability = model_from_json(raw["answerability_model"])
    if raw.get("query_adapter"):
        expected = (
            SENTENCE_FEATURES + ADAPTER_FEATURES,
            ANSWERABILITY_FEATURES + ADAPTER_ANSWERABILITY_FEATURES,
        )
    else:
        expected = (SENTENCE_FEATURES, ANSWERABILITY_FEATURES)
    if (sentence.names, answerability.names) != expected:
        raise ValueError(f"{path} was fitted for other features; re-run training/fit_answer_scorer.py")
    adapter = (
        load_query_adapter(path.with_name(raw["query_adapter"]["file"])) if raw.get("query_adapter") else None
    )
    thresholds = {key: float(value) for key, value in raw["thresholds"].items()}
    baseline = _parameters_from_json(raw["baseline"], path) if raw.get("baseline") else None
    return ScorerParameters(
        sentence,
        answerability,
        thresholds,
        raw.get("provenance", {}),
        baseline=baseline,
        query_adapter=adapter,
    )


def load_query_adapter(path: Path) -> np.ndarray:
    """The adapter's (d, d) weight; ValueError naming the script if the file is missing or wrong."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            weight = np.asarray(stored["weight"], dtype=np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"query adapter {path} is missing or unreadable ({e}); re-run "
                         "training/train_query_adapter.py") from e  # fmt: skip
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(
            f"query adapter {path} is not a square matrix; re-run training/train_query_adapter.py"
        )
    return weight


@lru_cache(maxsize=4)
def default_parameters() -> ScorerParameters:
    """The committed parameters, read once per process."""
    return load_parameters(PARAMETERS)


class FeatureExtractor:
    """Computes candidate features for one index; caches term vectors and sentence stems."""

    def __init__(
        self, embed_terms: Callable[[list[str]], np.ndarray], parameters: ScorerParameters | None = None
    ) -> None:
        """With `parameters` that use the query adapter, `candidates` appends its columns (ADAPTER_FEATURES)."""
        self._adapter = parameters.query_adapter if parameters is not None else None
        self._term_vectors = VectorCache(embed_terms, TERM_VECTORS_CACHED)
        # Sentence stems per index object. Keyed by id() but held with a weak reference to the object,
        # so an index loaded later at a freed index's address (the bot reloads after every upload)
        # never reads the old generation's stems for its own sentence ids.
        self._stems: dict[int, tuple[weakref.ref[Corpus], OrderedDict[int, frozenset[str]]]] = {}
        self._lock = threading.Lock()

    # -- cached pieces -----------------------------------------------------------------------

    def term_vectors(self, terms: Sequence[str]) -> np.ndarray:
        return np.stack(self._term_vectors.get(terms)) if terms else np.zeros((0, 1), np.float32)

    def sentence_stems(self, data: Corpus, ids: Sequence[int]) -> list[frozenset[str]]:
        with self._lock:
            cache = self._stems_of(data)
            missing = [i for i in ids if i not in cache]
        if missing:
            tokens = tokenize([data.sentences[i].text for i in missing])
            with self._lock:
                for i, toks in zip(missing, tokens):
                    cache[i] = frozenset(toks)
                while len(cache) > 200_000:
                    cache.popitem(last=False)
        with self._lock:
            return [cache[i] if i in cache else frozenset(tokenize([data.sentences[i].text])[0]) for i in ids]

    def _stems_of(self, data: Corpus) -> OrderedDict[int, frozenset[str]]:
        """This index object's stem cache (caller holds the lock); caches of freed indexes are dropped."""
        entry = self._stems.get(id(data))
        if entry is None or entry[0]() is not data:
            for key in [k for k, (ref, _) in self._stems.items() if ref() is None or k == id(data)]:
                del self._stems[key]
            entry = (weakref.ref(data), OrderedDict())
            self._stems[id(data)] = entry
        return entry[1]

    # -- features ----------------------------------------------------------------------------

    def candidates(self, question: str, result: SearchResult, data: Corpus) -> Candidates:
        candidates = self.base_candidates(question, result, data)
        if self._adapter is not None:
            return with_adapter_columns(candidates, data, result.query_vector, self._adapter)
        return candidates

    def base_candidates(self, question: str, result: SearchResult, data: Corpus) -> Candidates:
        """The candidates with SENTENCE_FEATURES only (what the baseline scorer reads)."""
        idf = _idf_function(data)
        profile = profile_question(question, idf)
        passage: dict[int, tuple[float, int, float]] = {}  # sid -> (fused, rank, chunk dense)
        for rank, hit in enumerate(result.hits):
            for sid in chunk_sentence_ids(data, hit.chunk):
                if sid not in passage:
                    passage[sid] = (hit.fused, rank, hit.dense if hit.dense is not None else 0.0)
        question_stems = sorted(profile.stems)
        stem_idf = dict(zip(question_stems, idf(question_stems).tolist())) if question_stems else {}
        known = [s for s in question_stems if _document_frequency(data, s) > 0]
        total_idf = sum(stem_idf.values()) or 1.0
        # What the question and the collection say before any sentence is read (answerability features).
        collection_features = {
            "unknown_word_share": 1.0 - (len(known) / len(question_stems) if question_stems else 1.0),
            "collection_log_chunks": math.log10(len(data.chunks) + 1.0),
            "unknown_name_share": _unknown_name_share(profile, data),
        }
        if not passage:
            return Candidates(np.zeros(0, np.int64), np.zeros((0, len(SENTENCE_FEATURES))), collection_features)
        ids = np.fromiter(passage, dtype=np.int64)
        vectors = np.asarray(data.sentence_vectors[ids], dtype=np.float32)
        q = np.asarray(result.query_vector, dtype=np.float32)
        dense = vectors @ q
        previous_ids = np.array([_previous(data, int(s)) for s in ids], dtype=np.int64)
        pair = vectors + np.asarray(data.sentence_vectors[previous_ids], dtype=np.float32)
        pair /= np.linalg.norm(pair, axis=1, keepdims=True) + 1e-9
        in_context = pair @ q
        stems = self.sentence_stems(data, ids.tolist())
        previous_stems = self.sentence_stems(data, previous_ids.tolist())

        # Salient terms: literal (stem) match, else the term's embedding against the sentence's.
        terms = list(profile.terms)
        term_vectors = self.term_vectors(terms) if terms else None
        term_match = np.ones((len(ids), 0), dtype=np.float32)
        article_min: dict[str, float] = {}
        article_overlap: dict[str, float] = {}
        article_missing: dict[str, float] = {}
        log_n = math.log(len(data.chunks) + 1.0) or 1.0
        for doc_id in {data.sentences[int(s)].doc_id for s in ids}:
            held = self._article_stems(data, doc_id)
            article_overlap[doc_id] = sum(w for stem, w in stem_idf.items() if stem in held) / total_idf
            article_missing[doc_id] = max(
                (stem_idf[stem] / log_n for stem in known if stem not in held), default=0.0
            )
        if terms:
            assert term_vectors is not None
            semantic = vectors @ term_vectors.T  # (n, terms)
            literal = np.array(
                [[1.0 if ts and ts <= st else 0.0 for ts in profile.term_stems] for st in stems],
                dtype=np.float32,
            )
            term_match = np.maximum(semantic, literal)
            for doc_id in article_overlap:
                article_min[doc_id] = self._article_term_min(data, doc_id, profile, term_vectors)
        best = float(dense.max())
        rows = []
        for row, sid in enumerate(ids.tolist()):
            sentence = data.sentences[sid]
            fused, rank, chunk_dense = passage[sid]
            own = profile.stems & stems[row]
            context = (profile.stems & previous_stems[row]) - own
            # fsum: exactly rounded whatever the set's order, which follows the process's string-hash
            # seed; a plain sum made the same question's features, and so every fit, differ by run.
            overlap = math.fsum(stem_idf.get(s, 0.0) for s in own) / total_idf
            overlap_ctx = overlap + math.fsum(stem_idf.get(s, 0.0) for s in context) / total_idf
            novelty = len(stems[row] - profile.stems) / (len(stems[row]) or 1)
            matches = term_match[row]
            rows.append([
                float(dense[row]), float(in_context[row]), float(dense[row]) - best, fused, 1.0 / (1 + rank),
                chunk_dense, overlap, overlap_ctx,
                float(matches.mean()) if matches.size else 1.0, float(matches.min()) if matches.size else 1.0,
                article_min.get(sentence.doc_id, 1.0), novelty, 0.0 if _TERMINAL.search(sentence.text) else 1.0,
                math.log1p(len(sentence.text)),
                *answer_type_features(profile.kind, sentence.text, profile),
            ])  # fmt: skip
        top_hit = result.hits[0]
        second_dense = (
            result.hits[1].dense if len(result.hits) > 1 and result.hits[1].dense is not None else 0.0
        )
        question_features = {
            "best_passage_dense": top_hit.dense or 0.0,
            "passage_dense_margin": (top_hit.dense or 0.0) - second_dense,
            **collection_features,
            "other_language": 1.0 if top_hit.article.language != result.language else 0.0,
            **{f"kind_{k}": 1.0 if profile.kind == k else 0.0 for k in KINDS[:4]},
        }
        features = np.asarray(rows, dtype=np.float64)
        columns = [SENTENCE_FEATURES.index(name) for name in _RELATIVE]
        article = np.array(
            [
                [article_overlap[data.sentences[sid].doc_id], article_missing[data.sentences[sid].doc_id]]
                for sid in ids.tolist()
            ]
        )
        figures = self._figure_counts_thing(profile, [data.sentences[sid].text for sid in ids.tolist()])
        features = np.hstack(
            [features, features[:, columns] - features[:, columns].max(axis=0), article, figures[:, None]]
        )
        return Candidates(ids, features, question_features)

    def _figure_counts_thing(self, profile: QuestionProfile, texts: Sequence[str]) -> np.ndarray:
        """Per sentence: the best match between what its figures count and what the question counts."""
        out = np.zeros(len(texts), dtype=np.float64)
        if not profile.counted:
            return out
        counted_stems = frozenset(tokenize([profile.counted])[0])
        phrases = [figure_phrases(text, profile) for text in texts]
        unique = list(dict.fromkeys(p for row in phrases for p in row))[:MAX_FIGURES]
        if not unique:
            return out
        vectors = self.term_vectors([profile.counted, *unique])
        similarity = dict(zip(unique, (vectors[1:] @ vectors[0]).tolist()))
        literal = dict(zip(unique, (bool(counted_stems & frozenset(t)) for t in tokenize(unique))))
        for row, candidates in enumerate(phrases):
            scores = [1.0 if literal[p] else similarity[p] for p in candidates if p in similarity]
            out[row] = max(scores, default=0.0)
        return out

    def _article_stems(self, data: Corpus, doc_id: str) -> frozenset[str]:
        ids = list(data.article_sentence_ids(doc_id))
        return frozenset().union(*self.sentence_stems(data, ids)) if ids else frozenset()

    def _article_term_min(
        self, data: Corpus, doc_id: str, profile: QuestionProfile, term_vectors: np.ndarray
    ) -> float:
        """The weakest salient term's best match anywhere in the article (literal or by embedding)."""
        rows = data.article_sentence_ids(doc_id)
        semantic = np.asarray(data.sentence_vectors[rows.start : rows.stop], dtype=np.float32) @ term_vectors.T
        best = semantic.max(axis=0)
        stems = self._article_stems(data, doc_id)
        literal = np.array(
            [1.0 if ts and ts <= stems else 0.0 for ts in profile.term_stems], dtype=np.float32
        )
        return float(np.maximum(best, literal).min())


def adapted_query(query_vector: np.ndarray, weight: np.ndarray) -> np.ndarray:
    adapted = weight @ np.asarray(query_vector, dtype=np.float32)
    return adapted / (np.linalg.norm(adapted) + 1e-9)


def with_adapter_columns(
    candidates: Candidates, data: Corpus, query_vector: np.ndarray, weight: np.ndarray
) -> Candidates:
    """`candidates` with ADAPTER_FEATURES appended (one matrix-vector product: no model call)."""
    n = len(candidates.sentence_ids)
    columns = candidates.columns + ADAPTER_FEATURES
    if not n:
        return Candidates(
            candidates.sentence_ids, np.zeros((0, len(columns))), candidates.question_features, columns
        )
    vectors = np.asarray(data.sentence_vectors[candidates.sentence_ids], dtype=np.float32)
    cosine = (vectors @ adapted_query(query_vector, weight)).astype(np.float64)
    extra = np.stack([cosine, cosine - cosine.max()], axis=1)
    return Candidates(
        candidates.sentence_ids,
        np.hstack([candidates.features, extra]),
        candidates.question_features,
        columns,
    )


def answerability_row(candidates: Candidates, logits: np.ndarray) -> np.ndarray:
    """The answerability model's input: the best candidates' evidence plus the question's (plus the
    adapted cosine's when the candidates carry the query adapter's columns)."""
    base = _base_answerability_row(candidates, logits)
    if candidates.columns == SENTENCE_FEATURES:
        return base
    if candidates.columns[len(SENTENCE_FEATURES) :] != ADAPTER_FEATURES:
        raise ValueError(f"no answerability row for candidate columns {candidates.columns}")
    if logits.size == 0:
        return np.concatenate([base, [0.0, 0.0]])
    adapted = candidates.features[:, len(SENTENCE_FEATURES)]
    return np.concatenate([base, [float(adapted.max()), float(adapted[int(np.argmax(logits))])]])


def _base_answerability_row(candidates: Candidates, logits: np.ndarray) -> np.ndarray:
    """ANSWERABILITY_FEATURES in order, built by name so that a feature added there cannot shift the others."""
    f = candidates.question_features
    collection = {
        "collection_log_chunks": f.get("collection_log_chunks", 0.0),
        "unknown_name_share": f.get("unknown_name_share", 0.0),
    }
    if logits.size == 0:
        # No candidate sentence: logits below any fitted one, no match, and the question's own evidence.
        row = dict.fromkeys(ANSWERABILITY_FEATURES, 0.0)
        row.update(best_logit=-10.0, second_logit=-10.0, best_article_missing_known_idf=1.0,
                   unknown_word_share_same_language=f.get("unknown_word_share", 1.0), **collection)  # fmt: skip
        return np.array([row[name] for name in ANSWERABILITY_FEATURES])
    order = np.argsort(-logits, kind="stable")
    top = order[0]
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    x = candidates.features
    row = {
        "best_logit": float(logits[top]),
        "second_logit": float(logits[order[1]]) if logits.size > 1 else -10.0,
        "best_dense": float(x[:, column["dense"]].max()),
        "best_passage_dense": f["best_passage_dense"],
        "passage_dense_margin": f["passage_dense_margin"],
        "best_term_match_min": float(x[top, column["term_match_min"]]),
        "best_article_term_min": float(x[top, column["article_term_min"]]),
        "best_idf_overlap": float(x[top, column["idf_overlap_with_previous"]]),
        "other_language": f["other_language"],
        **{f"kind_{k}": f[f"kind_{k}"] for k in KINDS[:4]},
        "best_term_match_mean": float(x[top, column["term_match_mean"]]),
        "best_sentence_dense": float(x[top, column["dense"]]),
        # Words an English question shares with no German article are expected; in the
        # collection's own language they mean the collection does not know the subject.
        "unknown_word_share_same_language": f["unknown_word_share"] * (1.0 - f["other_language"]),
        "best_article_idf_overlap": float(x[top, column["article_idf_overlap"]]),
        "best_article_missing_known_idf": float(x[top, column["article_missing_known_idf"]]),
        "best_figure_counts_thing": float(x[:, column["figure_counts_thing"]].max()),
        "top_figure_counts_thing": float(x[top, column["figure_counts_thing"]]),
        **collection,
    }
    return np.array([row[name] for name in ANSWERABILITY_FEATURES])


def _idf_function(data: Corpus) -> Callable[[Sequence[str]], np.ndarray]:
    n = max(1, len(data.chunks))

    def idf(stems: Sequence[str]) -> np.ndarray:
        df = np.array([_document_frequency(data, s) for s in stems], dtype=np.float64)
        return np.log((n + 1.0) / (df + 0.5))

    return idf


def _unknown_name_share(profile: QuestionProfile, data: Corpus) -> float:
    """The share of the question's names and numbers (salient terms starting with a capital or a digit)
    that no chunk of the collection holds literally (see "unknown_name_share")."""
    names = [stems for term, stems in zip(profile.terms, profile.term_stems) if term[:1].isupper() or term[:1].isdigit()]
    unknown = sum(1 for stems in names if not stems or any(_document_frequency(data, s) == 0 for s in stems))
    return unknown / len(names) if names else 0.0


def _document_frequency(data: Corpus, stem: str) -> int:
    if data.lexical is None:
        return 0
    return data.lexical.document_frequency(stem)


def _previous(data: Corpus, sid: int) -> int:
    if sid > 0 and data.sentences[sid - 1].doc_id == data.sentences[sid].doc_id:
        return sid - 1
    return sid
