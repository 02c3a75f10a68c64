"""Hot reload: a valid pack is installed, an invalid one is refused and the old rules kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.errors import RulePackError
from monitor.rules import RuleEngine, RuleReloader
from tests.rules.conftest import angry


def test_reload_now_installs_valid_and_keeps_old_on_invalid(pack_dir: Path) -> None:
    """reload_now swaps in a valid edit, and keeps the previous engine when the edit is broken."""
    seen: list[RuleEngine] = []
    reloader = RuleReloader([pack_dir], on_reload=seen.append)
    first = reloader.engine
    local = pack_dir / "local.yaml"
    local.write_text("rules:\n  - id: anger\n    params: {threshold: 0.95}\n", encoding="utf-8")
    assert reloader.reload_now() is True
    assert reloader.engine is not first and seen == [reloader.engine]
    assert "anger" not in {c.rule for c in reloader.engine.evaluate(angry(0.8))}
    good = reloader.engine
    local.write_text("rules:\n  - id: anger\n    params: {threshold: 'high'}\n", encoding="utf-8")
    assert reloader.reload_now() is False
    assert reloader.engine is good
    assert reloader.last_error is not None and reloader.last_error.field == "params.threshold"


def test_first_load_of_a_broken_pack_raises(tmp_path: Path) -> None:
    """A service must not start on an invalid pack: the reloader's first load raises."""
    path = tmp_path / "p.yaml"
    path.write_text("rules: {}\n", encoding="utf-8")
    with pytest.raises(RulePackError):
        RuleReloader([path])


async def test_file_watch_reloads_on_edit(pack_dir: Path) -> None:
    """Saving a changed pack file while run() watches makes the engine change without a restart."""
    reloaded = asyncio.Event()
    reloader = RuleReloader([pack_dir], on_reload=lambda _engine: reloaded.set(), debounce_ms=50)
    first = reloader.engine
    task = asyncio.create_task(reloader.run())
    try:
        await asyncio.sleep(0.3)  # let the watcher start before the edit
        (pack_dir / "local.yaml").write_text("rules:\n  - id: anger\n    enabled: false\n", encoding="utf-8")
        async with asyncio.timeout(15):
            await reloaded.wait()
        assert reloader.engine is not first
        assert "anger" not in reloader.engine.rule_ids
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
