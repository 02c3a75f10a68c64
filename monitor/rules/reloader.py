"""Hot reload of the rule pack: a changed file builds a new engine; an invalid one is refused and reported.

The service reads :attr:`RuleReloader.engine` on every evaluation, so swapping the attribute is the whole
reload (one reference assignment; no lock needed on one event loop). ``run()`` watches the pack files with
``watchfiles``; ``reload_now()`` is the SIGHUP handler and what tests call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import structlog

from monitor.errors import RulePackError
from monitor.rules.engine import RuleEngine
from monitor.rules.loader import load_rule_pack

log = structlog.get_logger("rules")


class RuleReloader:
    """Holds the current :class:`RuleEngine` and replaces it when the pack changes and still validates.

    The first load happens in the constructor and raises ``RulePackError`` (a service must not start on a
    broken pack); later loads that fail keep the old engine, log the error with file, rule and field, and
    keep it in :attr:`last_error` for health checks.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        on_reload: Callable[[RuleEngine], None] | None = None,
        *,
        debounce_ms: int = 200,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self._on_reload = on_reload
        self._debounce_ms = debounce_ms
        self.engine: RuleEngine = load_rule_pack(self.paths)
        self.last_error: RulePackError | None = None
        self.reloads = 0

    def reload_now(self) -> bool:
        """Rebuild the engine from the files now; ``True`` if the new pack was installed."""
        try:
            engine = load_rule_pack(self.paths)
        except RulePackError as exc:
            self.last_error = exc
            log.error(
                "rule pack refused; keeping the previous rules",
                file=exc.file,
                rule=exc.rule,
                field=exc.field,
                error=str(exc),
            )
            return False
        self.engine = engine
        self.last_error = None
        self.reloads += 1
        log.info("rule pack reloaded", rules=engine.rule_ids, files=[str(p) for p in engine.sources])
        if self._on_reload is not None:
            self._on_reload(engine)
        return True

    def _watch_targets(self) -> list[Path]:
        # Watch directories rather than files: editors save by writing a new file and renaming it over the
        # old one, which a watch on the old file would miss. A file path is watched through its directory.
        targets: set[Path] = set()
        for path in self.paths:
            targets.add(path if path.is_dir() else path.parent)
        return sorted(t for t in targets if t.exists())

    def _relevant(self, changed: Iterable[tuple[object, str]]) -> bool:
        files = {p.resolve() for p in self.paths if not p.is_dir()}
        dirs = {p.resolve() for p in self.paths if p.is_dir()}
        for _, name in changed:
            path = Path(name).resolve()
            if path in files or (path.suffix == ".yaml" and path.parent in dirs):
                return True
        return False

    async def run(self) -> None:
        """Watch the pack files until cancelled, reloading after each burst of changes."""
        from watchfiles import awatch

        targets = self._watch_targets()
        if not targets:
            log.warning("no rule pack directory to watch; reload with SIGHUP only")
            await asyncio.Event().wait()
        async for changes in awatch(*targets, debounce=self._debounce_ms, recursive=False):
            if self._relevant(changes):
                self.reload_now()
