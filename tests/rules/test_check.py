"""``calmwatch rules check``: the located error or the list of rules, and ``python -m monitor.rules`` as its alias."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.rules.conftest import DEFAULT, MINIMAL

PACK_DIR = Path(__file__).resolve().parents[2] / "rules"


def test_a_valid_pack_lists_its_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """A valid pack exits 0 and prints one line per rule with what it watches, severity, audience and cooldown."""
    assert main(["rules", "check", str(PACK_DIR)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 12 rules from ") and "default.yaml" in out
    assert "  anger          on customer warning  -> agent             cooldown 180s" in out.splitlines()


def test_an_invalid_pack_exits_2_naming_file_rule_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pack with a bad parameter exits 2 and the message names the file, the rule and the field."""
    bad = tmp_path / "local.yaml"
    bad.write_text("rules:\n  - id: anger\n    params: {threshold: 2}\n", encoding="utf-8")
    assert main(["rules", "check", str(PACK_DIR), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid rule pack: ") and str(bad) in err
    assert "rule 'anger'" in err and "field 'params.threshold'" in err


def test_python_m_monitor_rules_is_the_same_command(tmp_path: Path) -> None:
    """The module entry point prints exactly what the subcommand prints, and exits the same way."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, check=False)

    alias = run("-m", "monitor.rules", str(PACK_DIR))
    command = run("-m", "monitor.cli", "rules", "check", str(PACK_DIR))
    assert alias.returncode == command.returncode == 0
    assert alias.stdout == command.stdout
    missing = str(tmp_path / "nope.yaml")
    assert (
        run("-m", "monitor.rules", missing).returncode
        == run("-m", "monitor.cli", "rules", "check", missing).returncode
        == 2
    )


def test_check_command_lists_rules_or_names_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m monitor.rules PATH` prints the rules of a valid pack (0) or the located error (2)."""
    from monitor.rules.__main__ import main as check

    assert check([str(DEFAULT)]) == 0
    assert "anger" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("cooldown_s: 60", "cooldown: 60"), encoding="utf-8")
    assert check([str(bad)]) == 2
    assert "field 'rules.0.cooldown'" in capsys.readouterr().err
