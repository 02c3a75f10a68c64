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

from monitor.privacy.redaction import DEFAULT_KINDS, DEFAULT_PHONE_REGIONS, Kind


def default_rules_dir() -> Path:
    """The rule pack shipped in the package (``monitor/default_rules``, sourced from the top-level ``rules/``)."""
    from importlib.resources import files

    return Path(str(files("monitor") / "default_rules"))


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
    model_path: Path | None = None  # None: the artifact shipped in the package (in a checkout: models/artifact)
    scoring_threads: int | None = None  # ONNX Runtime intra-op threads; None: every core this process may use
    batch_max_size: int = 32
    # No wait by default: the batcher still takes every turn already queued, and under load turns queue while
    # the model runs, so batches fill by themselves. A wait only lengthens each scoring cycle when turns come
    # one at a time: at 50 turns/s a 5 ms wait made the cycle about as long as the gap between turns, and p50
    # was higher than with none in every run (model card, Throughput: bench/bench_model.py --max-wait-ms).
    batch_max_wait_ms: float = 0.0
    score_queue_max: int = 1024

    # --- rules
    rules_paths: list[Path] = Field(default_factory=lambda: [default_rules_dir()])

    # --- wire limits
    max_frame_bytes: int = 64 * 1024
    max_body_bytes: int = 256 * 1024

    # --- access (monitor/auth.py): with no API keys the service is open, and only on a loopback host
    admin_key: str | None = Field(default=None, repr=False)  # a bootstrap admin key, e.g. for docker-compose
    token_ttl_s: int = 3600  # lifetime of the short-lived tokens the console and sidebar log in with
    # A token may be renewed with itself (the console does, before it expires), but only this long after its key
    # was presented: then the key is needed again, so a leaked token cannot be kept alive for ever.
    token_max_session_s: int = 12 * 3600
    ingest_rate_per_s: float = 500.0  # per key: sustained ingest events (messages, conversation starts/ends)
    ingest_burst: int = 1000  # per key: events allowed at once above the sustained rate

    # --- webhooks (monitor/delivery/webhooks.py)
    # Delay before each retry after the first attempt fails (seconds, +-20 % jitter): 5 s, 5 min, 30 min, 2 h,
    # 5 h, 10 h, 10 h; the last attempt is about 28 h after the alert.
    webhook_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout_s: float = 10.0
    webhook_max_in_flight: int = 32  # attempts in flight in this process, over all endpoints
    webhook_endpoint_concurrency: int = 1  # attempts in flight per endpoint in this process
    webhook_disable_after_s: float = 5 * 24 * 3600  # an endpoint failing this long without a success is disabled
    webhook_max_pending: int = 10_000  # queued deliveries per endpoint; beyond that new ones fail at once
    webhook_secret_grace_s: float = 24 * 3600  # after a rotation the old secret also signs for this long
    webhook_poll_s: float = 0.5  # how often due retries are looked for

    # --- languages (issue 19): the model reads English only; other turns are marked unscored
    language_detection: bool = True  # false: every turn goes to the model, whatever its language

    # --- privacy (issue 21, docs/privacy.md)
    # The kinds of personal data replaced by placeholders before a turn is stored, published or sent; [] is off.
    redact: list[Kind] = Field(default_factory=lambda: list(DEFAULT_KINDS))
    # Regions whose national phone formats (without +) are recognised, as ISO 3166 codes.
    redact_phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS))
    # Agent turns get emotion scores only when this is true (EU AI Act: no emotion inference on employees).
    score_agents: bool = False
    # Alerts older than this leave the alert stream (besides its length cap); 0 keeps them until the cap.
    alert_retention_s: int = 90 * 24 * 3600

    # --- feedback, reports and threshold suggestions (issue 18; monitor/outcomes.py, monitor/thresholds.py)
    report_window_h: float = 24.0  # the reports page's default time window
    report_max_alerts: int = 5000  # most recent alerts a report reads (and their conversations)
    outcome_horizon_turns: int = 3  # customer turns after an alert that its effect is measured over
    suggest_min_feedback: int = 5  # verdicts a rule (or team) needs before a threshold is suggested
    agent_teams: dict[str, str] = Field(default_factory=dict)  # agent id -> team name, for per-team reports
    rules_override_file: Path | None = None  # None: state_dir / "rules-override.yaml"; written only by an admin

    @property
    def override_file(self) -> Path:
        """Where the rule-pack override an admin applies from a suggestion is written (loaded after the packs)."""
        return self.rules_override_file or self.state_dir / "rules-override.yaml"

    # --- connectors (issue 17, monitor/connectors/, docs/connectors.md): POST /v1/connectors/<platform>
    connector_dedupe_ttl_s: int = 24 * 3600  # a re-delivered platform event within this long is dropped
    connector_queue_maxlen: int = 100_000  # acknowledged connector events waiting to be scored (stream length)
    connector_signature_tolerance_s: int = 300  # a signed timestamp older (or newer) than this is refused
    chatwoot_url: str | None = None  # the Chatwoot instance, e.g. https://chat.example.com (notes, reconciliation)
    chatwoot_api_token: str | None = Field(default=None, repr=False)  # an agent's or bot's api_access_token
    chatwoot_webhook_secret: str | None = Field(default=None, repr=False)  # the account webhook's secret
    chatwoot_note_min_severity: Literal["info", "warning", "critical"] = "warning"
    chatwoot_note_interval_s: float = 30.0  # at most one private note per conversation this often (later ones wait)
    chatwoot_reconcile_interval_s: float = 60.0  # how often active conversations are re-read; 0: never
    zendesk_webhook_secret: str | None = Field(default=None, repr=False)  # Sunshine Conversations webhook secret
    intercom_client_secret: str | None = Field(default=None, repr=False)  # the Intercom app's client secret
    livechat_secret_key: str | None = Field(default=None, repr=False)  # the webhook's secret_key
    twilio_auth_token: str | None = Field(default=None, repr=False)  # the account's auth token
    twilio_webhook_url: str | None = None  # the URL as configured in Twilio (signed); unset: the request's URL
    twilio_agent_identities: list[str] = Field(default_factory=list)  # authors who are agents; unset: see docs
    slack_signing_secret: str | None = Field(default=None, repr=False)  # the Slack app's signing secret
    slack_agent_user_ids: list[str] = Field(default_factory=list)  # Slack users who are agents; others are customers

    # --- scale-out (issue 16): many processes on one Redis or a Redis Cluster
    # How long a turn keeps its place in its conversation's order without its process renewing it (a live process
    # renews it every third of this while the turn waits or is scored). A process that dies holding turns
    # delays that conversation's next turn by at most this long; one that stalls longer loses the turn's place
    # and takes a new one.
    turn_lease_s: float = Field(default=3.0, gt=0.1, le=60.0)
    workers: int = Field(default=1, ge=1, le=64)  # `calmwatch serve` processes sharing the port (--workers)
    # Connections one process may open to Redis (per node on a cluster); past it a command fails (503). A burst of
    # connectors reconnecting to one worker needs hundreds at once; Redis's own maxclients is 10,000.
    redis_max_connections: int = Field(default=1000, ge=8)

    # --- logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
