"""The fitted answer scorer on the real model and real indexes: answer types, cross-language terms,
and declining on a collection that holds unrelated news (a 10kGNAD subset) but not the answer."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from answers.answer import answer
from answers.answer_scorer import (
    PARAMETERS,
    SENTENCE_FEATURES,
    answer_type_features,
    default_parameters,
    load_parameters,
    profile_question,
    question_kind,
)
from answers.extractive import ExtractiveAnswerer
from tests.conftest import SEEDS, SHARED, make_settings

pytestmark = pytest.mark.slow
GNAD = SHARED / "corpora" / "10kgnad"
# Distractors that share words with the seed story's questions (soldiers, Mali, North Korea,
# economy, refugees and their figures), so declining cannot rest on "no shared word".


def no_idf(stems):
    return np.ones(len(stems))


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who denied that North Korea sent soldiers?", "who"),
        ("Wer ist Leonid Sluzki?", "who"),
        ("How many soldiers were reported and by whom?", "quantity"),
        ("Wie viele Soldaten wurden trainiert?", "quantity"),
        ("When did Putin and Kim sign the treaty?", "when"),
        ("In welchem Jahr wurde der Vertrag unterzeichnet?", "when"),
        ("Where were the soldiers trained?", "where"),
        ("What did Rutte warn about?", "other"),
    ],
)
def test_question_kind_is_read_in_both_languages(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_answer_type_features_see_the_kind_of_answer_asked_for() -> None:
    columns = SENTENCE_FEATURES[SENTENCE_FEATURES.index("quantity_has_number") :]

    def features(question: str, sentence: str) -> dict[str, float]:
        profile = profile_question(question, no_idf)
        return dict(zip(columns, answer_type_features(profile.kind, sentence, profile)))

    how_many = "How many soldiers did North Korea send?"
    assert features(how_many, "Nordkorea hat 12.000 Soldaten geschickt.")["quantity_has_number"] == 1.0
    assert features(how_many, "Nordkorea hat Soldaten geschickt.")["quantity_has_number"] == 0.0
    when = "Wann wurde der Vertrag unterzeichnet?"
    assert features(when, "Der Vertrag wurde im Juni 2024 unterzeichnet.")["when_has_date"] == 1.0
    assert features(when, "Der Vertrag wurde in Pjöngjang unterzeichnet.")["when_has_date"] == 0.0
    who = "Who signed the treaty?"
    named = features(who, "Den Vertrag unterzeichneten Wladimir Putin und Kim Jong Un.")["who_has_names"]
    assert named > features(who, "Den Vertrag unterzeichneten beide.")["who_has_names"]


def test_salient_terms_are_names_numbers_and_rare_words() -> None:
    profile = profile_question("What did the spokeswoman of the German Foreign Office say in 2024?", no_idf)
    assert "German Foreign Office" in profile.terms and "2024" in profile.terms
    assert "spokeswoman" in profile.terms
    assert not {"What", "did", "the", "say"} & set(profile.terms)


@pytest.mark.parametrize(
    ("question", "stems"),
    [
        ("Wer ist Leonid Sluzki?", {"leonid", "sluzki"}),
        ("Wie viele Soldaten wurden gemeldet und von wem?", {"soldat", "gemeld"}),
        ("Wie viele Soldaten wurden 2024 gemeldet, 1.500?", {"soldat", "gemeld", "2024", "1500"}),
    ],
)
def test_question_words_and_auxiliaries_are_not_content(question: str, stems: set[str]) -> None:
    """A collection rarely holds "wer", "wem", "viele" or "wurden" (bm25s' stopword lists keep them), so
    counting them made a third of "Wer ist Leonid Sluzki?" look like words the collection never saw."""
    profile = profile_question(question, no_idf)
    assert profile.stems == frozenset(stems)
    assert not {"wurden", "wem", "Wer", "viele"} & set(profile.terms)


def test_the_collection_size_reaches_the_answerability_model(seed_retriever, e5_embedder) -> None:
    """How well the evidence separates answered from unanswered shifts with the collection's size, so
    the answerability model reads it (log10 of the chunks) beside the candidates' evidence."""
    import math

    from answers.answer_scorer import ANSWERABILITY_FEATURES, FeatureExtractor, answerability_row

    data = seed_retriever.data
    question = "Wie viele Soldaten schickt Nordkorea nach Russland?"
    candidates = FeatureExtractor(e5_embedder.embed_queries).candidates(
        question, seed_retriever.search(question), data
    )
    row = answerability_row(candidates, np.zeros(len(candidates.sentence_ids)))
    expected = math.log10(len(data.chunks) + 1.0)
    assert row[ANSWERABILITY_FEATURES.index("collection_log_chunks")] == pytest.approx(expected)
    assert "collection_log_chunks" in default_parameters().answerability.names


@pytest.mark.parametrize(
    ("question", "share"),
    [
        # "North Korea" and "Mali": the German seeds hold neither "north" nor "mali".
        ("How many soldiers did North Korea send to Mali?", 1.0),
        # "Soldaten", "Nordkorea" and "Mali" (German nouns are capitalised too): only "Mali" is unknown.
        ("Wie viele Soldaten hat Nordkorea nach Mali geschickt?", 1 / 3),
        ("Wie viele Soldaten schickt Nordkorea nach Russland?", 0.0),
        ("Who won the 2030 FIFA World Cup?", 1.0),
    ],
)
def test_names_and_numbers_the_collection_never_holds_are_counted_in_both_languages(
    seed_retriever, e5_embedder, question: str, share: float
) -> None:
    from answers.answer_scorer import FeatureExtractor

    candidates = FeatureExtractor(e5_embedder.embed_queries).candidates(
        question, seed_retriever.search(question), seed_retriever.data
    )
    assert candidates.question_features["unknown_name_share"] == pytest.approx(share)


def test_an_article_masked_from_search_still_counts_in_the_collections_word_statistics(
    seed_retriever, e5_embedder
) -> None:
    """The answers benchmark and the fit leave an article out by masking it from search; its words still
    count as the collection's, on purpose (bench/answers.py: with them gone, XQuAD's questions, which
    reuse their paragraph's words, were told apart by vocabulary alone, and the scorer refitted on that
    declined the flagship over seeds + 10kGNAD)."""
    from answers.answer_scorer import FeatureExtractor

    question = "Wer ist Leonid Sluzki?"
    data = seed_retriever.data
    holding = frozenset(doc_id for doc_id, article in data.articles.items() if "Sluzki" in article.text)
    assert holding
    result = seed_retriever.search(question, exclude_docs=holding)
    assert result.hits and not {hit.article.doc_id for hit in result.hits} & holding
    features = FeatureExtractor(e5_embedder.embed_queries).candidates(question, result, data).question_features
    assert features["unknown_name_share"] == 0.0 and features["unknown_word_share"] == 0.0


@pytest.mark.parametrize(
    ("term", "matching", "other"),
    [
        (
            "Germany",
            "Deutschland hat die Lieferungen bestätigt.",
            "Frankreich hat die Lieferungen bestätigt.",
        ),
        (
            "spokeswoman of the Foreign Office",
            "Eine Außenamtssprecherin sagte, man sei besorgt.",
            "Ein Sprecher des Verteidigungsministeriums sagte, man sei besorgt.",
        ),
        ("North Korea", "Nordkorea bestreitet die Berichte.", "Südafrika bestreitet die Berichte."),
    ],
)
def test_salient_terms_match_across_languages_through_the_model(
    e5_embedder, term: str, matching: str, other: str
) -> None:
    answerer = ExtractiveAnswerer(make_settings(Path("unused")), e5_embedder, scorer="fitted")
    term_vector = answerer.scorer.features.term_vectors([term])[0]
    sentences = e5_embedder.embed_corpus([matching, other])
    assert float(sentences[0] @ term_vector) > float(sentences[1] @ term_vector)


@pytest.fixture(scope="module")
def ask_distracted(distractor_settings, e5_embedder):
    from retrieval.stores.embedded.search import EmbeddedRetriever

    retriever = EmbeddedRetriever.load(distractor_settings, embedder=e5_embedder)

    answerer = ExtractiveAnswerer(distractor_settings, e5_embedder, scorer="fitted")

    def run(question: str):
        return answer(question, distractor_settings, retriever=retriever, answerer=answerer)

    return run


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2030 FIFA World Cup?",
        pytest.param(
            "Wie hoch ist die Inflation in Deutschland?",
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "answered from a 10kGNAD article on Austria's economy that names Deutschland and inflation; "
                    "the answerability model does not see whose inflation a sentence reports (issue 12, open; "
                    "declined by one session-5 fit, answered again by the committed one)"
                ),
            ),
        ),
        "asdfgh qwertz",
        "Wie ist das Wetter morgen in Berlin?",
        "What is a good recipe for apple pie?",
    ],
)
def test_a_collection_without_the_answer_declines_despite_distractors(ask_distracted, question: str) -> None:
    result = ask_distracted(question)
    assert result.abstained, [c.quote for c in result.citations]
    assert result.figures == [] and len(result.citations) <= 2


# The same unanswerable question in both languages, on the seed story's own subject (North Korea),
# so the collection shares its names and words but not the fact asked for.
NOT_REPORTED = (
    "the answerability model does not yet see that the thing asked about (a place, the moon, Brazil) is unmatched "
    "when the rest of the question matches the story (issue 12, open)"
)


def not_reported(question: str) -> object:
    """A question the answerer still answers (strict: the test fails once it is declined, to drop this)."""
    return pytest.param(question, marks=pytest.mark.xfail(strict=True, reason=NOT_REPORTED))


@pytest.mark.parametrize("question", [not_reported(q) for q in (
    "When did North Korea land on the moon?",
    "Wann ist Nordkorea auf dem Mond gelandet?",
    "What is the name of North Korea's ambassador to Brazil?",
    "How many soldiers did North Korea send to Mali?",
    "Wie viele Soldaten hat Nordkorea nach Mali geschickt?",
)])
def test_a_question_on_the_story_asking_what_it_does_not_report_is_declined_in_both_languages(
    ask_distracted, question: str
) -> None:
    result = ask_distracted(question)
    assert result.abstained, [c.quote for c in result.citations]
    assert result.figures == [] and len(result.citations) <= 2


def test_the_fitted_scorer_is_the_default_and_legacy_only_on_request(
    distractor_settings, e5_embedder
) -> None:
    assert distractor_settings.models.answer_scorer == "fitted"
    default = ExtractiveAnswerer(distractor_settings, e5_embedder)
    assert default.scorer.name == "fitted" and default.scorer.parameters is not None
    legacy = ExtractiveAnswerer(make_settings(Path("unused"), NEWSBOT_ANSWER_SCORER="legacy"), e5_embedder)
    assert legacy.scorer.name == "legacy" and not hasattr(legacy.scorer, "parameters")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Wer ist Leonid Sluzki?", "Auswärtigen Ausschusses der Duma"),
        ("Wann haben Putin und Kim Jong Un den Vertrag unterzeichnet?", "Juni"),
        ("What did NATO Secretary General Mark Rutte warn about?", "Eskalation"),
    ],
)
def test_the_answer_is_still_found_among_distractors(ask_distracted, question: str, expected: str) -> None:
    result = ask_distracted(question)
    assert not result.abstained
    assert any(expected in c.quote for c in result.citations[:3])


def test_the_committed_parameters_say_where_they_came_from() -> None:
    parameters = default_parameters()
    # The committed fit was made before the script moved from scripts/ into training/ (issue 25).
    assert parameters.provenance["script"] in ("scripts/fit_answer_scorer.py", "training/fit_answer_scorer.py")
    assert set(parameters.thresholds) == {"same_language", "other_language"}
    assert all(0.0 < t < 1.0 for t in parameters.thresholds.values())
    # SENTENCE_FEATURES first, then the query adapter's columns when the fit used it.
    assert parameters.sentence.names[: len(SENTENCE_FEATURES)] == SENTENCE_FEATURES
    # The answerability model learnt from on-story searches too (a story present that does not answer).
    assert parameters.provenance["on_story_searches"] > 1000
    assert 0.0 < parameters.provenance["fit_half_declined_on_story"] < 1.0


def test_the_committed_thresholds_serve_each_kind_of_collection() -> None:
    provenance = default_parameters().provenance
    assert "worst collection" in provenance["threshold_rule"]
    by_collection = provenance["fit_half_by_collection"]
    assert {key.split()[0] for key in by_collection} == {"small", "xquad", "xquad+gnad"}
    assert all(0.0 < rates["answered_present"] <= 1.0 for rates in by_collection.values())


def _fit_script():
    """training/fit_answer_scorer.py (a module of the training package, under the layer contracts)."""
    return importlib.import_module("training.fit_answer_scorer")


def test_the_decline_threshold_is_chosen_for_the_hardest_collection_not_the_pooled_rates() -> None:
    choose_threshold = _fit_script().choose_threshold
    rng = np.random.default_rng(0)
    # A small collection that separates well, and a large one whose scores overlap more and sit lower.
    easy = (rng.uniform(0.5, 1.0, 900), rng.uniform(0.0, 0.3, 900))
    hard = (rng.uniform(0.2, 1.0, 100), rng.uniform(0.0, 0.5, 100))

    def worst_margin(cut: float) -> float:
        return min(
            min(float((present >= cut).mean()) - 0.95, float((absent < cut).mean()) - 0.90)
            for present, absent in (easy, hard)
        )

    pooled = choose_threshold(
        [(np.concatenate([easy[0], hard[0]]), np.concatenate([easy[1], hard[1]]))], 0.95, 0.90
    )
    per_collection = choose_threshold([easy, hard], 0.95, 0.90)
    # Pooled, the easy collection's slack hides the large one's declines; per collection they count.
    assert worst_margin(per_collection) > worst_margin(pooled)
    cuts = np.linspace(0.0, 1.0, 201)
    assert worst_margin(per_collection) >= max(worst_margin(c) for c in cuts) - 1e-9


def test_a_scorer_fitted_with_the_removed_reranker_is_refused_with_what_to_do(tmp_path: Path) -> None:
    raw = json.loads(PARAMETERS.read_text(encoding="utf-8"))
    raw["reranker"] = {"adapter": "answer_reranker.safetensors", "top_k": 6}
    shutil.copy(PARAMETERS.with_name("query_adapter.npz"), tmp_path / "query_adapter.npz")
    old = tmp_path / "answer_scorer.json"
    old.write_text(json.dumps(raw), encoding="utf-8")
    from answers.errors import ScorerFileError

    with pytest.raises(ScorerFileError, match="reranker.*removed.*re-run (scripts|training)/fit_answer_scorer.py"):
        load_parameters(old)
    del raw["reranker"]
    old.write_text(json.dumps(raw), encoding="utf-8")
    assert load_parameters(old).query_adapter is not None  # the same file without it still loads


def test_roc_auc_counts_pairs_and_ties() -> None:
    from bench.answers import roc_auc

    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5], [0.5]) == 0.5
    assert roc_auc([], [0.5]) is None


def test_answers_suite_splits_by_article_and_reports_both_scorers(tmp_path: Path, e5_embedder) -> None:
    from bench.answers import run_answers, split_titles
    from bench.squad_data import load_xquad

    xquad_dir = SHARED / "bench" / "xquad"
    if not xquad_dir.is_dir() or not GNAD.is_dir():
        pytest.skip("shared/ benchmark data is not present")
    xquad = load_xquad(xquad_dir, max_paragraphs=10)
    fit, test = split_titles(xquad)
    assert fit and test and not fit & test, "every title is in exactly one half"
    settings = make_settings(tmp_path / "data")
    out = run_answers(
        settings, tmp_path / "work", e5_embedder, xquad_dir, SEEDS, GNAD, SHARED / "eval" / "seed_questions.jsonl",
        max_paragraphs=10, max_distractors=2, max_questions=3, latency_rounds=0,
    )  # fmt: skip
    for scorer in ("fitted", "legacy"):
        for collection in ("xquad", "xquad+gnad"):
            for language in ("de", "en"):
                row = out[scorer][collection][language]
                assert set(row) >= {
                    "answer_at_1",
                    "answer_at_3",
                    "top_sentence_holds_answer",
                    "answered_present",
                    "declined_left_out",
                    "roc_auc",
                }
                assert 0.0 <= row["answer_at_1"] <= row["answer_at_3"] <= 1.0
                assert 0.0 <= row["top_sentence_holds_answer"] <= 1.0
                on_story = row["declined_on_story"]
                assert (on_story is None) == (row["on_story_questions"] == 0)
                assert on_story is None or 0.0 <= on_story <= 1.0
        assert out[scorer]["dev"]["total"] == 10


def test_an_on_story_question_keeps_its_article_but_never_its_answer() -> None:
    """The suite's on-story case: the question's own paragraph is masked, its article's other
    paragraphs stay, and the question counts only if none of those holds a gold answer."""
    from bench.answers import docs_by_title, story_without_answer
    from bench.squad_data import load_xquad
    from bench.squad_retrieval import answer_contains_gold

    xquad_dir = SHARED / "bench" / "xquad"
    if not xquad_dir.is_dir():
        pytest.skip("shared/ benchmark data is not present")
    xquad = load_xquad(xquad_dir)
    by_title = docs_by_title(xquad)
    kept = repeated = 0
    for question in xquad.questions["de"]:
        same_title = by_title[xquad.articles[question.doc_id].title]
        assert not story_without_answer(xquad, question, frozenset({question.doc_id})), "no other paragraph: no story"
        others = same_title - {question.doc_id}
        elsewhere = any(answer_contains_gold([xquad.articles[d].text], question.answers) for d in others)
        assert story_without_answer(xquad, question, same_title) == (not elsewhere)
        kept += not elsewhere
        repeated += elsewhere
    assert kept and repeated, "XQuAD has both kinds: answers only in their paragraph, and answers repeated elsewhere"


def test_sentence_stems_never_come_from_another_index_at_the_same_address(
    seed_retriever, e5_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot reloads its index after every upload, and CPython hands a freed object's address to a
    later object, so a cache keyed by id() alone would read the old generation's stems for the new
    generation's sentence ids. The allocator's reuse is simulated: every index gets the same id()."""
    import dataclasses

    from answers import answer_scorer
    from retrieval.lexical import tokenize

    monkeypatch.setattr(answer_scorer, "id", lambda obj: 4242, raising=False)
    base = seed_retriever.data
    extractor = answer_scorer.FeatureExtractor(e5_embedder.embed_queries)
    first = dataclasses.replace(base, sentences=list(base.sentences))
    before = extractor.sentence_stems(first, [0])[0]
    assert before == frozenset(tokenize([base.sentences[0].text])[0])
    other = dataclasses.replace(base.sentences[0], text="Die Zentralbank senkte am Donnerstag den Leitzins.")
    second = dataclasses.replace(base, sentences=[other, *base.sentences[1:]])
    assert extractor.sentence_stems(second, [0])[0] == frozenset(tokenize([other.text])[0]) != before


FEATURES_SCRIPT = """
import hashlib, sys
from pathlib import Path
from answers.answer_scorer import FeatureExtractor
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.stores.embedded.search import EmbeddedRetriever

settings = load_settings(env_file=None)
embedder = load_embedder(settings)
retriever = EmbeddedRetriever.load(settings, embedder=embedder)
extractor = FeatureExtractor(embedder.embed_queries)
digest = hashlib.sha256()
for question in sys.argv[1:]:
    result = retriever.search(question)
    candidates = extractor.candidates(question, result, retriever.data)
    digest.update(candidates.sentence_ids.tobytes() + candidates.features.tobytes())
print(digest.hexdigest())
"""


def test_features_do_not_depend_on_the_processes_string_hash_seed(seed_settings, seed_index_dir: Path) -> None:
    """Python salts string hashes per process, so sets of words iterate in a different order in each;
    features summed over such a set used to differ in their last bits, and with them every refit of
    training/fit_answer_scorer.py (its thresholds moved by ~0.01 between runs of the same command)."""
    import os
    import subprocess
    import sys

    # Long questions sharing many words with seed sentences: sums over many stems, in set order.
    questions = [
        (
            "Hatte der südkoreanische Geheimdienst am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten "
            "nach Russland verlegt worden seien, um dort ausgebildet zu werden?"
        ),
        (
            "Welche nordkoreanischen Soldaten sollen nach Angaben des südkoreanischen Geheimdienstes in Russland "
            "trainiert werden, bevor sie in der Ukraine gegen ukrainische Truppen kämpfen?"
        ),
        "Wer ist Leonid Sluzki, der Vorsitzende des Auswärtigen Ausschusses der russischen Staatsduma?",
    ]
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NEWSBOT_DATA_DIR": str(seed_index_dir),
               "NEWSBOT_MODEL_CACHE_DIR": str(seed_settings.model_cache_dir)}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", FEATURES_SCRIPT, *questions], env=env, capture_output=True,
                              text=True, timeout=300, check=False, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        digests.add(done.stdout.strip().splitlines()[-1])
    assert len(digests) == 1, digests
