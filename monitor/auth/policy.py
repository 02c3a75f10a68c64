"""Who may do what: the roles a key can have, what each role may do, and where an open API is allowed.

=============  ==========================================================================================
``ingest``     send conversation events and messages (``POST /v1/conversations``, ``/v1/messages``, ``WS /v1/stream``)
``supervisor`` read alerts and conversations, acknowledge alerts, the console, any agent's nudges
``agent``      only its own nudges (``WS /v1/agents/{its id}/nudges``); the key carries that agent id
``admin``      everything, including keys and webhooks
=============  ==========================================================================================

With no keys at all the service is open, which is only allowed on a loopback interface (and logged loudly);
bound anywhere else it refuses to start (:func:`check_exposure`).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Literal, get_args

import structlog

from monitor.errors import ConfigurationError
from monitor.settings import Settings

log = structlog.get_logger("auth")

Role = Literal["ingest", "supervisor", "agent", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
Capability = Literal["ingest", "read", "admin"]

#: Key ids for principals that have no stored key record.
OPEN_ID = "open"
BOOTSTRAP_ID = "bootstrap"

_CAPABILITIES: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "supervisor": frozenset({"read"}),
    "agent": frozenset(),
    "admin": frozenset({"ingest", "read", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as established by its credential."""

    key_id: str
    role: Role
    agent_id: str | None = None

    def can(self, capability: Capability) -> bool:
        return capability in _CAPABILITIES[self.role]

    def can_read_nudges(self, agent_id: str) -> bool:
        """Supervisors and admins watch any agent; an agent key only its own agent id."""
        if self.can("read"):
            return True
        return self.role == "agent" and self.agent_id is not None and hmac.compare_digest(self.agent_id, agent_id)

    @property
    def rate_limited(self) -> bool:
        return self.key_id != OPEN_ID


def is_loopback(host: str) -> bool:
    """True for hosts only this machine can reach (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def check_exposure(settings: Settings, key_count: int) -> None:
    """Refuse to serve an open API on a reachable interface; say loudly when open on loopback."""
    if key_count or settings.admin_key:
        return
    if not is_loopback(settings.host):
        raise ConfigurationError(
            f"refusing to listen on {settings.host} with no API keys: anyone who can reach it could read every "
            f"conversation. Create a key first (calmwatch keys create --role admin), set CALMWATCH_ADMIN_KEY, "
            f"or bind to 127.0.0.1"
        )
    log.warning(
        "NO API KEYS: the API is open to every local process on this machine; "
        "create one with `calmwatch keys create --role admin` to require keys",
        host=settings.host,
    )
