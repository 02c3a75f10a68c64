"""The docs cannot drift: the configuration table matches ``Settings``, and the docs' own links resolve."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(CALMWATCH_[A-Z0-9_]+)` \| (.+?) \| (.+?) \|$")
LITERAL = re.compile(r"^`([^`]+)`$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def documented_settings() -> dict[str, tuple[str, str]]:
    """Every row of the configuration table: variable -> (default cell, meaning cell)."""
    rows: dict[str, tuple[str, str]] = {}
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match:
            name, default, meaning = match.groups()
            assert name not in rows, f"{name} is documented twice in {CONFIGURATION.name}"
            rows[name] = (default.strip(), meaning.strip())
    return rows


def env_name(field: str) -> str:
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


def test_every_setting_is_documented() -> None:
    """Each field of Settings has a row in docs/configuration.md."""
    documented = documented_settings()
    missing = sorted(env_name(f) for f in Settings.model_fields if env_name(f) not in documented)
    assert not missing, f"add these settings to docs/configuration.md: {missing}"


def test_every_documented_setting_exists() -> None:
    """Each row of docs/configuration.md names a field of Settings."""
    fields = {env_name(f) for f in Settings.model_fields}
    unknown = sorted(name for name in documented_settings() if name not in fields)
    assert not unknown, f"docs/configuration.md documents settings Settings does not have: {unknown}"


def test_every_setting_has_a_meaning() -> None:
    """No row leaves the meaning empty."""
    empty = sorted(name for name, (_, meaning) in documented_settings().items() if len(meaning) < 5)
    assert not empty, f"say what these settings mean: {empty}"


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_documented_default_matches(field: str) -> None:
    """A default written as one literal equals the field's default; 'unset' means the default is None."""
    default_cell, _ = documented_settings()[env_name(field)]
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    if default_cell.startswith("unset"):
        assert default is None, f"{env_name(field)} is documented as unset by default, but defaults to {default!r}"
        return
    match = LITERAL.match(default_cell)
    if match is None:
        return  # a default described in words (a platform directory, a packaged file)
    written = match.group(1)
    value = _literal(written)
    if isinstance(default, list):
        default = [str(v) if isinstance(v, Path) else v for v in default]
    assert value == default or written == str(default), (
        f"{env_name(field)}: docs/configuration.md says {written}, Settings says {default!r}"
    )


DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link in the README, the changelog and docs/ points at a file that exists."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_readme_is_short_and_names_the_test_command() -> None:
    """The README stays a newcomer's page (about 150 lines) and keeps `make test`, which CI reads."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 160
    assert "make test" in text
