"""Issue 20, item 2: a supervisor feed and an agent sidebar that stay connected receive every alert, even when
concurrent conversations publish their alerts out of stream-id order."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.faults.processes import Service, wait_until
from tests.faults.traffic import all_alerts, conversation_events, play_sync


class FeedClient:
    """A websocket feed read in a thread; ``alert_ids`` are the ids of the alert envelopes received, in order."""

    def __init__(self, url: str) -> None:
        self.alert_ids: list[str] = []
        self._ws = connect(url, open_timeout=10)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._ws:
                envelope: dict[str, Any] = json.loads(raw)
                if envelope.get("type") == "alert":
                    self.alert_ids.append(envelope["alert"]["id"])
        except ConnectionClosed:
            pass

    def close(self) -> None:
        self._ws.close()
        self._thread.join(timeout=5)


@pytest.mark.slow
def test_connected_feeds_miss_no_alert_of_concurrent_conversations() -> None:
    """Bursts of 40 conversations raising alerts at once: each connected feed gets exactly the stream's alerts."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp, Service(Path(tmp)) as service:
        supervisor = FeedClient(f"{service.ws}/v1/alerts")
        agent = FeedClient(f"{service.ws}/v1/agents/a1/nudges")
        try:
            play_sync(f"{service.ws}/v1/stream", conversation_events(40, 12), in_flight=256)
            stored = all_alerts(service.http)
            for_agent = [a["id"] for a in stored if "agent" in a["audience"]]
            with contextlib.suppress(AssertionError):  # on a timeout, the comparison below says what is missing
                wait_until(lambda: len(supervisor.alert_ids) >= len(stored), what="the feed", timeout_s=5)
                wait_until(lambda: len(agent.alert_ids) >= len(for_agent), what="the sidebar", timeout_s=5)
        finally:
            supervisor.close()
            agent.close()
    assert len(stored) > 100 and for_agent  # the burst really raised alerts, so the comparison means something
    assert sorted(supervisor.alert_ids) == sorted(a["id"] for a in stored)
    assert sorted(agent.alert_ids) == sorted(for_agent)
