"""The fitted answer scorer on the real model and real indexes: answer types, cross-language terms,
and declining on a collection that holds unrelated news (a 10kGNAD subset) but not the answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from answers.answer import answer
from answers.answer_scorer import (
    SENTENCE_FEATURES,
    answer_type_features,
    default_parameters,
    profile_question,
    question_kind,
)
from answers.extractive import ExtractiveAnswerer
from tests.conftest import SEEDS, SHARED, make_settings

pytestmark = pytest.mark.slow
GNAD = SHARED / "corpora" / "10kgnad"
# Distractors that share words with the seed story's questions (soldiers, Mali, North Korea,
# economy, refugees and their figures), so declining cannot rest on "no shared word".
DISTRACTORS = ("gnad_0111", "gnad_0291", "gnad_0257", "gnad_0081", "gnad_0161", "gnad_0167")


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
    answerer = ExtractiveAnswerer(make_settings(Path("unused")), e5_embedder)
    term_vector = answerer.features.term_vectors([term])[0]
    sentences = e5_embedder.embed_corpus([matching, other])
    assert float(sentences[0] @ term_vector) > float(sentences[1] @ term_vector)


@pytest.fixture(scope="module")
def distractor_settings(tmp_path_factory: pytest.TempPathFactory, e5_embedder):
    """A real index of the seeds plus six unrelated 10kGNAD articles."""
    from retrieval.indexer import build_index

    if not GNAD.is_dir():
        pytest.skip(f"{GNAD} is not present (shared/ is beside the repo)")
    folder = tmp_path_factory.mktemp("seeds-gnad")
    articles = folder / "articles"
    shutil.copytree(SEEDS, articles)
    for name in DISTRACTORS:
        shutil.copy(GNAD / f"{name}.txt", articles / f"{name}.txt")
    settings = make_settings(folder / "data")
    build_index([articles], settings, embedder=e5_embedder)
    return settings


@pytest.fixture(scope="module")
def ask_distracted(distractor_settings, e5_embedder):
    from retrieval.search import Retriever

    retriever = Retriever.load(distractor_settings, embedder=e5_embedder)

    def run(question: str):
        return answer(question, distractor_settings, retriever=retriever)

    return run


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2030 FIFA World Cup?",
        "Wie hoch ist die Inflation in Deutschland?",
        "asdfgh qwertz",
        "Wie ist das Wetter morgen in Berlin?",
        "What is a good recipe for apple pie?",
    ],
)
def test_a_collection_without_the_answer_declines_despite_distractors(ask_distracted, question: str) -> None:
    result = ask_distracted(question)
    assert result.abstained, [c.quote for c in result.citations]
    assert result.figures == [] and len(result.citations) <= 2


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
    assert parameters.provenance["script"] == "scripts/fit_answer_scorer.py"
    assert 0.0 < parameters.threshold < 1.0
    assert parameters.sentence.coef.shape == (len(SENTENCE_FEATURES),)
