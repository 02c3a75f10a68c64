"""Driving a live service through its connector routes, and waiting for what the worker does after the 200."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

WAIT_S = 15.0


def wait_for(what: Callable[[], Any], *, timeout_s: float = WAIT_S, message: str = "condition") -> Any:
    """Poll ``what`` until it returns something truthy; the worker scores after the webhook is answered."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.05)


def conversation(client: httpx.Client, cid: str, *, turns: int, alerts: int = 0) -> dict[str, Any]:
    """The conversation once it holds ``turns`` scored turns and at least ``alerts`` alerts (a turn's alerts are
    written in the steps after its commit, so they may show a moment after the turn does)."""

    def read() -> dict[str, Any] | None:
        response = client.get(f"/v1/conversations/{cid}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if len(body["turns"]) >= turns and len(body["alerts"]) >= alerts else None

    wait_for(read, message=f"{turns} turns and {alerts}+ alerts in {cid}")
    # Past the last turn's follow-up steps (milliseconds): the alerts read now are all the turns raised.
    time.sleep(0.3)
    result: dict[str, Any] = wait_for(read, message=f"{turns} turns and {alerts}+ alerts in {cid}")
    return result
