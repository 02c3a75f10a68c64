"""docker-compose.yml cannot be run here (no Docker engine), so its shape is checked instead; the proxy's
configuration (deploy/nginx.conf) is run for real by a local nginx in front of two replicas."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from websockets.sync.client import connect

from tests.conftest import LiveServer, free_port, make_settings
from tests.delivery.webhook_receiver import angry, start, wait_for
from tests.fakes import KeywordScorer

ROOT = Path(__file__).resolve().parent.parent


def test_compose_wires_redis_two_replicas_and_the_proxy() -> None:
    """Redis runs with AOF and a healthcheck; two identical replicas build here, wait for healthy Redis and get its
    URL; nginx waits for both to be healthy, publishes port 8000 and proxies to exactly those two."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    replicas = [name for name in services if name.startswith("calmwatch")]
    assert replicas == ["calmwatch-1", "calmwatch-2"] and services["calmwatch-1"] == services["calmwatch-2"]
    app = services["calmwatch-1"]
    assert app["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["CALMWATCH_REDIS_URL"].startswith("redis://redis:6379")
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    assert "ports" not in app, "only the proxy is published"
    # the container listens on 0.0.0.0, where Calmwatch refuses to run open: compose must pass an admin key
    assert app["environment"]["CALMWATCH_ADMIN_KEY"].startswith("${CALMWATCH_ADMIN_KEY:?")
    proxy = services["proxy"]
    assert proxy["ports"] == ["8000:8000"]
    assert {name: dep["condition"] for name, dep in proxy["depends_on"].items()} == dict.fromkeys(
        replicas, "service_healthy"
    )
    mounted = proxy["volumes"][0].split(":")
    assert mounted[:2] == ["./deploy/nginx.conf", "/etc/nginx/nginx.conf"] and (ROOT / mounted[0]).is_file()
    upstreams = re.findall(r"^\s*server (\S+):8000", (ROOT / "deploy" / "nginx.conf").read_text(), re.MULTILINE)
    assert upstreams == replicas


NGINX = "/usr/sbin/nginx"


@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason=f"needs {NGINX} (apt nginx-light)")
def test_the_proxy_config_serves_rest_and_websockets_and_survives_a_replica(flushed_redis: str, tmp_path: Path) -> None:
    """deploy/nginx.conf itself, run by a real nginx in front of two real replicas on one Redis (only the two
    upstream addresses and the port are changed): REST and a live alert feed pass through it, and with one
    replica stopped every request is still answered by the other."""
    port = free_port()
    with (
        LiveServer(make_settings(flushed_redis), KeywordScorer()) as one,
        LiveServer(make_settings(flushed_redis), KeywordScorer()) as two,
    ):
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        conf = conf.replace("calmwatch-1:8000", f"127.0.0.1:{one.port}").replace(
            "calmwatch-2:8000", f"127.0.0.1:{two.port}"
        )
        conf = conf.replace("listen 8000;", f"listen 127.0.0.1:{port};").replace(
            "worker_processes auto;", "worker_processes 1;"
        )
        (tmp_path / "nginx.conf").write_text(conf)
        (tmp_path / "logs").mkdir()
        args = ["-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "logs" / "error.log")]
        checked = subprocess.run(
            [NGINX, "-t", *args, "-g", f"pid {tmp_path}/nginx.pid;"], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        proxy = subprocess.Popen([NGINX, *args, "-g", f"daemon off; pid {tmp_path}/nginx.pid;"])
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _answers(f"{base}/readyz"), what="nginx to proxy")
            with httpx.Client(base_url=base, timeout=10) as client, connect(f"ws://127.0.0.1:{port}/v1/alerts") as feed:
                start(client, "c1")
                alerts = angry(client, "c1")
                envelope = json.loads(feed.recv(timeout=10))
                assert envelope["type"] == "alert" and envelope["alert"]["id"] == alerts[0]["id"]
                one.__exit__()  # one replica goes away; nginx skips it
                answers = [client.get("/v1/alerts").status_code for _ in range(6)]
                for n in range(2, 6):
                    r = client.post("/v1/messages", json={"conversation_id": "c1", "message_id": f"m{n}",
                                                          "role": "customer", "text": "ok"})  # fmt: skip
                    answers.append(r.status_code)
                assert answers == [200] * 10
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_dockerfile_installs_the_wheel_without_torch() -> None:
    """The image builds a wheel (artifact and rules inside) and installs it: no editable checkout, no torch."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY models/artifact" in dockerfile and "COPY rules" in dockerfile
    assert "pip wheel --no-deps" in dockerfile and "pip install /wheels/*.whl" in dockerfile
    assert "pip install -e" not in dockerfile
    assert "torch" not in dockerfile.replace("no torch", "")
