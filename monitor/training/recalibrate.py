"""Refit an artifact's dev-fitted parts (emotion thresholds, anger and frustration calibration) on its own weights.

    python -m monitor.training.recalibrate --artifact models/artifact --data ../shared/data

What ``calmwatch train`` does after its last epoch, without the training: read the dev splits, run the artifact's
weights (torch, fp32) over them, and fit the thresholds and the two calibrations with the recipe's code. For when
the calibration recipe changes and the weights do not; the graph, the weights and their checksums stay as they
are, and ``calmwatch.json`` records when and with what it was refitted (``training.recalibrated``). Needs the train
extra (torch).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from monitor.scoring.artifact import ArtifactMeta, read_meta
from monitor.training import recipe
from monitor.training.export import load_weights


def recalibrate(artifact_dir: Path, data_dir: Path, threads: int = 2) -> ArtifactMeta:
    """Refit and rewrite ``calmwatch.json`` in ``artifact_dir``; returns the new metadata."""
    import torch

    torch.set_num_threads(threads)
    meta = read_meta(artifact_dir)
    model = load_weights(artifact_dir, meta)
    tokenizer = recipe.load_tokenizer()
    n_features = len(meta.emphasis_features)
    dev = recipe.encode(
        recipe.read_all(data_dir, "dev", None), tokenizer, meta.max_length, n_features > 0, meta.text_normalization
    )
    logits = recipe.predict_logits(model, dev, int(tokenizer.pad_token_id), progress="dev")
    fitted = recipe.fit_on_dev(dev, logits, n_features)
    before = {"anger": meta.anger.to_json(), "frustration": meta.frustration.to_json()}
    meta.thresholds, meta.anger, meta.frustration = fitted.thresholds, fitted.anger, fitted.frustration
    meta.training = {
        **meta.training,
        **fitted.training,
        "recalibrated": {
            "at": time.strftime("%Y-%m-%d", time.gmtime()),
            "operating_point_tolerance": dict(recipe.OPERATING_POINT_TOLERANCE),
            "calibration_before": before,
        },
    }
    meta.write(artifact_dir)
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=Path("models/artifact"), help="artifact directory")
    parser.add_argument("--data", type=Path, required=True, help="folder holding goemotions/, complaints-xci/, ...")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    meta = recalibrate(args.artifact, args.data, args.threads)
    print(f"{args.artifact}: anger {meta.anger.to_json()}, frustration {meta.frustration.to_json()}")


if __name__ == "__main__":
    main()
