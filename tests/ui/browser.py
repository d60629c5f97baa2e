"""Chromium for the browser tests: Debian's package, driven by Playwright's sync API.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``apt-get install
chromium``; ``make test`` installs it when it can). Without it the browser tests skip — and
fail under ``CI=true``, where a missing browser must not pass unnoticed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps calling home (updates, safe browsing,
# sync), which on a closed network is a stream of failed connections.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
REPOSITORY = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
DEFAULT_TIMEOUT_MS = 10_000  # a wait on the page (click, locator) fails after this, not after Playwright's 30 s


@dataclass(frozen=True)
class Viewport:
    """A screen: ``phone`` is a mobile browser (touch, honours ``<meta name=viewport>``)."""

    name: str
    width: int
    height: int
    mobile: bool = False

    def context_options(self) -> dict:
        options: dict = {"viewport": {"width": self.width, "height": self.height}}
        if self.mobile:
            options.update(is_mobile=True, has_touch=True)
        return options

    def __str__(self) -> str:
        return self.name


PHONE = Viewport("phone", 390, 844, mobile=True)
LAPTOP = Viewport("laptop", 1366, 768)
VIEWPORTS = (PHONE, LAPTOP)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def output_dir() -> Path:
    """Where browser tests leave files for a reviewer: ``$TEST_OUTPUT_DIR/ui``, by default
    ``test-output/ui`` at the repository root (git-ignored). Created if missing."""
    base = Path(os.environ.get("TEST_OUTPUT_DIR") or REPOSITORY / "test-output")
    folder = base / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``<output_dir>/<name>.png`` (``name`` reduced to
    letters, digits, ``.``, ``_`` and ``-``; an existing file is replaced) and return its path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.removesuffix(".png")).strip("-.") or "page"
    path = output_dir() / f"{stem}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def is_local(url: str) -> bool:
    """Whether a request the page makes stays on this machine (or is no network request at all)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS or f"[{parts.hostname}]" in LOCAL_HOSTS
