"""One :class:`Settings` object for the whole service, read from ``CALMWATCH_*`` environment variables.

Created by a factory (``Settings()`` in the CLI, explicit values in tests), never at import, so tests can
run several differently-configured services in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_state_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every tunable of the service; the README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="CALMWATCH_", extra="ignore")

    # --- network
    host: str = "127.0.0.1"
    port: int = 8000

    # --- Redis: with no URL an embedded server is started on a private unix socket under state_dir.
    redis_url: str | None = None
    state_dir: Path = Field(default_factory=lambda: Path(user_state_dir("calmwatch")))
    redis_connect_attempts: int = 10
    conversation_ttl_s: int = 7 * 24 * 3600
    alert_stream_maxlen: int = 100_000
    turn_window: int = 20  # turns the rules see

    # --- scoring
    scorer: Literal["model", "vader"] = "model"
    model_path: Path | None = None  # None: the artifact committed in models/
    batch_max_size: int = 32
    batch_max_wait_ms: float = 5.0
    score_queue_max: int = 1024
    score_workers: int = 1

    # --- rules
    rules_paths: list[Path] = Field(default_factory=lambda: [REPO_ROOT / "rules"])

    # --- wire limits
    max_frame_bytes: int = 64 * 1024
    max_body_bytes: int = 256 * 1024

    # --- logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
