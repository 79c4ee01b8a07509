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
from models.reader import READER_DIR, ReaderConfig, ReaderInput, load_reader, reader_text_pair
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
    from transformers import AutoTokenizer

    from models.e5_convert import ensure_default_model
    from models.reader import load_trained_network

    base = ensure_default_model(MODEL_CACHE)
    network = load_trained_network(base, READER_DIR)
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


def test_the_reader_reads_a_quote_with_the_sentence_before_it_that_names_the_speaker(reader) -> None:
    """The quote names its speaker only as "er"; the sentence before names Selenskyj. Measured with the
    shipped reader (token head, session 11): 6.51 alone, 6.95 with the sentence before (session 8's
    reader: 4.97 and 4.90, the xfail this replaces)."""
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
    "measured with the shipped reader and blend over seeds + 6 10kGNAD articles: the English Mali question is "
    "declined, the German one is answered with the Russia figures (on XQuAD's held-out on-story questions the "
    "blend declines 0.84-0.88, fitted scorer 0.66-0.76; issue 25, open for this question)"
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
        "How many soldiers did North Korea send to Mali?",
        pytest.param("Wie viele Soldaten hat Nordkorea nach Mali geschickt?", marks=pytest.mark.xfail(strict=True, reason=ON_STORY_OPEN)),
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
    (exported,) = cache.glob("reader-*/model-mapped.onnx")
    # The graph starts after the word-embedding lookup (models.word_rows): the 384 MB table is not in it.
    assert sum(f.stat().st_size for f in exported.parent.iterdir()) < 60 * 2**20


def test_a_graph_of_an_older_export_is_replaced_not_fed(tmp_path: Path) -> None:
    """An export folder left by other weights or an older graph format is removed once the new graph is
    complete, and never loaded: its name is not the current weights' and format's."""
    from models.e5_convert import ensure_default_model
    from models.reader import export_reader

    base = ensure_default_model(MODEL_CACHE)
    stale = tmp_path / "reader-0123456789abcdef"
    stale.mkdir()
    (stale / "model-mapped.onnx").write_bytes(b"an older graph")
    (stale / "model-mapped.onnx.data").write_bytes(b"\0" * 1024)
    exported = export_reader(base, READER_DIR, tmp_path)
    assert exported.parent != stale and exported.is_file()
    assert not stale.exists()
    assert export_reader(base, READER_DIR, tmp_path) == exported  # exported once, then found


def test_the_token_target_marks_exactly_the_answers_words() -> None:
    """The reader's token-level target (training.reader.token_labels): the tokens of the gold answer inside
    the candidate's sentence, after the passage prefix, and nothing in the question or the context."""
    from transformers import AutoTokenizer

    from models.e5_convert import ensure_default_model
    from training.reader import token_labels
    from training.reader_data import ReaderQuestion

    sentence = "Nach Angaben des Pentagons sind rund 10.000 Soldaten in Russland eingetroffen."
    start = sentence.index("10.000")
    question = ReaderQuestion(
        qid="t", source="test", question="Wie viele Soldaten sind in Russland?",
        items=(
            ReaderInput("Wie viele Soldaten sind in Russland?", sentence, previous="10.000 Menschen demonstrierten."),
            ReaderInput("Wie viele Soldaten sind in Russland?", "Die Duma stimmte zu."),
        ),
        gold=frozenset({0}), answer_spans=(((start, start + len("10.000")),), ()),
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_default_model(MODEL_CACHE)))
    pairs = [reader_text_pair(i) for i in question.items]
    encoded = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, return_offsets_mapping=True, return_tensors="pt")
    labels = token_labels(encoded, [question])
    marked = tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(encoded["input_ids"][0][labels[0].bool()]))
    assert marked.strip() == "10.000"
    assert labels[1].sum() == 0


def test_swapped_twins_ask_for_a_name_or_number_no_candidate_mentions() -> None:
    """`training.reader_data.swapped_negatives`: an answerable question's twin swaps one name or number its
    passage holds for one of the same kind from another title's question that no candidate mentions,
    and every candidate of the twin is a negative; unanswerable questions get no twin."""
    from training.reader_data import ReaderQuestion, swapped_negatives

    def question(qid: str, text: str, sentence: str, title: str, gold: bool) -> ReaderQuestion:
        items = (ReaderInput(text, sentence, title=title), ReaderInput(text, "Unrelated filler sentence.", title=title))
        return ReaderQuestion(qid, "squad1", text, items, frozenset({0}) if gold else frozenset(), ((), ()))

    train = [
        question("a", "How many soldiers did North Korea send to Russia in 2024?",
                 "North Korea sent 10,000 soldiers to Russia in 2024.", "Korea", True),
        question("b", "When did Tesla move to New York?", "Tesla moved to New York in 1884.", "Tesla", True),
        question("c", "Who governs Mali since 2021?", "Mali is governed by a junta.", "Mali", False),
    ]  # fmt: skip
    twins = swapped_negatives(train, share=1.0, seed=3)
    assert {t.qid for t in twins} == {"a-swap", "b-swap"}  # the unanswerable question gets none
    originals = {q.qid: q for q in train}
    for twin in twins:
        original = originals[twin.qid.removesuffix("-swap")]
        assert twin.question != original.question and not twin.gold and twin.source == "squad1-swap"
        assert all(i.question == twin.question and i.sentence == o.sentence for i, o in zip(twin.items, original.items))
        new_words = set(twin.question.split()) - set(original.question.split())
        passage = " ".join(f"{i.title} {i.sentence}" for i in twin.items).lower()
        assert new_words and all(w.strip("?").lower() not in passage for w in new_words)
    assert swapped_negatives(train, share=0.0) == []


def test_the_blend_ranks_by_both_logits_and_says_where_it_came_from() -> None:
    from answers.scoring.reader import BLEND_PATH, ReaderBlend

    blend = ReaderBlend.read(BLEND_PATH)
    assert blend is not None, "answers/scoring/reader_blend.json ships with the reader"
    assert blend.provenance["script"] == "python -m training.fit_reader_blend"
    assert blend.provenance["cross_validated_by_title"], "held-out rates are recorded with the fit"
    assert blend.reader > 0 and blend.fitted > 0, "both views raise P(answers): each was fitted to carry weight"
    # Monotone in each view: a sentence both like more scores higher.
    low, high = blend.probabilities(np.array([0.0, 2.0]), np.array([0.2, 0.6]))
    assert 0.0 < low < high < 1.0
    assert 0.0 < blend.threshold < 1.0


def test_question_time_pairs_get_the_ids_training_gave_them() -> None:
    """The reader tokenizes pairs with SentencePiece at question time (`PieceTokenizer.pair_arrays`, ~40 MB)
    and with transformers' tokenizer in training: the ids and masks must be the same, truncation included."""
    from transformers import AutoTokenizer

    from models.e5_convert import ensure_default_model
    from models.piece_tokenizer import PieceTokenizer
    from retrieval.sentences import split_sentences

    base = ensure_default_model(MODEL_CACHE)
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "seeds").iterdir()) if p.suffix in {".txt", ".md"})
    sentences = [text[slice(*span)] for span in split_sentences(text)][:120]
    awkward = ["", "<s> x </s>", "ﬁ ① ２ Ⅻ\u200b \u00a0a", "🙂" * 40, "wort " * 200, "\u202eabc"]
    items = [ReaderInput(q, s, previous=p, title="T") for q, s, p in zip(
        ["Wer sagte das?", "How many soldiers?", "Was " * 120] * 60, sentences + awkward, [""] + sentences)]  # fmt: skip
    pairs = [reader_text_pair(i) for i in items]
    ours = PieceTokenizer(base, max_length=96)
    theirs = AutoTokenizer.from_pretrained(str(base))
    fits = [p for p in pairs if len(theirs(p[0])["input_ids"]) < 96 - 2]
    for start in range(0, len(fits), 16):
        batch = fits[start : start + 16]
        ids, mask = ours.pair_arrays(batch, 96)
        expected = theirs([p[0] for p in batch], [p[1] for p in batch], padding=True, truncation="only_second", max_length=96)
        assert ids.tolist() == expected["input_ids"] and mask.tolist() == expected["attention_mask"]
    # A question too long to leave the sentence room: transformers refuses it; ours cuts the question
    # too and keeps the row within max_length (a user's question is never an error here).
    long = [p for p in pairs if p not in fits]
    assert long
    ids, mask = ours.pair_arrays(long, 96)
    assert ids.shape[1] == 96 and (mask.sum(axis=1) == 96).all()


def test_the_reader_loads_ahead_of_the_first_question_where_its_graph_is_exported(tmp_path: Path) -> None:
    """`load_reader_in_background` (a cold `ask` overlaps the reader's loading with its own) loads the very
    reader the answerer's `load_reader` then gets; it never exports (no graph, nothing written: the
    caller's thread exports) and leaves a damaged graph's error to the caller's own load."""
    from models.e5_convert import ensure_default_model
    from models.reader import ReaderError, export_reader, load_reader_in_background

    base = ensure_default_model(MODEL_CACHE)
    unexported = tmp_path / "unexported"
    unexported.mkdir()
    assert load_reader_in_background(base, unexported).result(timeout=60) is None
    assert list(unexported.iterdir()) == []

    exported = export_reader(base, READER_DIR, MODEL_CACHE).parent
    ready = tmp_path / "ready"
    ready.mkdir()
    (ready / exported.name).symlink_to(exported, target_is_directory=True)
    loaded = load_reader_in_background(base, ready).result(timeout=120)
    assert loaded is not None and load_reader(base, ready) is loaded
    pair = [ReaderInput("Wer sprach?", SPEAKER_QUOTE, previous=SPEAKER_PREVIOUS)]
    assert np.isfinite(loaded.logits(pair)).all()

    damaged = tmp_path / "damaged" / exported.name
    damaged.mkdir(parents=True)
    (damaged / "model-mapped.onnx").write_bytes(b"not a graph")
    (damaged / "model-mapped.onnx.data").write_bytes(b"\0" * 64)
    assert load_reader_in_background(base, damaged.parent).result(timeout=60) is None
    with pytest.raises(ReaderError, match="cannot load the reader's ONNX graph"):
        load_reader(base, damaged.parent)
