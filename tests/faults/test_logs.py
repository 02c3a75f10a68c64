"""Issue 20, item 14: JSON logs (the default off a terminal) carry an exception's type, message and traceback."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import REPO_ROOT

_PROGRAM = """
import logging, structlog
from monitor.observability import configure_logging
configure_logging("INFO", "json")
try:
    {}["missing-key"]
except KeyError:
    structlog.get_logger("pipeline").exception("structlog failure", conversation_id="c1")
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
"""


def test_json_logs_render_exceptions_from_structlog_and_stdlib_loggers() -> None:
    """Both kinds of logger write the exception's type, message and traceback into the JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [r["event"] for r in records] == ["structlog failure", "Exception in ASGI application"]
    for record in records:
        assert "Traceback (most recent call last)" in record["exception"]
        assert "KeyError: 'missing-key'" in record["exception"]
        assert "exc_info" not in record
    assert records[0]["conversation_id"] == "c1"
