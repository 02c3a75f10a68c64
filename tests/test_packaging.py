"""``pip install .`` works anywhere: a wheel built from the checkout serves and scores from outside it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv in a temp dir holding only the wheel; dependencies are borrowed from the test environment
    through a .pth line (this checks the package is self-contained, not that PyPI resolves)."""
    tmp = tmp_path_factory.mktemp("wheel")
    # built from a copy of what the wheel needs, so a stale build/ in the checkout cannot leak into it
    src = tmp / "src"
    for name in ("pyproject.toml", "README.md"):
        src.mkdir(exist_ok=True)
        shutil.copy(REPO_ROOT / name, src / name)
    shutil.copytree(REPO_ROOT / "monitor", src / "monitor", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "rules", src / "rules")
    shutil.copytree(REPO_ROOT / "models" / "artifact", src / "models" / "artifact")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
         str(src)],
        check=True, cwd=tmp,
    )  # fmt: skip
    [wheel] = (tmp / "dist").glob("calmwatch-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    (Path(site) / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], check=True
    )
    return venv


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMWATCH_") and k != "PYTHONPATH"}
    env["CALMWATCH_STATE_DIR"] = str(tmp / "state")
    return env


def test_the_package_is_imported_from_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    """From a directory outside the checkout, ``monitor`` and its data files come from the venv."""
    code = (
        "import monitor; from monitor.settings import default_rules_dir; "
        "from monitor.scoring.artifact import default_artifact_dir; "
        "print(monitor.__file__); print(default_rules_dir()); "
        "print(sorted(p.name for p in default_artifact_dir().iterdir()))"
    )
    out = subprocess.run([installed / "bin" / "python", "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=_env(tmp_path)).stdout.splitlines()  # fmt: skip
    assert out[0].startswith(str(installed)) and not out[0].startswith(str(REPO_ROOT))
    assert (Path(out[1]) / "default.yaml").is_file() and out[1].startswith(str(installed))
    assert out[2] == str(["calmwatch.json", "model.onnx", "tokenizer.json"])


def test_calmwatch_score_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """``calmwatch score`` loads the packaged ONNX artifact and prints one JSON record per line."""
    result = subprocess.run(
        [installed / "bin" / "calmwatch", "score"], input="I am furious with you\nthank you!\n", capture_output=True,
        text=True, cwd=tmp_path, env=_env(tmp_path), timeout=120, check=True,
    )  # fmt: skip
    angry, thanks = (json.loads(line) for line in result.stdout.splitlines())
    assert angry["anger"] > thanks["anger"] and len(angry["emotions"]) == 28


def test_calmwatch_serve_from_the_wheel_gets_ready_and_stops(installed: Path, tmp_path: Path) -> None:
    """``calmwatch serve`` from the wheel (embedded Redis, packaged model and rules) answers /readyz, then stops
    cleanly on SIGTERM."""
    port = _free_port()
    proc = subprocess.Popen(
        [installed / "bin" / "calmwatch", "serve", "--port", str(port)], cwd=tmp_path, env=_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    ready = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.5)
        assert ready is not None, proc.stdout.read() if proc.stdout and proc.poll() is not None else "not ready"
        assert ready["scorer"] == "model"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
