"""Train the answer reader (`models.reader`) on SQuAD 2.0 / 1.1 dev and XQuAD's fit half.

    python -m training.reader --squad ../shared/datasets/squad --xquad ../shared/bench/xquad \
        --work /tmp/newsbot-reader [--epochs 2] [--layers 6] [--threads 2]

Writes `models/reader_weights/` (float16 layers and head, under 25 MB, and `reader.json` with the
fitted answerable cut and the learning curve). Checkpoints go to `--work` (outside the repository)
every `--checkpoint-every` steps; the same command resumes from the newest one. Seeded: re-running
it on the same machine kind gives the same weights up to float rounding.

Recipe and why:
- A listwise softmax over a question's candidates and a learnt "none answers" option, plus pointwise
  binary cross-entropy per (question, sentence): P(answers) must mean the same with 5 candidates or
  40, since question time scores sentences of several retrieved articles at once.
- A token-level target beside it (`token_labels`, on by default; `--no-token-head` is session 8's
  recipe): every token of the sentence inside a gold answer span is a 1, every other token (and every
  token of an unanswerable question's sentences) a 0, and the sentence's logit includes its highest
  token logit. The extractive-QA signal: the reader must find the words that answer, not only
  judge that the sentence is about the same thing.
- The embeddings stay frozen (the vocabulary's 96M parameters, most of the model); the first
  `layers` transformer layers and the head train. Fewer layers halve both training and question
  time; the shipped file stays small.
- bf16 autocast where the CPU has bf16 units (`models.precision`), float32 elsewhere.
- The answerable cut is fitted on the calibration titles (never trained on): the probability that
  maximises answered-rate + declined-rate (balanced accuracy) over their answerable and
  unanswerable questions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from answers.answer_scorer import sigmoid
from bench.answers import roc_auc
from models.e5_convert import ensure_default_model
from models.precision import choose_precision
from models.reader import (
    PASSAGE_PREFIX,
    READER_DIR,
    build_network,
    load_trained_network,
    reader_text_pair,
    trained_state,
)
from training.reader_data import ReaderQuestion, load_splits, swapped_negatives

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    layers: int = 6
    max_length: int = 128
    epochs: float = 2.0
    batch_pairs: int = 32
    learning_rate: float = 6e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    seed: int = 13
    eval_questions: int = 400  # per held-out set, for the learning curve
    head_learning_rate: float = 1e-3
    pointwise_weight: float = 0.5
    token_head: bool = True
    token_weight: float = 1.0
    swap_negatives: float = 0.0  # share of answerable questions given a swapped unanswerable twin (reader_data.swapped_negatives)


def _question_batches(questions: Sequence[ReaderQuestion], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of whole questions, about `size` pairs each (a question's candidates together,
    so the listwise loss can compare them)."""
    order = list(range(len(questions)))
    rng.shuffle(order)
    out: list[list[int]] = [[]]
    pairs = 0
    for i in order:
        if out[-1] and pairs + len(questions[i].items) > size:
            out.append([])
            pairs = 0
        out[-1].append(i)
        pairs += len(questions[i].items)
    return [b for b in out if b]


def question_scores(network, tokenizer, questions: Sequence[ReaderQuestion], max_length: int, bf16: bool) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """The reader's logits for every candidate of every question (inference)."""
    import torch

    items = [item for q in questions for item in q.items]
    pairs = [reader_text_pair(i) for i in items]
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    logits = np.zeros(len(pairs), dtype=np.float32)
    network.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            enc = tokenizer([pairs[i][0] for i in rows], [pairs[i][1] for i in rows], padding=True,
                            truncation="only_second", max_length=max_length, return_tensors="pt")
            logits[rows] = network(enc["input_ids"], enc["attention_mask"]).float().numpy()
    network.train()
    bounds = np.cumsum([0] + [len(q.items) for q in questions])
    return [logits[a:b] for a, b in itertools.pairwise(bounds)]


def token_labels(encoded, batch: Sequence[ReaderQuestion]):  # type: ignore[no-untyped-def]
    """1 for every token of the second segment inside a gold answer span of its sentence, else 0.

    The sentence starts `len(PASSAGE_PREFIX)` characters into the second segment (`reader_text_pair`);
    the tokenizer's offsets are per segment, so a token is an answer token where its characters
    overlap an answer span shifted by that prefix.
    """
    import torch

    spans = [s for q in batch for s in (q.answer_spans or ((),) * len(q.items))]
    labels = torch.zeros(encoded["input_ids"].shape, dtype=torch.float32)
    shift = len(PASSAGE_PREFIX)
    for row, answer_spans in enumerate(spans):
        if not answer_spans:
            continue
        sequence = encoded.sequence_ids(row)
        for j, (a, b) in enumerate(encoded["offset_mapping"][row].tolist()):
            if sequence[j] == 1 and b > a and any(a < shift + e and b > shift + s for s, e in answer_spans):
                labels[row, j] = 1.0
    return labels


def question_loss(logits, batch: Sequence[ReaderQuestion], null_logit, pointwise_weight: float = 0.5):  # type: ignore[no-untyped-def]
    """Listwise: each question's candidates and a learnt "none answers" option in one softmax, the gold
    sentences (any of them) or "none" the target; plus pointwise binary cross-entropy per sentence, so
    each sentence's sigmoid stays P(it answers) whatever the number of candidates at question time."""
    import torch

    losses = []
    start = 0
    labels = torch.zeros(len(logits))
    for q in batch:
        own = logits[start : start + len(q.items)]
        options = torch.cat([own, null_logit.reshape(1)])
        log_p = torch.log_softmax(options, dim=0)
        if q.gold:
            gold = torch.tensor(sorted(q.gold))
            losses.append(-torch.logsumexp(log_p[gold], dim=0))
            labels[start + gold] = 1.0
        else:
            losses.append(-log_p[-1])
        start += len(q.items)
    listwise = torch.stack(losses).mean()
    pointwise = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    return listwise + pointwise_weight * pointwise


def fit_threshold(questions: Sequence[ReaderQuestion], scores: list[np.ndarray]) -> tuple[float, dict[str, float]]:
    """The answerable cut on the best sentence's probability: maximises answered + declined rate."""
    best = np.array([float(sigmoid(s).max()) for s in scores])
    answerable = np.array([q.answerable for q in questions])
    candidates = np.unique(best)
    rates = [((best[answerable] >= c).mean() + (best[~answerable] < c).mean(), c) for c in candidates]
    _, cut = max(rates)
    return float(cut), {
        "answered": float((best[answerable] >= cut).mean()),
        "declined": float((best[~answerable] < cut).mean()),
        "questions": len(questions),
    }


def sentence_metrics(questions: Sequence[ReaderQuestion], scores: list[np.ndarray], threshold: float) -> dict[str, float]:
    """Best sentence holds the answer (answerable), answered / declined at the cut, AUC of the best score."""
    best = np.array([float(sigmoid(s).max()) for s in scores])
    answerable = np.array([q.answerable for q in questions])
    top = np.array([q.answerable and int(np.argmax(s)) in q.gold for q, s in zip(questions, scores)])
    out = {"questions": float(len(questions)), "best_sentence_holds_answer": float(top[answerable].mean())}
    out["answered"] = float((best[answerable] >= threshold).mean())
    out["answer_at_1"] = float((top & (best >= threshold))[answerable].mean())
    if (~answerable).any():
        out["declined"] = float((best[~answerable] < threshold).mean())
        out["auc"] = roc_auc(best[answerable].tolist(), best[~answerable].tolist())
    return out


def _sample(questions: list[ReaderQuestion], n: int, seed: int) -> list[ReaderQuestion]:
    return questions if len(questions) <= n else random.Random(seed).sample(questions, n)


def train(
    squad_dir: Path,
    xquad_dir: Path,
    work: Path,
    recipe: Recipe,
    out_dir: Path,
    model_cache: Path,
    trial_steps: int = 0,
    precision: str = "auto",
    until: float = 0.0,
    init: Path | None = None,
) -> dict:
    """Trains (resuming from `work`'s checkpoint), writes the weights and config to `out_dir`. With
    `trial_steps`, only measures speed: that many steps, no evaluation, nothing written. With `until`
    (epochs), stops there and writes the weights, the schedule still that of `recipe.epochs` (a run cut
    short by the session's time is resumed to its newest checkpoint and written with this). With `init`
    (a reader weights folder), training continues from those weights instead of e5's own layers and a
    new head: a further recipe (e.g. swapped negatives) fine-tunes the shipped reader."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    torch.manual_seed(recipe.seed)
    bf16 = choose_precision(precision).precision == "bf16"
    base = ensure_default_model(model_cache)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    splits = load_splits(squad_dir, xquad_dir, recipe.seed)
    logger.info(
        "questions: train %d, calibration %d, held-out SQuAD %d, held-out XQuAD %d",
        len(splits.train), len(splits.calibration), len(splits.heldout_squad), len(splits.heldout_xquad),
    )
    if recipe.swap_negatives:
        swapped = swapped_negatives(splits.train, recipe.swap_negatives, recipe.seed)
        logger.info("swapped unanswerable twins: %d", len(swapped))
        splits = replace(splits, train=splits.train + swapped)
    pairs = sum(len(q.items) for q in splits.train)
    if init is not None:
        network = load_trained_network(base, init, recipe.layers, recipe.token_head)
        logger.info("starting from the reader in %s", init)
    else:
        network = build_network(base, recipe.layers, recipe.token_head)
    for p in network.encoder.embeddings.parameters():
        p.requires_grad_(False)
    params = [p for p in network.parameters() if p.requires_grad]
    null_logit = torch.nn.Parameter(torch.zeros(()))  # the listwise loss's "no sentence answers" option
    heads = [p for n, p in network.named_parameters() if n.startswith(("head.", "token_head."))]
    encoder = [p for n, p in network.named_parameters() if p.requires_grad and not n.startswith(("head.", "token_head."))]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in encoder if p.dim() > 1], "weight_decay": recipe.weight_decay},
            {"params": [p for p in encoder if p.dim() <= 1], "weight_decay": 0.0},
            # The head starts from random weights on pooled states of small spread: a larger step.
            {"params": heads + [null_logit], "weight_decay": 0.0, "lr": recipe.head_learning_rate},
        ],
        lr=recipe.learning_rate,
    )
    epoch_rng = random.Random(recipe.seed)
    epoch_batches: list[list[int]] = []
    for _ in range(math.ceil(recipe.epochs)):
        epoch_batches.extend(_question_batches(splits.train, recipe.batch_pairs, random.Random(epoch_rng.random())))
    steps_per_epoch = math.ceil(len(epoch_batches) / math.ceil(recipe.epochs))
    total_steps = int(steps_per_epoch * recipe.epochs)
    warmup = int(total_steps * recipe.warmup)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / max(warmup, 1), max(0.0, (total_steps - s) / max(total_steps - warmup, 1)))
    )
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "checkpoint.pt"
    step, curve, seconds = 0, [], 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        network.load_state_dict(state["network"])
        null_logit.data.fill_(state.get("null", 0.0))
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, curve, seconds = state["step"], state["curve"], state["seconds"]
        logger.info("resumed at step %d of %d", step, total_steps)
    eval_sets = {
        "squad_heldout": _sample(splits.heldout_squad, recipe.eval_questions, 1),
        "xquad_heldout_de": _sample([q for q in splits.heldout_xquad if q.source == "xquad-de"], recipe.eval_questions // 2, 2),
        "xquad_heldout_en": _sample([q for q in splits.heldout_xquad if q.source == "xquad-en"], recipe.eval_questions // 2, 3),
    }
    calibration = _sample(splits.calibration, recipe.eval_questions * 2, 4)

    def evaluate() -> dict:
        cut, rates = fit_threshold(calibration, question_scores(network, tokenizer, calibration, recipe.max_length, bf16))
        row = {"step": step, "epoch": round(step / steps_per_epoch, 3), "threshold": cut, "calibration": rates}
        for name, qs in eval_sets.items():
            row[name] = sentence_metrics(qs, question_scores(network, tokenizer, qs, recipe.max_length, bf16), cut)
        logger.info("eval %s", json.dumps(row))
        return row

    network.train()
    eval_every = max(1, steps_per_epoch // 2)
    if step == 0 and not curve and not trial_steps:
        curve.append(evaluate())
    started = time.perf_counter() - seconds
    running: list[float] = []
    # `until` ends at the evaluation (every half epoch) nearest to it, where a checkpoint was saved.
    last_step = min(total_steps, eval_every * max(1, round(until * steps_per_epoch / eval_every))) if until else total_steps
    while step < last_step:
        batch = [splits.train[i] for i in epoch_batches[step]]
        items = [item for q in batch for item in q.items]
        texts = [reader_text_pair(item) for item in items]
        enc = tokenizer([t[0] for t in texts], [t[1] for t in texts], padding=True, truncation="only_second",
                        max_length=recipe.max_length, return_tensors="pt", return_offsets_mapping=recipe.token_head)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, tokens = network.scores(enc["input_ids"], enc["attention_mask"])
        loss = question_loss(logits.float(), batch, null_logit, recipe.pointwise_weight)
        if tokens is not None:
            # Token-level target (the extractive-QA signal): where in the sentence the answer is, and that
            # no token of a non-answering sentence or of an unanswerable question's sentences is one.
            mask = enc["attention_mask"].bool()
            loss = loss + recipe.token_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                tokens.float()[mask], token_labels(enc, batch)[mask]
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params + [null_logit], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running.append(float(loss.detach()))
        if trial_steps and step >= trial_steps:
            logger.info("trial: %d steps in %.0f s", step, time.perf_counter() - started)
            return {}
        if step % 25 == 0:
            elapsed = time.perf_counter() - started
            logger.info("step %d/%d loss %.4f, %.1f pairs/s, %.0f s, null %.2f", step, total_steps, np.mean(running[-25:]),
                        len(items) * 25 / max(elapsed - getattr(train, "_last", 0.0), 1e-9), elapsed, float(null_logit))
            train._last = elapsed  # type: ignore[attr-defined]
        if step % eval_every == 0 or step == last_step:
            curve.append(evaluate())
            torch.save({"network": network.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                        "step": step, "curve": curve, "seconds": time.perf_counter() - started, "null": float(null_logit)}, checkpoint)
    seconds = time.perf_counter() - started
    final = curve[-1]
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(trained_state(network), str(out_dir / "reader.safetensors"))
    config = {
        "layers": recipe.layers,
        "max_length": recipe.max_length,
        "token_head": recipe.token_head,
        "threshold": final["threshold"],
        "provenance": {
            "script": "python -m training.reader",
            "recipe": recipe.__dict__,
            "init": str(init) if init is not None else None,
            "train_questions": len(splits.train),
            "train_pairs": pairs,
            "threshold": "balanced accuracy on the calibration titles (training.reader.fit_threshold)",
            "precision": "bf16" if bf16 else "fp32",
            "seconds": round(seconds, 1),
            "stopped_at_step": step,
            "total_steps": total_steps,
            "curve": curve,
        },
    }
    (out_dir / "reader.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return config


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, default=Path("../shared/datasets/squad"))
    parser.add_argument("--xquad", type=Path, default=Path("../shared/bench/xquad"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsbot-reader"), help="checkpoints (outside the repo)")
    parser.add_argument("--out", type=Path, default=READER_DIR)
    parser.add_argument("--model-cache", type=Path, default=Path("data/models"))
    parser.add_argument("--epochs", type=float, default=Recipe.epochs)
    parser.add_argument("--layers", type=int, default=Recipe.layers)
    parser.add_argument("--max-length", type=int, default=Recipe.max_length)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-token-head", dest="token_head", action="store_false", help="the session-8 recipe: pooled head only")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (speed trials)")
    parser.add_argument("--until", type=float, default=0.0, help="stop at this epoch and write the weights (schedule of --epochs)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="auto: bf16 where the CPU has bf16 units")
    parser.add_argument("--swap-negatives", type=float, default=Recipe.swap_negatives,
                        help="share of answerable questions given a swapped unanswerable twin (0: none)")
    parser.add_argument("--init", type=Path, default=None, help="continue from this reader weights folder")
    parser.add_argument("--learning-rate", type=float, default=Recipe.learning_rate)
    parser.add_argument("--head-learning-rate", type=float, default=Recipe.head_learning_rate)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    recipe = Recipe(layers=args.layers, epochs=args.epochs, max_length=args.max_length, token_head=args.token_head,
                    swap_negatives=args.swap_negatives, learning_rate=args.learning_rate,
                    head_learning_rate=args.head_learning_rate)  # fmt: skip
    train(args.squad, args.xquad, args.work, recipe, args.out, args.model_cache, args.max_steps, args.precision, args.until, args.init)


if __name__ == "__main__":
    main()
