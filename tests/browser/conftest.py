"""Browser fixtures: Debian's Chromium driven by Playwright, one browser per test session, screenshots as artifacts.

Playwright's own browser download cannot work offline, so the tests use ``/usr/bin/chromium`` (``make test`` and
``.ci/run`` install it) and skip with the reason when it is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
#: Git-ignored; CI can keep it as an artifact.
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: How long an ``expect`` waits for the page. Playwright's 5 s default was too short on a loaded 2-core machine
#: (a CI run saw an override apply answer after it); these tests check what the page shows, never how fast.
EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for all the browser tests (starting one costs about a second).

    Package scope, not session: Playwright's sync API keeps an event loop running in the main thread while it is
    open, which would break every asyncio test collected after this package.
    """
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: `make test` or `apt-get install chromium` installs it")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Emptied once per session, so what is there after a run is that run's screenshots."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Callable[[Page, str], Path]:
    """``screenshot(page, "console")`` saves ``test-output/screenshots/console.png``."""

    def take(page: Page, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
