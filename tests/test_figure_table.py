"""The one figure aggregator: typed mentions merged by value, used by the answerer and the briefing."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from answers.briefing import build_briefing
from answers.figure_table import (
    FigureGroup,
    FigureMention,
    by_value,
    by_value_and_counted_thing,
    figure_mentions,
    merge_mentions,
)
from tests.conftest import REPO


def sentence_id(data, doc_id: str, text: str) -> int:
    return next(i for i, s in enumerate(data.sentences) if s.doc_id == doc_id and text in s.text)


def test_rows_are_frozen_dataclasses() -> None:
    for row in (FigureMention, FigureGroup):
        assert dataclasses.is_dataclass(row) and row.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_figure_without_a_counted_thing_takes_it_from_the_sentence_before(seed_retriever) -> None:
    data = seed_retriever.data
    sid = sentence_id(data, "004_7cc3b5ee41316440", "Bis Dezember sollen es demnach 10.000 sein.")

    [mention] = figure_mentions(data, [sid])

    assert (mention.value, mention.normalized, mention.sentence_id) == ("10.000", "10000", sid)
    assert mention.what in data.sentences[sid - 1].text  # counted thing named only the sentence before
    assert mention.what not in data.sentences[sid].text


@pytest.mark.slow
def test_mentions_of_one_value_in_several_articles_merge_into_one_group_with_all_sources(seed_retriever) -> None:
    data = seed_retriever.data
    with_1500 = [i for i, s in enumerate(data.sentences) if "1.500" in s.text or "1500" in s.text]
    mentions = [m for m in figure_mentions(data, with_1500) if m.normalized == "1500"]
    assert len({data.sentences[m.sentence_id].doc_id for m in mentions}) >= 2, "the seeds report 1.500 in several articles"

    [group] = [g for g in merge_mentions(data, mentions, key=by_value) if g.value in ("1.500", "1500")]

    assert group.sentence_ids == tuple(dict.fromkeys(m.sentence_id for m in mentions))
    assert {data.sentences[m.sentence_id].doc_id for m in mentions} <= group.docs
    assert set(group.attributed_to) == {m.attributed_to for m in mentions if m.attributed_to}
    assert len(set(group.attributed_to)) == len(group.attributed_to)


def test_the_briefing_key_separates_counted_things_that_share_a_value() -> None:
    soldiers = FigureMention("3000", "3000", "nordkoreanische Soldaten", None, 0)
    tanks = FigureMention("3.000", "3000", "Panzer", None, 1)

    assert by_value(soldiers) == by_value(tanks)
    assert by_value_and_counted_thing(soldiers) != by_value_and_counted_thing(tanks)


@pytest.mark.slow
def test_the_briefing_figures_are_the_aggregators_groups(seed_settings, seed_retriever) -> None:
    data = seed_retriever.data
    briefing = build_briefing(seed_settings, seed_retriever)
    groups = merge_mentions(
        data, figure_mentions(data, range(len(data.sentences)), require_attribution=True), key=by_value_and_counted_thing
    )
    by_key = {(g.value, g.what): g for g in groups}
    for figure in briefing.figures:
        group = by_key[(figure.value, figure.what)]
        assert figure.attributed_to == "; ".join(group.attributed_to)


@pytest.mark.parametrize("path", ["answers/extractive.py", "answers/briefing.py"])
def test_both_callers_aggregate_through_the_one_aggregator_and_find_no_figures_themselves(path: str) -> None:
    tree = ast.parse(Path(REPO, path).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "answers.figure_table"
        for alias in node.names
    }
    assert {"figure_mentions", "merge_mentions"} <= imported
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "attribution_of" not in called and "normalize_value" not in called
