"""docker-compose.yml cannot be run here (no Docker engine), so its shape is checked instead."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_wires_redis_and_calmwatch() -> None:
    """Redis runs with AOF and a healthcheck; calmwatch builds here, waits for healthy Redis and gets its URL."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis, app = compose["services"]["redis"], compose["services"]["calmwatch"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    assert app["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["CALMWATCH_REDIS_URL"].startswith("redis://redis:6379")
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    # the container listens on 0.0.0.0, where Calmwatch refuses to run open: compose must pass an admin key
    assert app["environment"]["CALMWATCH_ADMIN_KEY"].startswith("${CALMWATCH_ADMIN_KEY:?")


def test_dockerfile_installs_the_wheel_without_torch() -> None:
    """The image builds a wheel (artifact and rules inside) and installs it: no editable checkout, no torch."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY models/artifact" in dockerfile and "COPY rules" in dockerfile
    assert "pip wheel --no-deps" in dockerfile and "pip install /wheels/*.whl" in dockerfile
    assert "pip install -e" not in dockerfile
    assert "torch" not in dockerfile.replace("no torch", "")
