"""The model's speed, runtime against runtime, in one run on the same turns (a benchmark, not a test).

    .venv/bin/python bench/bench_model.py --conversations ../shared/data/support-conversations/conversations.json

On the same turns, with the same intra-op thread count (``--threads``, default: every core this process may use):

(a) raw ``tokenize + forward`` at batch sizes 1, 8 and 32 for torch fp32 (the network the recipe trains), ONNX
    Runtime fp32 (exported on the fly from the same weights) and ONNX Runtime int8 (the graph the service ships);
(b) the service's scorer path, ``MicroBatcher`` over each runtime's scorer at saturation (every turn queued at
    once, the service's default batch settings), so "service scorer, ONNX" against "service scorer, torch fp32"
    is measured side by side, alternated round by round so drift in the machine's speed hits both alike;
(c) the ONNX scorer under an open-loop offered load of 25, 50, 100 and 200 turns/s for micro-batch sizes
    ``--max-batch`` (default 8 16 32), to choose ``CALMWATCH_BATCH_MAX_SIZE``.

Turns: the support conversations' messages when ``--conversations`` is given (real turns, customer and agent),
else ``models/eval/customer_service.jsonl``. Writes ``bench/results.json``; the load average before and after is
recorded with the numbers (the machine may be shared: read them together).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monitor.schemas import TurnScores
from monitor.scoring.artifact import default_artifact_dir, read_meta
from monitor.scoring.batching import MicroBatcher
from monitor.scoring.chunking import TOKEN_BUDGET, padded_chunks
from monitor.scoring.cpu import cpu_info
from monitor.scoring.emphasis import emphasis_features
from monitor.scoring.normalize import model_text
from monitor.scoring.onnx_model import OnnxEmotionScorer, scores_from_logits
from monitor.scoring.vader import VaderSentiment
from monitor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class TorchScorer:
    """The trained network on torch fp32 with the service's chunking and post-processing (the old serving path)."""

    name = "model"

    def __init__(self, artifact: Path, threads: int) -> None:
        import torch

        from monitor.training.export import load_weights
        from monitor.training.recipe import load_tokenizer

        torch.set_num_threads(threads)
        self.meta = read_meta(artifact)
        self.model = load_weights(artifact, self.meta)
        self._tokenizer = load_tokenizer()
        self._vader = VaderSentiment()

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = [model_text(t, self.meta.text_normalization) for t in texts]
        ids: list[list[int]] = self._tokenizer(texts, truncation=True, max_length=self.meta.max_length)["input_ids"]
        feats = torch.tensor([emphasis_features(t) for t in texts], dtype=torch.float32)
        out = np.zeros((len(texts), len(self.meta.outputs)), dtype=np.float32)
        with torch.inference_mode():
            for rows, input_ids, mask in padded_chunks(ids, TOKEN_BUDGET, 0):
                out[rows] = self.model(torch.from_numpy(input_ids), torch.from_numpy(mask), feats[rows]).numpy()
        return out

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        return scores_from_logits(self.meta, texts, self.logits(texts), self._vader) if texts else []


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_raw(logits: Callable[[Sequence[str]], Any], texts: Sequence[str], seconds: float) -> dict[str, Any]:
    """Back-to-back batches at sizes 1, 8, 32 over the turns in order; median of 3 interleaved rounds."""
    sizes = (1, 8, 32)
    per: dict[int, list[float]] = {s: [] for s in sizes}
    for _ in range(3):
        for size in sizes:
            logits(texts[:size])
            turns, i, started = 0, 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 3:
                logits([texts[(i + k) % len(texts)] for k in range(size)])
                i += size
                turns += size
            per[size].append(turns / (time.perf_counter() - started))
    return {str(s): round(statistics.median(v), 1) for s, v in per.items()}


async def saturation(scorers: dict[str, Any], texts: Sequence[str], settings: Settings) -> dict[str, Any]:
    """Every turn queued at once on a MicroBatcher over each scorer, alternating scorers round by round."""
    batchers = {name: MicroBatcher.from_settings(s, settings) for name, s in scorers.items()}
    for b in batchers.values():
        await b.start()
        await b.score("warm-up")
    turns = list(texts[: min(len(texts), settings.score_queue_max)])
    rounds: dict[str, list[float]] = {name: [] for name in scorers}
    for _ in range(3):
        for name, b in batchers.items():
            t0 = time.perf_counter()
            await asyncio.gather(*(b.score(t) for t in turns))
            rounds[name].append(len(turns) / (time.perf_counter() - t0))
    for b in batchers.values():
        await b.aclose()
    return {name: {"turns_per_s": round(statistics.median(v), 1), "rounds": [round(x, 1) for x in v]}
            for name, v in rounds.items()}  # fmt: skip


async def offered(scorer: Any, texts: Sequence[str], settings: Settings, rate: float, seconds: float) -> dict[str, Any]:
    """Open-loop arrivals at ``rate`` turns/s through a MicroBatcher; latency per turn, mean batch."""
    batcher = MicroBatcher.from_settings(scorer, settings)
    await batcher.start()
    await batcher.score("warm-up")
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    refused = 0

    async def one(text: str) -> None:
        nonlocal refused
        t0 = time.perf_counter()
        try:
            await batcher.score(text)
        except Exception:
            refused += 1
            return
        latencies.append(time.perf_counter() - t0)

    n = max(1, int(rate * seconds))
    start = loop.time()
    tasks = []
    for k in range(n):
        delay = start + k / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(texts[k % len(texts)])))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    stats = batcher.stats
    await batcher.aclose()
    return {
        "offered_per_s": rate,
        "answered_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * pct(latencies, 50), 1),
        "p99_ms": round(1000 * pct(latencies, 99), 1),
        "mean_batch": round(stats.mean_batch, 2),
        "refused": refused,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="duration of each measurement")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: usable cores)")
    parser.add_argument("--turns", type=int, default=384, help="how many turns to use")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--model", type=Path, default=None, help="artifact directory (default: the packaged one)")
    parser.add_argument("--conversations", type=Path, help="support-conversations JSON: bench on its turns")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[8, 16, 32], help="micro-batch sizes to compare")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch rows (no train extra installed)")
    args = parser.parse_args(argv)
    cpu = cpu_info()
    threads = args.threads or cpu.cores
    if args.conversations:
        dialogs = json.loads(args.conversations.read_text())
        texts = [t["message"] for d in dialogs for t in d["dialogContent"] if t["message"].strip()]
    else:
        texts = [json.loads(line)["text"] for line in (ROOT / "models/eval/customer_service.jsonl").open()]
    texts = texts[: args.turns]
    artifact = args.model or default_artifact_dir()
    result: dict[str, Any] = {
        "machine": {
            "cpu": cpu.summary(),
            "threads": threads,
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "turns_from": str(args.conversations or "models/eval/customer_service.jsonl"),
        "turns": len(texts),
    }
    int8 = OnnxEmotionScorer(artifact, threads=threads)
    scorers: dict[str, Any] = {f"onnx {int8.precision}": int8}
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_torch:
            torch_scorer = TorchScorer(artifact, threads)
            from monitor.training.export import export_fp32

            fp32_path = Path(tmp) / "fp32.onnx"
            export_fp32(torch_scorer.model, fp32_path)
            fp32 = OnnxEmotionScorer(artifact, threads=threads, graph=fp32_path, precision="fp32")
            raw["torch fp32"] = bench_raw(torch_scorer.logits, texts, args.seconds)
            raw["onnx fp32"] = bench_raw(fp32.logits, texts, args.seconds)
            scorers = {"torch fp32": torch_scorer, **scorers}
        raw[f"onnx {int8.precision}"] = bench_raw(int8.logits, texts, args.seconds)
        for name, row in raw.items():
            print(f"raw {name}: {row}", file=sys.stderr)
        settings = Settings()
        result["raw_turns_per_s"] = raw
        result["service_saturated"] = asyncio.run(saturation(scorers, texts, settings))
        print(f"service saturated: {result['service_saturated']}", file=sys.stderr)
    if "torch fp32" in scorers:
        onnx_name = f"onnx {int8.precision}"
        sat = result["service_saturated"]
        result["service_onnx_over_torch"] = round(sat[onnx_name]["turns_per_s"] / sat["torch fp32"]["turns_per_s"], 2)
    result["offered"] = []
    for max_batch in args.max_batch:
        settings = Settings(batch_max_size=max_batch)
        for rate in (25, 50, 100, 200):
            row = {"max_batch": max_batch, **asyncio.run(offered(int8, texts, settings, rate, args.seconds))}
            result["offered"].append(row)
            print(f"offered: {row}", file=sys.stderr)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("raw_turns_per_s", "service_saturated") if k in result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
