"""Paths in the checkout the tests read (the package itself finds its data with importlib.resources)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
