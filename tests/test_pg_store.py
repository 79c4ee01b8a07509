"""The PostgreSQL + pgvector store, against a real server (tests/pg_server.py): the same answers as
the embedded store, copying without re-embedding, model checks, filtered search that never returns
fewer hits than asked, and concurrent writers and readers that lose nothing."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SEEDS, SHARED, make_settings

pytest.importorskip("psycopg", reason="psycopg is not installed (dev dependency group)")
pytest.importorskip("pgvector", reason="pgvector is not installed (dev dependency group)")

from retrieval.errors import ModelMismatchError
from retrieval.stores.postgres.search import PgRetriever
from retrieval.stores.postgres.store import PgStore, connect
from retrieval.time_window import TimeWindow
from tests import pg_workers

DEV_QUESTIONS = SHARED / "eval" / "seed_questions.jsonl"


@pytest.fixture(scope="module")
def seed_pg(pg_server, e5_embedder, tmp_path_factory):
    """The seed articles indexed into a fresh database through `newsbot index`'s code path."""
    from retrieval.backends import index_paths
    from tests.pg_server import fresh_database

    url = fresh_database(pg_server)
    settings = make_settings(tmp_path_factory.mktemp("pg-seed"), NEWSBOT_DATABASE_URL=url)
    report = index_paths([SEEDS], settings, embedder=e5_embedder)
    assert len(report.added) == 5
    return settings


def _citations(answer) -> list[tuple[str, int, int]]:
    return [(c.doc_id, c.start, c.end) for c in answer.citations]


def test_seed_questions_get_the_same_answers_from_both_stores(seed_pg, seed_settings, seed_retriever, e5_embedder):
    from answers.answer import answer
    from answers.extractive import ExtractiveAnswerer

    if not DEV_QUESTIONS.is_file():
        pytest.skip(f"no dev questions at {DEV_QUESTIONS}")
    pg = PgRetriever.load(seed_pg, embedder=e5_embedder)
    answerer = ExtractiveAnswerer(seed_settings, e5_embedder)
    questions = [json.loads(line)["question"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for question in questions:
        embedded = answer(question, seed_settings, retriever=seed_retriever, answerer=answerer)
        postgres = answer(question, seed_pg, retriever=pg, answerer=answerer)
        assert postgres.abstained == embedded.abstained, question
        if embedded.figures:
            # Both stores read the stories linked at index time: the same figures in the same groups.
            assert [(f.value, f.what, f.story) for f in postgres.figures] == [
                (f.value, f.what, f.story) for f in embedded.figures
            ], question
        else:
            assert _citations(postgres) == _citations(embedded), question
        for citation in postgres.citations:
            assert citation.quote in pg.data.articles[citation.doc_id].text


def test_indexing_again_embeds_nothing_and_a_changed_article_reuses_its_vectors(pg_url, e5_embedder, tmp_path):
    from retrieval.backends import index_paths

    folder = tmp_path / "articles"
    folder.mkdir()
    for path in sorted(SEEDS.glob("*.txt"))[:2]:
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    settings = make_settings(tmp_path / "data", NEWSBOT_DATABASE_URL=pg_url)
    first = index_paths([folder], settings, embedder=e5_embedder)
    again = index_paths([folder], settings, embedder=e5_embedder)
    assert len(first.added) == 2 and first.texts_embedded > 0
    assert again.added == [] and again.texts_embedded == 0 and len(again.unchanged) == 2
    changed = min(folder.glob("*.txt"))
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nDer Bundestag stimmte am Abend zu.\n", encoding="utf-8")
    update = index_paths([folder], settings, embedder=e5_embedder)
    assert update.updated == [changed.stem]
    assert 0 < update.texts_embedded <= 2  # the new sentence and the chunk it joined; the rest is reused


def test_migrate_copies_the_embedded_index_without_embedding(pg_url, seed_index_dir, seed_retriever, e5_embedder):
    from retrieval.stores.postgres.index import migrate_embedded

    settings = make_settings(seed_index_dir, NEWSBOT_DATABASE_URL=pg_url)
    report = migrate_embedded(settings)
    assert len(report.added) == 5 and report.texts_embedded == 0
    assert migrate_embedded(settings).added == []  # copying again changes nothing
    pg = PgRetriever.load(settings, embedder=e5_embedder)
    question = "Wie viele nordkoreanische Soldaten sind in Russland?"
    embedded_top = [(h.chunk.doc_id, h.chunk.position) for h in seed_retriever.search(question, k=3).hits]
    pg_top = [(h.chunk.doc_id, h.chunk.position) for h in pg.search(question, k=3).hits]
    assert pg_top == embedded_top


def test_a_collection_built_with_another_model_is_refused(pg_url):
    rng = np.random.default_rng(1)
    store = PgStore(pg_url)
    store.write(pg_workers.INFO, [pg_workers.synthetic_article("a", 3, rng)])
    other = pg_workers.INFO.__class__(**{**pg_workers.INFO.__dict__, "model_id": "another-model"})
    with pytest.raises(ModelMismatchError, match="another-model"):
        store.write(other, [pg_workers.synthetic_article("b", 3, rng)])
    assert set(store.known_articles()) == {"a"}  # the refused batch wrote nothing


class _VectorsOnly:
    """Stands in for the embedder where every query comes with its vector (nothing is embedded)."""

    model_id = pg_workers.INFO.model_id
    dimension = pg_workers.DIM
    backend = "none"

    def embed_queries(self, texts):  # pragma: no cover - never called: the tests pass query vectors
        raise AssertionError("the filtered-search test passes its query vectors")


def test_a_filtered_search_returns_as_many_hits_as_asked(pg_url, tmp_path):
    rng = np.random.default_rng(7)
    store = PgStore(pg_url)
    batch = []
    for i in range(1500):  # 1 in 50 articles from the small outlet, dated 2023; the rest 2024
        rare = i % 50 == 0
        batch.append(pg_workers.synthetic_article(f"d{i}", 2, rng, outlet="Landbote" if rare else "Kurier",
                                                  published="2023-05-01" if rare else "2024-02-01"))  # fmt: skip
    from retrieval.stores.postgres.index import write_items

    write_items(store, pg_workers.INFO, batch, [])
    settings = make_settings(tmp_path, NEWSBOT_DATABASE_URL=pg_url)
    retriever = PgRetriever(store, pg_workers.INFO, _VectorsOnly(), settings)  # type: ignore[arg-type]
    query = rng.standard_normal(pg_workers.DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    year_2023 = TimeWindow(since=dt.date(2023, 1, 1), until=dt.date(2023, 12, 31))
    for window, outlet in ((None, "Landbote"), (year_2023, None)):
        result = retriever.search("Haushalt", k=25, mode="dense", query_vector=query, window=window, outlet=outlet)
        assert len(result.hits) == 25  # 30 articles (30 chunks) match; HNSW alone sees ef_search rows first
        assert all(h.article.outlet == "Landbote" and h.article.published == "2023-05-01" for h in result.hits)
        with connect(pg_url, autocommit=True) as conn:  # exact filtered top 25 for comparison
            exact = conn.execute(
                "SELECT a.doc_id FROM chunks c JOIN articles a ON a.no = c.article_no WHERE a.outlet = 'Landbote' "
                "ORDER BY c.embedding::vector <#> %s::vector LIMIT 25",
                (query.tolist(),),
            ).fetchall()
        assert len({h.article.doc_id for h in result.hits} & {r[0] for r in exact}) >= 23
    left_out = frozenset(h.article.doc_id for h in result.hits[:5])  # as the answers benchmark leaves articles out
    rest = retriever.search("Haushalt", k=25, mode="dense", query_vector=query, window=year_2023, exclude_docs=left_out)
    assert len(rest.hits) == 25 and not left_out & {h.article.doc_id for h in rest.hits}


def test_two_writers_and_two_readers_lose_nothing_and_see_no_half_article(pg_url):
    PgStore(pg_url).write(pg_workers.INFO, [])  # the schema, as the first `newsbot index` leaves it
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    writers = [context.Process(target=pg_workers.writer, args=(pg_url, name, 30, seed)) for seed, name in enumerate("wx")]
    readers = [context.Process(target=pg_workers.reader, args=(pg_url, 12.0, results)) for _ in range(2)]
    for process in writers + readers:
        process.start()
    for process in writers + readers:
        process.join(timeout=180)
        assert process.exitcode == 0
    reports = [results.get(timeout=5) for _ in readers]
    assert all(checked > 0 for checked, _ in reports)
    assert [p for _, problems in reports for p in problems] == []
    store = PgStore(pg_url)
    assert sorted(store.known_articles()) == sorted(f"{n}-{i}" for n in "wx" for i in range(30))
    with connect(pg_url, autocommit=True) as conn:
        stored_chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        assert conn.execute("SELECT chunks FROM corpus_stats").fetchone()[0] == stored_chunks
        for title, sentences in conn.execute(
            "SELECT a.title, count(s.*) FROM articles a JOIN sentences s ON s.article_no = a.no GROUP BY a.no"
        ):
            assert int(title.split()[0]) == sentences


def test_the_database_url_is_not_logged_or_shown_in_settings(tmp_path: Path):
    settings = make_settings(tmp_path, NEWSBOT_DATABASE_URL="postgresql://newsbot:hunter2@db/newsbot")
    assert "hunter2" not in repr(settings)


def test_a_chat_upload_is_indexed_into_the_database_not_the_data_folder(pg_url, e5_embedder, tmp_path):
    from retrieval.backends import index_uploaded_article

    settings = make_settings(tmp_path / "data", NEWSBOT_DATABASE_URL=pg_url)
    raw = "Stadtrat beschließt Haushalt\n\nDer Stadtrat beschloss am Montag einen Haushalt von 12 Millionen Euro.\n"
    article = index_uploaded_article(raw.encode(), "haushalt.txt", settings, e5_embedder)
    assert PgStore(pg_url).known_articles()[article.doc_id][1].endswith("haushalt.txt")
    assert not (settings.index_dir / "CURRENT").exists()
    pg = PgRetriever.load(settings, embedder=e5_embedder)
    assert pg.search("Wie groß ist der Haushalt der Stadt?", k=1).hits[0].article.doc_id == article.doc_id


def test_both_stores_offer_the_answerer_the_same_interface(seed_pg, seed_retriever, e5_embedder):
    from retrieval.store_protocol import Corpus, SentenceLookup

    pg = PgRetriever.load(seed_pg, embedder=e5_embedder)
    for corpus in (seed_retriever.data, pg.data):
        assert isinstance(corpus, Corpus)
        assert isinstance(corpus.sentences, SentenceLookup)
    doc_id = next(iter(seed_retriever.data.articles))
    embedded_first = seed_retriever.data.sentences[seed_retriever.data.sentence_base[doc_id]]
    pg_first = pg.data.sentences[pg.data.sentence_base[doc_id]]
    assert (pg_first.doc_id, pg_first.start, pg_first.end, pg_first.text) == (
        embedded_first.doc_id, embedded_first.start, embedded_first.end, embedded_first.text,
    )  # fmt: skip
    assert float(pg.data.sentence_vectors[pg.data.sentence_base[doc_id]] @ seed_retriever.data.sentence_vectors[
        seed_retriever.data.sentence_base[doc_id]]) > 0.999  # halfvec keeps the vector  # fmt: skip


def test_the_pg_bench_compares_both_stores_on_the_same_questions(pg_server, tmp_path, e5_embedder):
    from bench.pg_bench import run_pg_retrieval
    from bench.pg_scale import run_pg_scale
    from tests.test_bench import write_tiny_xquad

    xquad = write_tiny_xquad(tmp_path / "xq")
    result = run_pg_retrieval(make_settings(tmp_path / "data"), xquad, tmp_path / "work", e5_embedder)
    for language in ("de", "en"):
        for store in ("embedded", "postgres"):
            for mode in ("lexical", "dense", "hybrid"):
                assert 0.0 <= result[language][store][mode]["r1"] <= 1.0
        assert result[language]["hybrid_r1_delta"] == pytest.approx(
            result[language]["postgres"]["hybrid"]["r1"] - result[language]["embedded"]["hybrid"]["r1"], abs=1e-4
        )
    scale = run_pg_scale((2_000,), n_queries=10)
    assert [s["n"] for s in scale["sizes"]] == [2_000]
    assert all(0.0 <= row["recall_at_10"] <= 1.0 for row in scale["sizes"][0]["search"])


def test_answering_reads_whole_articles_not_one_statement_per_sentence(seed_pg, e5_embedder):
    """The scorer reads every sentence of each candidate article; over PostgreSQL an article comes
    in one statement with all its sentences. Walking an article sentence by sentence used to ask
    the database for its size at every step: 338-442 statements for one seed question, now 8-16."""
    from answers.answer import answer
    from answers.extractive import ExtractiveAnswerer
    from retrieval.backends import open_retriever
    from retrieval.sentences import split_sentences

    retriever = open_retriever(seed_pg, e5_embedder)
    answerer = ExtractiveAnswerer(retriever.settings, e5_embedder)
    conn = retriever._connection()
    statements = []
    execute = conn.execute

    def counting(*args, **kwargs):
        statements.append(args[0] if args else "")
        return execute(*args, **kwargs)

    conn.execute = counting
    for question in ("Wer ist Leonid Sluzki?", "How many soldiers were reported and by whom?"):
        statements.clear()
        result = answer(question, retriever.settings, retriever=retriever, answerer=answerer)
        asked = len(statements)
        assert result.citations
        articles = {c.doc_id for c in result.citations}
        sentences = sum(len(split_sentences(retriever.data.articles[d].text)) for d in articles)
        assert asked < sentences, f"{asked} statements for {sentences} sentences"
