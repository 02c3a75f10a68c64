"""The README's examples run as written against a real service: the curl calls of "Try it" and the Python client
example (the only change: the test service's address in place of ``localhost:8000``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, make_settings

pytestmark = pytest.mark.model

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def served(flushed_redis: str) -> Iterator[LiveServer]:
    """The service as `make run` has it: the shipped model (the README's claims are about its scores)."""
    with LiveServer(make_settings(flushed_redis), None) as server:
        yield server


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def try_it_block() -> str:
    return next(b for b in blocks("bash") if "curl" in b)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_calls_of_try_it_work(served: LiveServer) -> None:
    """Each curl call of "Try it" answers JSON: the conversation, the scored message with its alerts, the alerts."""
    script = try_it_block().replace("localhost:8000", served.http.removeprefix("http://"))
    lines = [line for line in script.replace("\\\n", " ").splitlines() if line.strip()]
    answers = [
        json.loads(subprocess.run(line, shell=True, check=True, capture_output=True, text=True).stdout)
        for line in lines
    ]
    started, scored, alerts = answers
    assert started["conversation_id"] == "c1"
    assert {"anger", "frustration"} <= {a["rule"] for a in scored["alerts"]}
    assert {a["rule"] for a in alerts} == {a["rule"] for a in scored["alerts"]}


def test_the_python_example_runs_as_written(served: LiveServer) -> None:
    """The README's Python example runs unchanged in a fresh interpreter and prints the scores and alerts."""
    [example] = blocks("python")
    env = {**os.environ, "CALMWATCH_URL": served.http, "PYTHONPATH": str(README.parent)}
    env.pop("CALMWATCH_KEY", None)
    done = subprocess.run([sys.executable, "-c", example], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    anger, rules = done.stdout.split(" ", 1)
    assert float(anger) > 0.5 and "anger" in rules
