"""Issue 20, item 15: ``/docs`` loads nothing from outside the service, so an offline install has API docs."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import httpx
import pytest

from monitor.api.docs import swagger_ui_dir
from tests.faults.processes import Service

_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.slow
def test_docs_reference_only_the_service_and_every_asset_loads() -> None:
    """Every script, stylesheet and icon /docs names is served by the service itself (none from a CDN)."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp, Service(Path(tmp)) as service:
        page = httpx.get(f"{service.http}/docs", timeout=10)
        references = [a or b for a, b in _REFERENCES.findall(page.text)]
        assert not [ref for ref in references if re.match(r"(?:https?:)?//", ref)], references
        if swagger_ui_dir() is None:  # without the package the page says so, and still names no CDN
            assert page.status_code == 503 and "swagger-ui-bundle" in page.text
            return
        assert page.status_code == 200
        assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= set(references)
        for ref in references:
            asset = httpx.get(f"{service.http}{ref}", timeout=10)
            assert asset.status_code == 200 and asset.content, ref
        assert httpx.get(f"{service.http}/redoc", timeout=10).status_code == 404  # no second, CDN-backed page
