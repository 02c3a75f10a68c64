"""Prometheus metrics and structured logs.

Metrics live in a registry per app (not the global one) so several apps in one test process do not collide.
Logs go through structlog: JSON lines when stderr is not a terminal (containers, CI), coloured otherwise;
conversation and message ids are bound to the log context by the pipeline.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from structlog.types import EventDict


class Metrics:
    """Every metric the service exports at ``/metrics``; also the pipeline's observer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns_scored = Counter(
            "calmwatch_turns_scored_total", "Chat turns scored", ["role"], registry=self.registry
        )
        self.alerts_raised = Counter(
            "calmwatch_alerts_total", "Alerts raised", ["rule", "severity"], registry=self.registry
        )
        self.scoring_latency = Histogram(
            "calmwatch_scoring_latency_seconds",
            "Time from a turn entering the scorer queue to its scores",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.ingest_errors = Counter(
            "calmwatch_ingest_errors_total", "Rejected connector events", ["code"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "calmwatch_queue_depth", "Items waiting in a bounded queue", ["queue"], registry=self.registry
        )
        self.websocket_clients = Gauge(
            "calmwatch_websocket_clients", "Connected websocket clients", ["endpoint"], registry=self.registry
        )

    def turn_scored(self, role: str, seconds: float) -> None:
        self.turns_scored.labels(role=role).inc()
        self.scoring_latency.observe(seconds)

    def alert_raised(self, rule: str, severity: str) -> None:
        self.alerts_raised.labels(rule=rule, severity=severity).inc()

    def track_queue(self, name: str, depth: Callable[[], float]) -> None:
        """Read the depth at scrape time, so a gauge never goes stale."""
        self.queue_depth.labels(queue=name).set_function(depth)


# What a credential looks like in a log line: an API key or token by its prefix, a credential in a query string
# (uvicorn logs websocket paths with theirs: ``?token=...``), and a bearer header value.
_CREDENTIALS = [
    (re.compile(r"\b(cw[kt]_)[A-Za-z0-9_\-.=]+"), r"\1***"),
    (re.compile(r"(?i)\b((?:token|key|api_key|access_token|secret)=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',]+"), r"\1***"),
]


def redact(text: str) -> str:
    """``text`` with every credential in it replaced by ``***`` (the prefix kept, so a reader sees what it was)."""
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def redact_credentials(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: :func:`redact` every text value, whoever logged it (uvicorn's lines included)."""
    for name, value in event_dict.items():
        if isinstance(value, str):
            event_dict[name] = redact(value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Route stdlib and structlog logs to stderr in one format; ``auto`` picks JSON unless on a terminal."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    # The console renderer draws exceptions itself; JSON needs them turned into text first, or a log line says
    # only ``"exc_info": true`` (no type, message or traceback).
    renderers: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info, redact_credentials, structlog.processors.JSONRenderer()]
        if use_json
        else [redact_credentials, structlog.dev.ConsoleRenderer()]
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
