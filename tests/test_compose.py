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


def test_dockerfile_pins_cpu_torch_and_ships_the_model() -> None:
    """The image pins torch 2.13.0 and copies the model artifact and rules it needs offline."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in dockerfile
    assert "COPY models" in dockerfile and "COPY rules" in dockerfile
    assert "HF_HUB_OFFLINE=1" in dockerfile
    # settings find models/artifact and rules/ beside the package, so the image must not copy it to site-packages
    assert "pip install -e ." in dockerfile
