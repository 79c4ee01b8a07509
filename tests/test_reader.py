"""The answer reader (issue 25): the shipped cross-encoder loads offline, runs on ONNX Runtime as it
ran in training, declines a question its story does not answer while answering the answerable twin,
and reads a quote together with the sentence before it that names the speaker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from answers.answer import answer
from answers.extractive import ExtractiveAnswerer
from models.reader import READER_DIR, ReaderConfig, ReaderInput, build_network, load_reader, reader_text_pair
from tests.conftest import MODEL_CACHE, REPO

pytestmark = pytest.mark.slow

SPEAKER_PREVIOUS = "Ähnlich hatte sich der ukrainische Präsident Wolodymyr Selenskyj geäußert."
SPEAKER_QUOTE = (
    '"Wir wissen von den Geheimdiensten, dass 10.000 Soldaten aus Nordkorea dafür trainiert werden, gegen uns zu '
    'kämpfen", sagte er nach einem Treffen mit den EU-Staats- und Regierungschefs in Brüssel.'
)


@pytest.fixture(scope="module")
def reader():
    from models.e5_convert import ensure_default_model

    return load_reader(ensure_default_model(MODEL_CACHE), MODEL_CACHE)


def test_the_shipped_reader_is_small_and_says_where_its_cut_came_from() -> None:
    weights = READER_DIR / "reader.safetensors"
    assert weights.stat().st_size <= 25 * 2**20
    config = ReaderConfig.read(READER_DIR / "reader.json")
    assert 0.0 < config.threshold < 1.0
    assert config.provenance["script"] == "python -m training.reader" and "calibration" in config.provenance["threshold"]
    assert config.provenance["curve"], "the learning curve is recorded with the weights"


def test_onnx_runtime_gives_the_trained_networks_logits(reader) -> None:
    """Question time runs the exported graph; it must score as the torch network the training measured."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from models.e5_convert import ensure_default_model

    base = ensure_default_model(MODEL_CACHE)
    network = build_network(base, reader.config.layers)
    network.load_state_dict({k: v.float() for k, v in load_file(str(READER_DIR / "reader.safetensors")).items()}, strict=False)
    network.eval()
    items = [
        ReaderInput("Wer sagte, 10.000 Soldaten würden trainiert?", SPEAKER_QUOTE, SPEAKER_PREVIOUS, "", "Nordkorea"),
        ReaderInput("How many soldiers did North Korea send?", "Die Duma stimmte am Mittwoch für den Vertrag.", "", "", ""),
    ]
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    pairs = [reader_text_pair(i) for i in items]
    encoded = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation="only_second",
                        max_length=reader.config.max_length, return_tensors="pt")  # fmt: skip
    with torch.inference_mode():
        expected = network(encoded["input_ids"], encoded["attention_mask"]).numpy()
    np.testing.assert_allclose(reader.logits(items), expected, atol=1e-3)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured with the shipped reader: the quote alone scores 4.97, with the sentence naming Selenskyj before it "
        "4.90 (both far above its cut); it does not yet weigh the previous sentence for a who-question (issue 25, open)"
    ),
)
def test_the_reader_reads_a_quote_with_the_sentence_before_it_that_names_the_speaker(reader) -> None:
    question = "Wer sagte, dass 10.000 Soldaten aus Nordkorea trainiert werden?"
    alone, with_speaker = reader.logits([
        ReaderInput(question, SPEAKER_QUOTE),
        ReaderInput(question, SPEAKER_QUOTE, previous=SPEAKER_PREVIOUS),
    ])  # fmt: skip
    assert with_speaker > alone


@pytest.fixture(scope="module")
def ask_with_reader(distractor_settings, e5_embedder):
    """The reader scorer over the seeds plus six unrelated 10kGNAD articles (conftest's shared index)."""
    from retrieval.stores.embedded.search import EmbeddedRetriever

    retriever = EmbeddedRetriever.load(distractor_settings, embedder=e5_embedder)
    answerer = ExtractiveAnswerer(distractor_settings, e5_embedder, scorer="reader")
    assert answerer.scorer.name == "reader"
    return lambda question: answer(question, distractor_settings, retriever=retriever, answerer=answerer)


ON_STORY_OPEN = (
    "measured with the shipped reader over seeds + 6 10kGNAD articles: the Mali question is answered with the "
    "Russia figures; on XQuAD's held-out on-story questions it declines 0.71-0.81 (fitted scorer 0.65-0.76), "
    "not yet this one (issue 25, open)"
)


@pytest.mark.parametrize(
    "question",
    ["How many soldiers did North Korea send to Russia?", "Wie viele Soldaten hat Nordkorea nach Russland geschickt?"],
)
def test_the_reader_answers_the_answerable_twin_with_the_reported_figures(ask_with_reader, question: str) -> None:
    result = ask_with_reader(question)
    assert not result.abstained
    assert any(figure in c.quote for c in result.citations for figure in ("1.500", "1500", "3.000", "10.000", "12.000"))


@pytest.mark.parametrize(
    "question",
    [
        pytest.param(q, marks=pytest.mark.xfail(strict=True, reason=ON_STORY_OPEN))
        for q in ("How many soldiers did North Korea send to Mali?", "Wie viele Soldaten hat Nordkorea nach Mali geschickt?")
    ],
)
def test_the_reader_declines_the_on_story_question_the_articles_do_not_answer(ask_with_reader, question: str) -> None:
    declined = ask_with_reader(question)
    assert declined.abstained, [c.quote for c in declined.citations]


def test_a_speaker_named_only_in_the_previous_sentence_is_quoted(ask_with_reader) -> None:
    result = ask_with_reader("Was sagte Selenskyj über die nordkoreanischen Soldaten?")
    assert not result.abstained
    assert any("Wir wissen von den Geheimdiensten" in c.quote for c in result.citations[:3])


def test_the_shipped_reader_loads_offline_from_a_fresh_clone(tmp_path: Path) -> None:
    """A clone holds the weights; the runtime builds its ONNX graph from them and the converted default
    model, never reaching for a hub (HF_HUB_OFFLINE set, a fresh model cache)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    assert (clone / "models" / "reader_weights" / "reader.safetensors").is_file()
    cache = tmp_path / "models"
    shutil.copytree(MODEL_CACHE / "multilingual-e5-small", cache / "multilingual-e5-small")  # conversion tested elsewhere
    script = (
        "from pathlib import Path\n"
        "from models.reader import ReaderInput, load_reader\n"
        f"r = load_reader(Path({str(cache / 'multilingual-e5-small')!r}), Path({str(cache)!r}))\n"
        "print(float(r.logits([ReaderInput('Who?', 'Er sagte es.')])[0]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(clone))
    done = subprocess.run([sys.executable, "-c", script], cwd=clone, env=env, capture_output=True, text=True, check=True)
    assert np.isfinite(float(done.stdout.strip().splitlines()[-1]))
    assert list(cache.glob("reader-*/model-mapped.onnx"))
