"""Fixtures of the web UI's tests: a live server with a seeded registry, API keys of each scope,
and Chromium pages (Playwright's sync API).

* ``live_server`` (module) — :class:`tests.ui.live.LiveServer`: ``base_url``, ``admin_key``
  (the bootstrap key), ``settings``, ``app``, ``registry``, ``client(key)`` (httpx).
* ``api_keys`` (module) — :class:`tests.ui.seeding.ApiKeys` (``read``, ``write``, ``admin``);
  also one by one: ``read_key``, ``write_key``, ``admin_key`` (strings).
* ``seeded`` (module) — :class:`tests.ui.seeding.SeededRegistry`, the registry the module's
  server holds. A test that changes it (moves an alias, uploads) changes it for the tests after it
  in the same module: change what no other test of the module reads, or give the test a module
  of its own.
* ``browser`` (package: one for every test under tests/ui) — Playwright's ``Browser`` (Chromium
  at /usr/bin/chromium, headless). Not session-wide: while Playwright's sync API is started, the
  main thread counts as running an event loop, and ``asyncio.run`` in the tests after tests/ui
  (tests/unit/test_rate_limits.py) would fail.
* ``viewport`` — :data:`tests.ui.browser.LAPTOP` unless a test parametrizes it:
  ``@pytest.mark.parametrize("viewport", VIEWPORTS, ids=str)``.
* ``new_page(viewport=None)`` — a ``Page`` in a context of its own (own cookies), its base URL
  the live server (``page.goto("/ui/models")``); ``page`` is one of them at ``viewport``.
  A page may not reach anything but this machine: other requests are aborted and fail the test.
* ``screenshot(page, name)`` — a full-page PNG under ``test-output/ui/`` (``$TEST_OUTPUT_DIR/ui``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .browser import CHROMIUM, DEFAULT_TIMEOUT_MS, LAPTOP, LAUNCH_ARGS, Viewport, in_ci, is_local
from .browser import screenshot as save_screenshot
from .live import LiveServer, serve
from .seeding import ApiKeys, SeededRegistry, create_keys, seed_registry


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("ui-server") / "data") as server:
        yield server


@pytest.fixture(scope="module")
def api_keys(live_server: LiveServer) -> ApiKeys:
    return create_keys(live_server)


@pytest.fixture(scope="module")
def read_key(api_keys: ApiKeys) -> str:
    return api_keys.read


@pytest.fixture(scope="module")
def write_key(api_keys: ApiKeys) -> str:
    return api_keys.write


@pytest.fixture(scope="module")
def admin_key(api_keys: ApiKeys) -> str:
    return api_keys.admin


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer, api_keys: ApiKeys) -> SeededRegistry:
    return seed_registry(live_server, api_keys)


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser tests must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.is_file():
        _unavailable(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test does it when it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def viewport() -> Viewport:
    return LAPTOP


@pytest.fixture
def new_page(browser, live_server: LiveServer, viewport: Viewport):
    """``new_page(viewport=None)``: a page in a fresh browser context (no cookies: not signed in)."""
    contexts = []
    blocked: list[str] = []

    def keep_local(route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def make(viewport_: Viewport | None = None):
        context = browser.new_context(base_url=live_server.base_url, **(viewport_ or viewport).context_options())
        contexts.append(context)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.route("**/*", keep_local)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    if blocked:
        pytest.fail(f"the page tried to reach other hosts (only 127.0.0.1 is allowed): {blocked[:10]}")


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """``screenshot(page, name) -> Path``: a full-page PNG under the test output folder."""
    return save_screenshot
