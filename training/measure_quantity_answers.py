#!/usr/bin/env python
"""Quantity ("how many") questions of XQuAD: answered, answer@1 and declined with the article left out.

Records, per question and collection, what the answer-or-decline rule for quantity questions
(`answers/extractive.py`, QUANTITY_RESCUE) is chosen from: P(answerable), the fitted threshold and
how many distinct retrieved articles report a figure of the counted thing. `--half fit` gives the
data the rule is chosen on, `--half test` the held-out check (split: bench/answers.py).

    flock /tmp/newsbot-heavy.lock python training/measure_quantity_answers.py --half fit \\
        --xquad ../shared/bench/xquad --gnad ../shared/corpora/10kgnad --seeds seeds \\
        --work-dir bench-results/cache --out bench-results/quantity_fit.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from answers.answer import answer as answer_question
from answers.extractive import is_quantity_question
from bench.answer_collections import build_collections
from bench.answers import MaskedRetriever, RecordingAnswerer, docs_by_title, questions_of, split_titles
from bench.squad_retrieval import answer_contains_gold
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.language import detect_language

logger = logging.getLogger("measure_quantity_answers")


class EvidenceAnswerer(RecordingAnswerer):
    """The answerer, also remembering how many retrieved articles report the counted thing."""

    reports = 0

    def compose(self, question, language, result, data):  # type: ignore[no-untyped-def]
        answer = super().compose(question, language, result, data)
        assert self.last is not None
        count = getattr(self, "reporting_articles", None)  # absent before the corroboration ranking
        self.reports = count(result, self.last.scored, data) if count and self.last.scored else 0
        return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("fit", "test"), required=True)
    parser.add_argument("--xquad", type=Path, required=True)
    parser.add_argument("--gnad", type=Path)
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load_settings()
    embedder = load_embedder(settings)
    collections = build_collections(settings, args.work_dir, embedder, args.xquad, args.seeds, args.gnad)
    fit, test = split_titles(collections.xquad)
    titles = fit if args.half == "fit" else test
    by_title = docs_by_title(collections.xquad)
    records = []
    for name in [n for n in ("xquad", "xquad+gnad") if n in collections.retrievers]:
        copy = collections.settings[name]
        retriever = MaskedRetriever(collections.retrievers[name])
        answerer = EvidenceAnswerer(copy, collections.embedder, scorer="fitted")
        for language in collections.xquad.questions:
            items = [q for q in questions_of(collections.xquad, titles, language) if is_quantity_question(q.question)]
            logger.info("%s %s: %d quantity questions", name, language, len(items))
            for q in items:
                for case, exclude in (("present", frozenset()), ("left_out", by_title[collections.xquad.articles[q.doc_id].title])):
                    retriever.exclude = exclude
                    result = answer_question(q.question, copy, retriever=retriever, answerer=answerer)
                    assert answerer.last is not None
                    quotes = [c.quote for c in result.citations] if not result.abstained else []
                    all_quotes = [c.quote for c in result.citations]
                    records.append({
                        "collection": name, "language": language, "qid": q.qid, "case": case,
                        "question_language": detect_language(q.question),
                        "answered": not result.abstained, "p": answerer.last.answerable,
                        "reports": answerer.reports, "figures": len(result.figures),
                        "gold_at_1": answer_contains_gold(quotes[:1], q.answers),
                        "gold_at_3": answer_contains_gold(quotes[:3], q.answers),
                        "gold_in_nearest": answer_contains_gold(all_quotes, q.answers),
                    })  # fmt: skip
        collections.cache.save()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"half": args.half, "records": records}, indent=1), encoding="utf-8")
    logger.info("wrote %d records to %s", len(records), args.out)


if __name__ == "__main__":
    main()
