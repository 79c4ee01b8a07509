#!/usr/bin/env python
"""Train the answer reranker (models/cross_encoder.py): LoRA adapters + a head on multilingual-e5-small.

Data: the XQuAD FIT half only (titles at even positions, bench/answers.py split_titles), German
AND English questions against the German paragraphs (English questions over German news are the
product's hard case). For each question, the candidates are what `answers.answer` would score:
the sentences of the passages retrieved from the XQuAD+10kGNAD collection. Positives = sentences
of the question's paragraph that contain a gold answer; negatives = the other candidates, hardest
(most similar to the question by the bi-encoder) first: the paragraph's other sentences and the
sentences of other articles' retrieved passages, plus the closest sentences of the search with the
question's whole article left out. Optional extra SQuAD-format data (--extra-squad) adds groups
from its paragraphs alone (no retrieval), never replacing the XQuAD split.

Measured (2026-11-29, 2 shared CPU cores): fold 0's model, 534 training groups, 2 epochs in
1,630 s, reached held-out top-1 0.596 on 240 fold-0 groups where the bi-encoder cosine alone has
0.742 on the same groups; fold 1 was not trained (another ~30 min). The committed adapter
(answers/answer_reranker.safetensors) is that fold-0 model; the default scorer does not use it
(scripts/train_query_adapter.py's query adapter is what replaced it). With more data
(--extra-squad) or a machine that trains faster it can be refitted and compared again.

Two models are trained, one per title fold of the fit half (the folds scripts/fit_answer_scorer.py
uses: sorted fit titles, alternating): model k learns from the titles outside fold k and is
evaluated after every epoch on fold k (held out), keeping the epoch with the best held-out top-1
accuracy. The answer scorer is fitted on these out-of-fold logits (a reranker scoring titles it
was trained on would look better than it is on new questions), and model 0 is the one committed
and used at query time, so the scorer is fitted on logits of the strength it will meet.

Loss per question group (1 positive, up to NEGATIVES negatives): the softmax cross-entropy of the
positive among the group (what the scorer needs: which sentence answers) plus the binary
cross-entropy of every pair (so that a group without any answer gets low logits: declining).

    flock /tmp/newsbot-heavy.lock python scripts/train_answer_reranker.py \\
        --xquad ../shared/bench/xquad --gnad ../shared/corpora/10kgnad --seeds seeds \\
        --work-dir bench-results/cache --out-dir bench-results/reranker \\
        --commit-to answers/answer_reranker.safetensors
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.extractive import is_quantity_question
from bench.answer_collections import build_collections
from bench.answers import docs_by_title, questions_of, split_titles
from bench.squad_retrieval import answer_contains_gold
from config.settings import load_settings
from models.cross_encoder import FORMAT, LORA_TARGETS, MAX_TOKENS, load_tokenizer, pair_text
from models.e5_convert import ensure_default_model
from models.embedders import load_embedder
from retrieval.language import detect_language
from retrieval.sentences import split_sentences

logger = logging.getLogger("train_answer_reranker")

# Sized by measurement: a tiny run trained ~3 pairs/s on the 2 shared cores with adapters on all
# 12 layers and 10 pairs a question, too slow to see the fit half once in 30 minutes. Adapting the
# top ADAPTED_LAYERS only (no gradient flows through the frozen lower half) and 7 pairs a question
# bring an epoch over half the fit half to ~10 minutes.
NEGATIVES = 5  # per group, hardest first, from the present search
LEFT_OUT_NEGATIVES = 1  # the closest sentence when the question's article is left out (declining evidence)
ADAPTED_LAYERS = 6  # the top 6 of e5-small's 12 layers carry adapters
RANK = 8  # LoRA rank; 8 on all six linear maps of 6 layers = 0.33M parameters, ~1.3 MB
ALPHA = 16.0  # LoRA scaling numerator, 2 x rank as in the LoRA paper's experiments
LEARNING_RATE = 5e-4  # AdamW; the usual LoRA rate (1e-4..1e-3), epochs chosen on the held-out fold
GROUPS_PER_STEP = 4  # question groups per optimiser step (~36 pairs)
WEIGHT_DECAY = 0.01
SEED = 0


@dataclass
class Group:
    """One question: its pairs (sentence, previous sentence or None) and labels (1 = holds the answer)."""

    question: str
    title: str
    pairs: list[tuple[str, str | None]]
    labels: list[int]
    dense: list[float] | None = None  # the bi-encoder's cosine per pair (the baseline to beat)


def previous_text(data, sid: int) -> str | None:
    if sid > 0 and data.sentences[sid - 1].doc_id == data.sentences[sid].doc_id:
        return data.sentences[sid - 1].text
    return None


def build_groups(args: argparse.Namespace) -> tuple[list[Group], list[str]]:
    """Groups for every fit-half question (de + en), from the XQuAD+10kGNAD collection's searches."""
    settings = load_settings()
    embedder = load_embedder(settings)
    collections = build_collections(
        settings, args.work_dir.resolve(), embedder, args.xquad, args.seeds, args.gnad, progress=logger.info
    )
    name = "xquad+gnad" if "xquad+gnad" in collections.retrievers else "xquad"
    retriever = collections.retrievers[name]
    data = retriever.data
    top_k = collections.settings[name].retrieval.top_k
    fit, _ = split_titles(collections.xquad)  # the test half is never read
    by_title = docs_by_title(collections.xquad)
    rng = random.Random(SEED)
    groups: list[Group] = []
    for language in collections.xquad.questions:
        questions = questions_of(collections.xquad, fit, language)[: args.max_questions]
        vectors = collections.cache.get("query", [q.question for q in questions])
        for question, vector in zip(questions, vectors):
            title = collections.xquad.articles[question.doc_id].title
            k = top_k * (2 if is_quantity_question(question.question) else 1)
            lang = detect_language(question.question)
            base = data.sentence_base[question.doc_id]
            own = []
            while (
                base + len(own) < len(data.sentences)
                and data.sentences[base + len(own)].doc_id == question.doc_id
            ):
                own.append(base + len(own))
            positives = [i for i in own if answer_contains_gold([data.sentences[i].text], question.answers)]
            if not positives:
                continue  # the answer spans a sentence boundary: no sentence holds it
            present = retriever.search(question.question, k=k, language=lang, query_vector=vector)
            absent = retriever.search(question.question, k=k, language=lang, query_vector=vector,
                                      exclude_docs=by_title[title])  # fmt: skip
            negatives = _ranked_sentences(data, present, vector, exclude=set(positives))
            negatives += [i for i in own if i not in positives and i not in negatives]
            away = _ranked_sentences(data, absent, vector, exclude=set(negatives))
            chosen = [rng.choice(positives), *negatives[:NEGATIVES], *away[:LEFT_OUT_NEGATIVES]]
            groups.append(
                Group(
                    question.question, title,
                    [(data.sentences[i].text, previous_text(data, i)) for i in chosen],
                    [1] + [0] * (len(chosen) - 1),
                    (np.asarray(data.sentence_vectors[np.array(chosen)], np.float32) @ vector).tolist(),
                )
            )  # fmt: skip
    fold_titles = sorted(fit)
    return groups, fold_titles


def _ranked_sentences(data, result, vector: np.ndarray, exclude: set[int]) -> list[int]:
    """Sentences of the retrieved passages, most similar to the question first (bi-encoder)."""
    ids: list[int] = []
    for hit in result.hits:
        base = data.sentence_base[hit.chunk.doc_id]
        for position in range(hit.chunk.first_sentence, hit.chunk.last_sentence + 1):
            sid = base + position
            if sid not in exclude and sid not in ids:
                ids.append(sid)
    if not ids:
        return []
    dense = np.asarray(data.sentence_vectors[np.array(ids)], dtype=np.float32) @ np.asarray(
        vector, np.float32
    )
    return [ids[i] for i in np.argsort(-dense, kind="stable")]


def extra_groups(path: Path, limit: int | None) -> list[Group]:
    """Groups from a SQuAD-format file: each question against the sentences of its own paragraph."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    out: list[Group] = []
    for entry in raw["data"]:
        for paragraph in entry["paragraphs"]:
            context = " ".join(str(paragraph["context"]).split())
            sentences = [context[a:b] for a, b in split_sentences(context)]
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa.get("answers", [])]
                labels = [int(answer_contains_gold([s], answers)) for s in sentences]
                if not any(labels) or all(labels):
                    continue
                positive = rng.choice([i for i, v in enumerate(labels) if v])
                negatives = [i for i, v in enumerate(labels) if not v][:NEGATIVES]
                chosen = [positive, *negatives]
                out.append(Group(qa["question"], f"extra:{entry.get('title', '')}",
                                 [(sentences[i], sentences[i - 1] if i else None) for i in chosen],
                                 [1] + [0] * len(negatives)))  # fmt: skip
                if limit is not None and len(out) >= limit:
                    return out
    return out


def build_model(model_dir: Path):
    """Base e5 (frozen) with LoRA adapters on LORA_TARGETS of every layer, and a linear head on the mean."""
    import torch
    from transformers import AutoModel

    class LoRALinear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.A = torch.nn.Parameter(torch.randn(RANK, base.in_features) / base.in_features**0.5)
            self.B = torch.nn.Parameter(torch.zeros(base.out_features, RANK))  # starts as the base model
            self.scale = ALPHA / RANK

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale

    class Reranker(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.adapters: dict[str, LoRALinear] = {}
            layers = self.encoder.encoder.layer
            for i, layer in enumerate(layers):
                if i < len(layers) - ADAPTED_LAYERS:
                    continue
                for target in LORA_TARGETS:
                    parent_name, _, child = target.rpartition(".")
                    parent = layer.get_submodule(parent_name)
                    wrapped = LoRALinear(getattr(parent, child))
                    setattr(parent, child, wrapped)
                    self.adapters[f"layer.{i}.{target}"] = wrapped
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            states = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(states.dtype)
            return self.head((states * m).sum(1) / m.sum(1).clamp(min=1.0)).squeeze(-1)

        def adapter_tensors(self) -> dict[str, np.ndarray]:
            out = {}
            for name, module in self.adapters.items():
                out[f"{name}.A"] = module.A.detach().cpu().numpy().astype(np.float32)
                out[f"{name}.B"] = module.B.detach().cpu().numpy().astype(np.float32)
            out["head.weight"] = self.head.weight.detach().cpu().numpy().astype(np.float32)
            out["head.bias"] = self.head.bias.detach().cpu().numpy().astype(np.float32)
            return out

    return Reranker()


def encode(tokenizer, groups: list[Group]):
    import torch

    pairs = [pair_text(g.question, s, p) for g in groups for s, p in g.pairs]
    encoded = tokenizer.encode_batch(pairs)
    ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.long)
    return ids, mask


def top1_accuracy(model, tokenizer, groups: list[Group], batch_groups: int = 8) -> float:
    import torch

    model.eval()
    hits = []
    with torch.no_grad():
        for start in range(0, len(groups), batch_groups):
            chunk = groups[start : start + batch_groups]
            logits = model(*encode(tokenizer, chunk)).numpy()
            offset = 0
            for g in chunk:
                scores = logits[offset : offset + len(g.pairs)]
                # The positive is pair 0; it counts only if strictly above every negative (ties lose).
                hits.append(bool(scores[0] > scores[1:].max()) if len(scores) > 1 else True)
                offset += len(g.pairs)
    model.train()
    return float(np.mean(hits)) if hits else 0.0


def bi_encoder_top1(groups: list[Group]) -> float:
    """The same held-out measure for the question-sentence cosine alone (ties lose)."""
    hits = [g.dense[0] > max(g.dense[1:]) for g in groups if g.dense is not None and len(g.dense) > 1]
    return float(np.mean(hits)) if hits else 0.0


def train_fold(
    model_dir: Path, train: list[Group], held: list[Group], epochs: int, out: Path, meta: dict
) -> dict:
    """Train on `train`, evaluate on `held` after each epoch, save the best epoch's adapters to `out`."""
    import torch
    from safetensors.numpy import save_file

    torch.manual_seed(SEED)
    tokenizer = load_tokenizer(model_dir)
    model = build_model(model_dir)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps = epochs * ((len(train) + GROUPS_PER_STEP - 1) // GROUPS_PER_STEP)
    warmup = max(1, steps // 10)  # linear warm-up over the first 10% of steps, then linear decay to 0
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    baseline = top1_accuracy(model, tokenizer, held)  # the untrained head scores all pairs 0: ties, 0.0
    history = [{"epoch": 0, "held_out_top1": round(baseline, 4),
                "held_out_top1_bi_encoder_cosine": round(bi_encoder_top1(held), 4)}]  # fmt: skip
    best = (-1.0, 0)
    rng = random.Random(SEED)
    started = time.perf_counter()
    pairs_done = 0
    for epoch in range(1, epochs + 1):
        order = list(range(len(train)))
        rng.shuffle(order)
        losses = []
        for step in range(0, len(order), GROUPS_PER_STEP):
            chunk = [train[i] for i in order[step : step + GROUPS_PER_STEP]]
            ids, mask = encode(tokenizer, chunk)
            logits = model(ids, mask)
            labels = torch.tensor([v for g in chunk for v in g.labels], dtype=torch.float32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            offset = 0
            for g in chunk:
                group_logits = logits[offset : offset + len(g.pairs)]
                loss = loss + torch.nn.functional.cross_entropy(
                    group_logits[None, :], torch.tensor([0])
                ) / len(chunk)
                offset += len(g.pairs)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
            pairs_done += len(labels)
            if (step // GROUPS_PER_STEP) % 25 == 0:
                rate = pairs_done / (time.perf_counter() - started)
                logger.info("epoch %d step %d/%d loss %.4f (%.1f pairs/s)", epoch, step // GROUPS_PER_STEP,
                            len(order) // GROUPS_PER_STEP, np.mean(losses[-25:]), rate)  # fmt: skip
        accuracy = top1_accuracy(model, tokenizer, held)
        history.append({"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4),
                        "held_out_top1": round(accuracy, 4)})  # fmt: skip
        logger.info("epoch %d: loss %.4f, held-out top-1 %.4f", epoch, np.mean(losses), accuracy)
        if accuracy > best[0]:
            best = (accuracy, epoch)
            metadata = {**meta, "epochs": str(epoch), "held_out_top1": f"{accuracy:.4f}",
                        "history": json.dumps(history)}  # fmt: skip
            save_file(model.adapter_tensors(), str(out), metadata=metadata)
    return {"history": history, "best_epoch": best[1], "held_out_top1": round(best[0], 4),
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xquad", type=Path, required=True)
    parser.add_argument("--gnad", type=Path, default=None, help="10kGNAD folder (distractor candidates)")
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--work-dir", type=Path, default=Path("bench-results/cache"))
    parser.add_argument("--out-dir", type=Path, default=Path("bench-results/reranker"))
    parser.add_argument("--commit-to", type=Path, default=None, help="copy fold 0's adapters here")
    parser.add_argument("--extra-squad", type=Path, action="append", default=[],
                        help="extra SQuAD-format training data (added to both folds' training groups)")  # fmt: skip
    parser.add_argument("--max-extra", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--folds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--max-questions", type=int, default=None, help="per language (quick runs)")
    parser.add_argument("--max-train-groups", type=int, default=None, help="quick runs: measure pairs/s")
    parser.add_argument(
        "--max-held-groups",
        type=int,
        default=240,
        help="held-out groups scored after each epoch (240: ~2,400 pairs, a few minutes)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch

    torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    groups, titles = build_groups(args)
    extra = [g for path in args.extra_squad for g in extra_groups(path, args.max_extra)]
    fold_of = {title: i % 2 for i, title in enumerate(titles)}  # as scripts/fit_answer_scorer.py
    logger.info(
        "%d fit-half groups (%d pairs), %d extra", len(groups), sum(len(g.pairs) for g in groups), len(extra)
    )
    model_dir = ensure_default_model(load_settings().model_cache_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    for fold in args.folds:
        train = [g for g in groups if fold_of[g.title] != fold] + extra
        held = [g for g in groups if fold_of[g.title] == fold]
        random.Random(SEED).shuffle(train)
        train = train[: args.max_train_groups]
        held = held[: args.max_held_groups]
        meta = {
            "format": FORMAT, "adapted_layers": ",".join(str(i) for i in range(12 - ADAPTED_LAYERS, 12)), "rank": str(RANK), "alpha": str(ALPHA), "max_tokens": str(MAX_TOKENS),
            "base_model": "intfloat/multilingual-e5-small (newsbot's converted folder)",
            "script": "scripts/train_answer_reranker.py", "command": " ".join(sys.argv),
            "data": f"XQuAD fit half (sorted titles, even positions), de+en questions; trained on title fold "
                    f"!= {fold}, held out: fold {fold} ({len(held)} groups)"
                    + (f"; extra SQuAD groups: {len(extra)}" if extra else ""),
            "train_groups": str(len(train)), "negatives": f"{NEGATIVES} present + {LEFT_OUT_NEGATIVES} left out",
            "learning_rate": str(LEARNING_RATE), "fold": str(fold),
        }  # fmt: skip
        out = args.out_dir / f"reranker-fold{fold}.safetensors"
        logger.info("fold %d: %d training groups, %d held out", fold, len(train), len(held))
        report[fold] = train_fold(model_dir, train, held, args.epochs, out, meta)
        logger.info("fold %d: %s", fold, report[fold])
    (args.out_dir / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.commit_to is not None and 0 in report:
        args.commit_to.write_bytes((args.out_dir / "reranker-fold0.safetensors").read_bytes())
        logger.info("copied fold 0's adapters to %s", args.commit_to)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
