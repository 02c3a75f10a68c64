"""``calmwatch score``: stdin or --input (JSONL or plain lines) to one JSON object per turn on stdout."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitor.cli import main
from tests.tiny_models import build_tiny_hf_model

KEYS = {"text", "anger", "frustration", "sentiment", "emotions"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HF classifier directory standing in for CALMWATCH_MODEL_PATH."""
    return build_tiny_hf_model(tmp_path_factory.mktemp("tiny") / "model")


def _records(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_jsonl_and_plain_lines_from_a_file(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file mixing JSONL objects and plain lines gives one record per non-blank line, in order."""
    source = tmp_path / "turns.jsonl"
    source.write_text('{"text": "the order is late", "id": 1}\n\nthanks you are great\n{"text": "nobody cares"}\n')
    assert main(["score", "--model", str(tiny_model), "--input", str(source), "--batch-size", "2"]) == 0
    captured = capsys.readouterr()
    records = _records(captured.out)
    assert [r["text"] for r in records] == ["the order is late", "thanks you are great", "nobody cares"]
    for record in records:
        assert set(record) == KEYS
        assert 0 <= record["anger"] <= 1 and 0 <= record["frustration"] <= 1  # type: ignore[operator]
        assert isinstance(record["emotions"], dict) and set(record["emotions"]) == {"anger", "joy", "annoyance"}
    assert "3/3" in captured.err  # the progress bar on stderr reached the end


def test_stdin_with_the_model_from_the_environment(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lines on stdin are scored with the model that CALMWATCH_MODEL_PATH names."""
    monkeypatch.setenv("CALMWATCH_MODEL_PATH", str(tiny_model))
    monkeypatch.setattr("sys.stdin", io.StringIO("i am so angry\ni am so happy\n"))
    assert main(["score"]) == 0
    records = _records(capsys.readouterr().out)
    assert [r["text"] for r in records] == ["i am so angry", "i am so happy"]
    assert records[1]["sentiment"] > 0.3  # type: ignore[operator]  # VADER's compound for "happy"


def test_missing_model_or_input_exits_2_with_a_message(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing model directory or input file is a one-line error and exit status 2, not a traceback."""
    assert main(["score", "--model", str(tmp_path / "none"), "--input", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", "--model", str(tiny_model), "--input", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.model
def test_real_model_on_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the command: an openly angry complaint scores high anger, a polite thank-you low."""
    monkeypatch.delenv("CALMWATCH_MODEL_PATH", raising=False)
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("You people are useless and I am furious about this\nThanks so much for your help!\n")
    )
    assert main(["score"]) == 0
    angry, thanks = _records(capsys.readouterr().out)
    assert angry["anger"] > 0.5 > thanks["anger"]  # type: ignore[operator]
    assert len(angry["emotions"]) == 28  # type: ignore[arg-type]
