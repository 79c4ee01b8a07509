"""Choose the best-sentence weight for pooled chunk vectors on XQuAD's even questions; report the odd half.

Uses the indexes and embedding cache a retrieval bench run left in `<out>/cache` (no model passes):
`newsbot bench --suite retrieval --out OUT` first, then `python training/choose_pooled_sentence_weight.py OUT`.
The weight with the best mean hybrid R@1 (de + en) on the even half is chosen; the odd half is held out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.embedding_cache import EmbeddingCache
from bench.squad_data import load_xquad
from bench.squad_retrieval import bench_settings, paragraph_rankings, rank_metrics
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import load_index

WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)


def main(out: Path, xquad_dir: Path) -> None:
    settings = load_settings(env_file=None)
    embedder = load_embedder(settings)
    xquad = load_xquad(xquad_dir)
    cache = EmbeddingCache(out / "cache" / f"embeddings-{embedder.model_id}-{embedder.backend}.npz", embedder)
    vectors = {lang: cache.get("query", [q.question for q in qs]) for lang, qs in xquad.questions.items()}
    rows = {}
    # The suite's main index has the default's chunk vectors and each variant its own folder; which is
    # which depends on the default of the day, so the folders are told apart by their build info.
    builds = {}
    for folder in ("xquad-240", "xquad-240-embedded-embedded", "xquad-240-pooled-embedded"):
        if (out / "cache" / folder).is_dir():
            variant = bench_settings(settings, out / "cache" / folder)
            data = load_index(variant.index_dir)
            if data.info.sentence_vectors == "embedded":
                builds.setdefault(data.info.chunk_vectors, (variant, data))
    for mode in ("embedded", "pooled"):
        variant, data = builds[mode]
        for weight in WEIGHTS if mode == "pooled" else (0.25,):
            variant.retrieval.sentence_weight = weight
            retriever = EmbeddedRetriever(data, embedder, variant)
            row = {}
            for lang, questions in xquad.questions.items():
                ranking = paragraph_rankings(retriever, questions, vectors[lang], "hybrid")[0]
                gold = [q.doc_id for q in questions]
                row[lang] = {
                    "even": rank_metrics(ranking[0::2], gold[0::2])["r1"],
                    "odd": rank_metrics(ranking[1::2], gold[1::2])["r1"],
                    "all": rank_metrics(ranking, gold)["r1"],
                }
            rows[f"{mode} w={weight}"] = row
            print(f"{mode} w={weight}", json.dumps(row), flush=True)
    pooled = {k: v for k, v in rows.items() if k.startswith("pooled")}
    best = max(pooled, key=lambda k: pooled[k]["de"]["even"] + pooled[k]["en"]["even"])
    print("chosen on the even half:", best, "held-out odd half:", {l: pooled[best][l]["odd"] for l in ("de", "en")},
          "embedded odd half:", {l: rows["embedded w=0.25"][l]["odd"] for l in ("de", "en")})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/bench/xquad"))
