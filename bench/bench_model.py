"""Throughput and latency of the emotion model, three ways, in one run on one machine (not a test).

    .venv/bin/python bench/bench_model.py                # ~2 minutes; writes bench/results.json

(a) raw: ``tokenize + forward`` (``EmotionScorer.logits``) at batch sizes 1..64, back to back;
(b) service: the service's scorer path, ``MicroBatcher(load_scorer())`` with the default settings
    (max batch 32, queue 1024, max wait ``CALMWATCH_BATCH_MAX_WAIT_MS``), under an open-loop offered load of
    10, 50 and 200 turns/s (arrivals on a fixed schedule, never waiting for answers), and at saturation (all
    turns at once). ``--max-wait-ms 0 1 5`` compares several max waits: at each rate the values run one after
    another, so drift in the shared machine's speed hits them alike;
(c) naive: a stock ``transformers.pipeline("text-classification")`` over the same fine-tuned encoder,
    called one message at a time.

Turns come from ``models/eval/customer_service.jsonl`` (short chat turns, like the service sees), or with
``--conversations`` from the support-conversations JSON (real turns, customer and agent, about three times
longer; ``--out bench/results_support.json`` keeps both results). The machine is shared: the load average
before and after is recorded with the numbers, read them together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from monitor.batching import MicroBatcher
from monitor.emotion_model import EmotionScorer, load_scorer
from monitor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """Current resident set size of this process, in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(latencies_s: Sequence[float], turns: int, elapsed_s: float) -> dict[str, float]:
    return {
        "turns": turns,
        "turns_per_s": round(turns / elapsed_s, 1),
        "p50_ms": round(1000 * pct(latencies_s, 50), 2),
        "p99_ms": round(1000 * pct(latencies_s, 99), 2),
    }


def bench_raw(scorer: EmotionScorer, texts: Sequence[str], seconds: float, rounds: int = 3) -> dict[str, Any]:
    """Back-to-back batches at each size; latency is per batch (what a turn in that batch waits).

    The sizes are measured in ``rounds`` interleaved rounds of ``seconds / rounds`` each and the median round
    is reported, so a burst of load from another process spoils one round, not a whole batch size.
    """
    sizes = (1, 2, 4, 8, 16, 32, 64)
    per_size: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
    for _ in range(rounds):
        for size in sizes:
            scorer.logits(texts[:size])  # warm-up
            latencies, turns, i = [], 0, 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds / rounds:
                batch = [texts[(i + k) % len(texts)] for k in range(size)]
                i += size
                t0 = time.perf_counter()
                scorer.logits(batch)
                latencies.append(time.perf_counter() - t0)
                turns += size
            per_size[size].append(summary(latencies, turns, time.perf_counter() - started))
    out = {}
    for size, results in per_size.items():
        median = sorted(results, key=lambda r: r["turns_per_s"])[len(results) // 2]
        out[str(size)] = {**median, "rounds_turns_per_s": [r["turns_per_s"] for r in results]}
        print(f"raw batch {size:>2}: {out[str(size)]}", file=sys.stderr)
    return out


async def _offered_load(batcher: MicroBatcher, texts: Sequence[str], rate: float, seconds: float) -> dict[str, Any]:
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
    batches_before, turns_before = batcher.stats.batches, batcher.stats.turns
    start = loop.time()
    tasks = []
    for k in range(n):
        delay = start + k / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(texts[k % len(texts)])))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    result = summary(latencies, len(latencies), elapsed)
    batches = batcher.stats.batches - batches_before
    result["mean_batch"] = round((batcher.stats.turns - turns_before) / max(1, batches), 2)
    result["refused"] = refused
    return result


async def bench_service(
    scorer: EmotionScorer, texts: Sequence[str], seconds: float, max_waits_ms: Sequence[float]
) -> dict[str, Any]:
    settings = Settings()
    out: dict[str, Any] = {
        "settings": {
            "max_batch": settings.batch_max_size,
            "max_wait_ms": settings.batch_max_wait_ms,
            "max_queue": settings.score_queue_max,
        },
        "offered": [],
    }
    for rate in (10, 50, 200):
        for wait_ms in max_waits_ms:
            batcher = MicroBatcher.from_settings(scorer, settings.model_copy(update={"batch_max_wait_ms": wait_ms}))
            await batcher.start()
            await batcher.score("warm-up")
            measured = await _offered_load(batcher, texts, rate, seconds)
            result = {"max_wait_ms": wait_ms, "offered_per_s": rate, **measured}
            await batcher.aclose()
            out["offered"].append(result)
            print(f"service: {result}", file=sys.stderr)
    batcher = MicroBatcher.from_settings(scorer, settings)
    await batcher.start()
    # saturation, paired with the raw model on the very same turns and alternated round by round, so that
    # load from other processes on a shared machine hits both sides alike; the ratio is the median's
    n = min(batcher.max_queue, 1000)
    turns = [texts[k % len(texts)] for k in range(n)]
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        for start in range(0, n, batcher.max_batch):
            scorer.logits(turns[start : start + batcher.max_batch])
        raw_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        await asyncio.gather(*(batcher.score(text) for text in turns))
        service_s = time.perf_counter() - t0
        rounds.append({"raw_turns_per_s": round(n / raw_s, 1), "service_turns_per_s": round(n / service_s, 1)})
        print(f"saturation round: {rounds[-1]}", file=sys.stderr)
    ratios = [r["service_turns_per_s"] / r["raw_turns_per_s"] for r in rounds]
    out["saturated"] = {
        "turns": n,
        "rounds": rounds,
        "turns_per_s": statistics.median(r["service_turns_per_s"] for r in rounds),
        "raw_same_turns_per_s": statistics.median(r["raw_turns_per_s"] for r in rounds),
        "service_over_raw": round(statistics.median(ratios), 3),
    }
    await batcher.aclose()
    return out


def bench_naive(scorer: EmotionScorer, texts: Sequence[str], seconds: float) -> dict[str, Any]:
    """A stock transformers pipeline over the same encoder weights, one message per call."""
    from transformers import BertConfig, BertForSequenceClassification, pipeline

    from monitor.emotion_model import base_model_dir

    labels = scorer.meta.outputs  # the naive pipeline runs the same head: labels and any group outputs
    config = BertConfig.from_pretrained(
        str(base_model_dir()),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification",
    )
    hf = BertForSequenceClassification(config)
    hf.bert.load_state_dict(scorer.model.encoder.state_dict(), strict=False)  # the pooler stays random
    hf.classifier.load_state_dict(scorer.model.head.state_dict())
    hf.eval()
    classify = pipeline("text-classification", model=hf, tokenizer=scorer._tokenizer, top_k=None, device=-1)
    classify(texts[0])
    latencies = []
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        classify(texts[i % len(texts)])
        latencies.append(time.perf_counter() - t0)
        i += 1
    return summary(latencies, i, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--model", type=Path, default=None, help="artifact directory (default: models/artifact)")
    parser.add_argument("--conversations", type=Path, help="support-conversations JSON: bench on its dialog turns")
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        nargs="+",
        default=[Settings().batch_max_wait_ms],
        help="micro-batching max waits to compare under offered load (default: the service's setting)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.conversations:
        dialogs = json.loads(args.conversations.read_text())
        texts = [turn["message"] for dialog in dialogs for turn in dialog["dialogContent"] if turn["message"].strip()]
    else:
        texts = [json.loads(line)["text"] for line in (ROOT / "models/eval/customer_service.jsonl").open()]
    rss_start = rss_mb()
    t0 = time.perf_counter()
    scorer = load_scorer(args.model)
    assert isinstance(scorer, EmotionScorer)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "turns_from": str(args.conversations or "models/eval/customer_service.jsonl"),
        "model_load_s": round(load_s, 2),
        "rss_mb": {"before_load": round(rss_start), "model_loaded": round(rss_loaded)},
    }
    result["raw"] = bench_raw(scorer, texts, args.seconds)
    result["service"] = asyncio.run(bench_service(scorer, texts, args.seconds, args.max_wait_ms))
    result["naive_pipeline"] = bench_naive(scorer, texts, args.seconds)
    print(f"naive pipeline: {result['naive_pipeline']}", file=sys.stderr)
    best_raw = max(v["turns_per_s"] for v in result["raw"].values())
    result["ratios"] = {
        "service_over_raw_same_turns_paired": result["service"]["saturated"]["service_over_raw"],
        "service_saturated_over_best_raw": round(result["service"]["saturated"]["turns_per_s"] / best_raw, 3),
        "service_saturated_over_raw_batch_32": round(
            result["service"]["saturated"]["turns_per_s"] / result["raw"]["32"]["turns_per_s"], 3
        ),
        "service_saturated_over_naive": round(
            result["service"]["saturated"]["turns_per_s"] / result["naive_pipeline"]["turns_per_s"], 2
        ),
        "best_raw_over_naive": round(best_raw / result["naive_pipeline"]["turns_per_s"], 2),
    }
    result["rss_mb"]["end"] = round(rss_mb())
    result["rss_mb"]["peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("ratios", "rss_mb", "model_load_s", "machine")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
