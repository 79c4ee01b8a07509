"""Fit the story linker (retrieval/story_linking.py) and compare it with the average-linkage clustering
it replaces, on labelled "same event" data with a held-out split.

Labels: the two halves of a 10kGNAD article (six sentences or more) are two reports of one event;
the five seed articles are one event (North Korean troops sent to Russia, five outlets); everything
else is a different event. The articles come from a year of derStandard.at, so two of them rarely
report one event; `--show-closest` prints the closest cross-article pairs the linker would join, to
check that assumption by reading them (BENCHMARKS.md, "Stories", says what was found).
The articles are split 80/20 (seeded); halves never cross the split, and the seeds are held out.

Fitted: the logistic pair model (vector cosine, name similarity) on the training pairs the linker
meets (every same-event pair, and each item's nearest `CANDIDATES` items of other events), then the
link threshold, by pair F0.5 (precision weighted twice recall) of the incremental linking over the
training items in a shuffled order. Precision weighs more because a wrong link shows a reader one
"story" made of two events (a genre or topic lump, the defect this replaces), while a missed link
shows two correct stories; and in a news collection most articles have no partner at all, so false
links, not missed ones, are what a reader meets.
Reported, on the held-out items: pair precision/recall/F1 and purity of the linker and of
`answers.stories`' average-linkage clustering at its fitted cut (0.885).

    python training/fit_story_linking.py NEWS_INDEX_DATA_DIR [--show-closest N]   # an index of seeds/ + 10kGNAD
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.stores.embedded.store import load_index
from retrieval.story_linking import (
    BOILERPLATE_MIN_ARTICLES,
    CANDIDATES,
    NEUTRAL_PASSAGES,
    ArticleFeatures,
    LinkModel,
    StoryCandidate,
    StoryLinker,
    article_vector,
    common_direction_of,
    link_stories,
    named_terms,
    nearest_rows,
)

MIN_SENTENCES = 6
SEED = 16
AVERAGE_LINKAGE_CUT = 0.885  # answers/stories.py STORY_SIMILARITY before this change


def items_of(
    data, common: np.ndarray, doc_ids: list[str], split: bool
) -> tuple[list[StoryCandidate], list[str]]:  # type: ignore[no-untyped-def]
    """Items to cluster (two halves per article when `split`, else the whole article) and their event labels."""
    wide = {g for g, docs in data.group_docs.items() if len(docs) >= BOILERPLATE_MIN_ARTICLES}
    items, labels = [], []
    for doc_id in doc_ids:
        rows = [r for r in data.article_sentence_ids(doc_id) if data.sentences[r].dup_group not in wide]
        parts = [rows[: len(rows) // 2], rows[len(rows) // 2 :]] if split else [rows]
        for i, part in enumerate(parts):
            vector = article_vector(np.asarray(data.sentence_vectors[part]), common)
            terms = named_terms(data.sentences[r].text for r in part)
            items.append(StoryCandidate(f"{doc_id}#{i}", -1, vector, terms))
            labels.append(doc_id if split else "seed-story")
    return items, labels


def link_all(model: LinkModel, items: list[StoryCandidate], order: list[int]) -> list[int]:
    """The product's incremental linking (`link_stories`) of the items in `order`; a story label per item."""
    table = link_stories(
        None, [], [ArticleFeatures(str(i), items[i].vector, items[i].terms) for i in order], 0.0, model
    )
    story_of = dict(zip(table.doc_ids, table.stories))
    return [story_of[str(i)] for i in range(len(items))]


def average_linkage(items: list[StoryCandidate]) -> list[int]:
    """The clustering answers/stories.py ran at question time before stories were linked at index time."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distances = np.clip(
        pdist(np.stack([i.vector for i in items]).astype(np.float64), metric="cosine"), 0.0, 2.0
    )
    tree = linkage(distances, method="average")
    return fcluster(tree, t=np.nextafter(1.0 - AVERAGE_LINKAGE_CUT, 0.0), criterion="distance").tolist()


def pair_scores(labels: list[str], predicted: list[int]) -> dict[str, float]:
    """Pair precision, recall, F1 of "same story", and purity (share of items in their cluster's majority event)."""

    def pairs(groups: list) -> set[tuple[int, int]]:  # type: ignore[type-arg]
        by: dict = {}
        for i, g in enumerate(groups):
            by.setdefault(g, []).append(i)
        return {(a, b) for members in by.values() for ai, a in enumerate(members) for b in members[ai + 1 :]}

    true, pred = pairs(labels), pairs(predicted)
    tp = len(true & pred)
    precision = tp / len(pred) if pred else 1.0
    recall = tp / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    f05 = 1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0
    clusters: dict[int, Counter[str]] = {}
    for label, p in zip(labels, predicted):
        clusters.setdefault(p, Counter())[label] += 1
    purity = sum(c.most_common(1)[0][1] for c in clusters.values()) / len(labels)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "f05": f05,
        "purity": purity,
        "clusters": float(len(clusters)),
    }


def training_pairs(
    linker: StoryLinker, items: list[StoryCandidate], labels: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, names) features and same-event labels of the pairs the linker meets."""
    matrix = np.stack([i.vector for i in items])
    features, targets = [], []
    for i, item in enumerate(items):
        for j in nearest_rows(matrix, item.vector, CANDIDATES + 1).tolist():
            if j <= i and labels[j] != labels[i]:
                continue  # each negative pair once
            if j == i:
                continue
            other = items[j]
            features.append(
                (float(item.vector @ other.vector), linker.names_similarity(item.terms, other.terms))
            )
            targets.append(labels[i] == labels[j])
    return np.array(features), np.array(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--show-closest", type=int, default=0)
    args = parser.parse_args()
    os.environ["NEWSBOT_DATA_DIR"] = str(args.data_dir)
    from sklearn.linear_model import LogisticRegression

    embedder = load_embedder(load_settings())
    common = common_direction_of(embedder.embed_passages(list(NEUTRAL_PASSAGES)))
    data = load_index(args.data_dir / "index", with_search_structures=False)
    docs = sorted(
        d
        for d in data.articles
        if d.startswith("gnad_") and len(data.article_sentence_ids(d)) >= MIN_SENTENCES
    )
    random.Random(SEED).shuffle(docs)
    test_docs, train_docs = docs[: len(docs) // 5], docs[len(docs) // 5 :]
    seeds = sorted(d for d in data.articles if not d.startswith("gnad_"))
    train, train_labels = items_of(data, common, train_docs, split=True)
    # The pair features see names counted over the training items, as linking counts the stored articles.
    named = Counter(t for item in train for t in item.terms)
    linker = StoryLinker(named.__getitem__, len(train))
    test, test_labels = items_of(data, common, test_docs, split=True)
    seed_items, seed_labels = items_of(data, common, seeds, split=False)
    test, test_labels = test + seed_items, test_labels + seed_labels

    x, y = training_pairs(linker, train, train_labels)
    regression = LogisticRegression(C=10.0).fit(x, y)
    (w_cos, w_names), intercept = regression.coef_[0], regression.intercept_[0]
    print(
        f"{len(train_docs)} articles fit ({len(y)} pairs, {int(y.sum())} same-event), {len(test_docs)} + {len(seeds)} seeds held out"
    )
    order = list(range(len(train)))
    random.Random(SEED).shuffle(order)
    best = None
    for threshold in np.round(np.arange(0.05, 0.96, 0.05), 2):
        model = LinkModel(float(intercept), float(w_cos), float(w_names), float(threshold))
        scores = pair_scores(train_labels, link_all(model, train, order))
        if best is None or scores["f05"] > best[1]["f05"]:
            best = (float(threshold), scores)
    assert best is not None
    linker.model = fitted = LinkModel(float(intercept), float(w_cos), float(w_names), best[0])
    print(f"LINK_MODEL = {fitted}  (train pair F0.5 {best[1]['f05']:.3f})")

    test_order = list(range(len(test)))
    random.Random(SEED + 1).shuffle(test_order)
    for name, predicted, labels in (
        ("train  linker", link_all(fitted, train, order), train_labels),
        ("train  average linkage 0.885", average_linkage(train), train_labels),
        ("held-out linker", link_all(fitted, test, test_order), test_labels),
        ("held-out average linkage 0.885", average_linkage(test), test_labels),
    ):
        s = pair_scores(labels, predicted)
        print(
            f"{name:32s} P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f} purity {s['purity']:.3f} clusters {int(s['clusters'])}"
        )

    # The product's check: every article of the collection linked in id order, as `newsbot index` does.
    everything, _ = items_of(data, common, sorted(data.articles), split=False)
    linked = link_all(fitted, everything, list(range(len(everything))))
    members: dict[int, list[str]] = {}
    for item, story in zip(everything, linked):
        members.setdefault(story, []).append(item.doc_id.split("#")[0])
    seed_story = next(m for m in members.values() if seeds[0] in m)
    several = [m for m in members.values() if len(m) > 1]
    print(
        f"seeds + 10kGNAD linked in id order: {len(members)} stories, {len(several)} with several articles "
        f"({sum(map(len, several))} articles); the seed story: {sorted(seed_story)}"
    )

    if args.show_closest:
        whole, _ = items_of(
            data, common, sorted(d for d in data.articles if d.startswith("gnad_")), split=False
        )
        matrix = np.stack([i.vector for i in whole])
        scored = []
        for i, item in enumerate(whole):
            for j in nearest_rows(matrix, item.vector, 6).tolist():
                if j > i:
                    scored.append((linker.pair_score(item.vector, item.terms, whole[j]), i, j))
        for score, i, j in sorted(scored, reverse=True)[: args.show_closest]:
            a, b = (whole[k].doc_id.split("#")[0] for k in (i, j))
            print(
                f"{score:.2f}  {a}: {data.articles[a].title[:70]!r}\n      {b}: {data.articles[b].title[:70]!r}"
            )


if __name__ == "__main__":
    main()
