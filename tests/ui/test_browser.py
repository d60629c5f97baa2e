"""The web UI in Chromium, against a live server with a seeded registry and authentication on:
every page loads (laptop and phone width, a screenshot of each under test-output/ui/), search
with a filter, open a version, compare three, the accessibility rules of axe-core, the keyboard,
reading with JavaScript off, and what a read-only key may see. Changes are in test_browser_writes.py.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from .browser import VIEWPORTS
from .seeding import SeededRegistry


def sign_in(page, key: str, target: str = "/ui") -> None:
    page.goto(f"/ui/login?next={target}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(target) + "$"))


def row_ids(page) -> list[str]:
    return page.locator("tr[data-model-id]").evaluate_all("rows => rows.map(row => row.dataset.modelId)")


def api_ids(live_server, key: str, **params) -> list[str]:
    with live_server.client(key) as client:
        return [model["id"] for model in client.get("/api/v1/models", params={"limit": 100, **params}).json()["models"]]


def pages_of(seeded: SeededRegistry) -> dict[str, str]:
    fraud = [seeded.id("fraud_model", version) for version in ("v1.1", "v1.2", "v2.0")]
    return {"dashboard": "/ui", "models": "/ui/models", "model": f"/ui/models/{fraud[1]}",
            "compare": "/ui/compare?ids=" + ",".join(fraud)}


@pytest.fixture
def errors(page):
    """What went wrong in the page: script errors, console errors, failed requests."""
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(f"script error: {error}"))
    page.on("console", lambda message: found.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("requestfailed", lambda request: found.append(f"request failed: {request.url}"))
    return found


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=str)
def test_each_page_loads_and_fits_the_screen(page, viewport, read_key, seeded, screenshot, errors):
    page.goto("/ui")
    assert page.url.endswith("/ui/login?next=%2Fui")  # signed out: sent to sign in
    screenshot(page, f"login-{viewport}")
    sign_in(page, read_key)
    for name, url in pages_of(seeded).items():
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        assert page.locator("h1").is_visible()
        # nothing wider than the screen: wide tables scroll inside their own box
        assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport.width, name
        screenshot(page, f"{name}-{viewport}")
    assert errors == []


def test_the_dashboard_shows_the_registry(page, read_key, seeded):
    sign_in(page, read_key)
    assert page.locator('[data-figure="total_models"]').inner_text() == str(seeded.total_versions)
    chart = page.get_by_role("img", name=re.compile("Versions per algorithm"))
    assert "xgboost 3" in chart.locator("title").first.text_content()
    assert page.locator("#algorithms-title + svg rect").count() == len(
        {model["algorithm"] for model in seeded.models.values()})
    downloads = page.get_by_role("img", name=re.compile("Downloads per day"))
    assert f"{sum(seeded.downloads.values())} in all" in downloads.locator("title").first.text_content()
    fraud_v12 = seeded.id("fraud_model", "v1.2")
    assert page.locator(f'#popular-title ~ ol a[href="/ui/models/{fraud_v12}"]').count() == 1


@pytest.mark.usefixtures("seeded")
def test_search_with_a_filter_updates_the_results_in_place(page, live_server, read_key, screenshot):
    sign_in(page, read_key, "/ui/models")
    page.evaluate("() => { window.notReloaded = true; }")
    expression = "metrics.f1_score >= 0.89 AND tags = 'fraud'"
    page.get_by_label("Filter", exact=True).fill(expression)
    page.get_by_label("Filter", exact=True).press("Enter")
    page.wait_for_url(re.compile(r"filter="))
    expected = api_ids(live_server, read_key, filter=expression)
    page.wait_for_function("n => document.querySelectorAll('tr[data-model-id]').length === n", arg=len(expected))
    assert row_ids(page) == expected and len(expected) == 3  # fraud_model v1.2, v2.0, v2.1
    assert page.evaluate("() => window.notReloaded") is True  # swapped in place, not a new page
    assert page.get_by_label("Filter", exact=True).input_value() == expression
    screenshot(page, "models-filtered")

    page.locator('a[data-sort="metrics.f1_score"]').click()  # sort by a metric column: highest first
    page.wait_for_url(re.compile(r"sort=-metrics.f1_score"))
    page.wait_for_function("() => document.querySelector('th[aria-sort] a[data-sort=\"metrics.f1_score\"]')")
    assert row_ids(page) == api_ids(live_server, read_key, filter=expression, sort="-metrics.f1_score")
    assert page.evaluate("() => window.notReloaded") is True

    page.go_back()  # the browser's history follows the searches
    page.wait_for_function("() => !document.querySelector('th[aria-sort] a[data-sort=\"metrics.f1_score\"]')")
    assert row_ids(page) == expected


@pytest.mark.usefixtures("seeded")
def test_a_filter_that_does_not_parse_says_so(page, read_key):
    sign_in(page, read_key, "/ui/models")
    page.get_by_label("Filter", exact=True).fill("metrics.f1_score >>= 1")
    page.get_by_role("button", name="Search").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "position" in alert.inner_text()


@pytest.mark.usefixtures("seeded")
def test_facets_narrow_the_list(page, live_server, read_key):
    sign_in(page, read_key, "/ui/models")
    page.locator('a[data-facet="algorithm"]', has_text="xgboost").click()
    page.wait_for_url(re.compile(r"algorithm=xgboost"))
    page.wait_for_function("() => document.querySelector('a[data-facet=\"algorithm\"].active')")
    assert row_ids(page) == api_ids(live_server, read_key, algorithm="xgboost")


def test_open_a_version_from_the_list(page, read_key, seeded):
    sign_in(page, read_key, "/ui/models")
    target = seeded.id("fraud_model", "v1.2")
    page.locator(f'tr[data-model-id="{target}"] a').first.click()
    page.wait_for_url(f"**/ui/models/{target}")
    heading = page.locator("h1").inner_text()
    assert "fraud_model" in heading and "v1.2" in heading and "@production" in heading
    timeline = page.locator("ol.timeline > li")
    assert timeline.evaluate_all("items => items.map(item => item.dataset.version)") == [
        "v2.1", "v2.0", "v1.2", "v1.1", "v1.0"]
    assert "derived from v1.1 → v1.2" in page.locator('ol.timeline > li[aria-current="true"]').inner_text()
    assert page.get_by_role("link", name="Download").get_attribute("href") == f"/ui/models/{target}/download"
    history = page.locator("table.history").inner_text()
    assert "@production: v1.1 → v1.2" in history and "status active → deprecated" in history
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename.endswith(".json")


def test_compare_three_versions_picked_in_the_list(page, read_key, seeded, screenshot):
    sign_in(page, read_key, "/ui/models?name=fraud_model")
    picked = [seeded.id("fraud_model", version) for version in ("v1.0", "v1.2", "v2.0")]
    for model_id in picked:
        page.locator(f'tr[data-model-id="{model_id}"] input[type="checkbox"]').check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(re.compile(r"/ui/compare\?ids="))
    shown = page.url.split("ids=")[1].split(",")
    assert sorted(shown) == sorted(picked)
    columns = page.locator("table.compare").first.locator("thead th").all_inner_texts()[1:]
    assert len(columns) == 3
    best = page.locator('tr[data-metric="f1_score"] td.best')
    assert best.count() == 1 and best.inner_text().startswith("0.912")  # v2.0 has the highest f1
    assert page.locator('tr[data-param="max_depth"].differs').count() == 1
    assert page.locator("figure.metric-chart").count() == 3  # accuracy, auc, f1_score
    screenshot(page, "compare-three")


def test_a_read_only_key_sees_no_write_controls(new_page, read_key, write_key, seeded):
    target = seeded.id(*seeded.without_file)
    reader, writer = new_page(), new_page()
    sign_in(reader, read_key, f"/ui/models/{target}")
    sign_in(writer, write_key, f"/ui/models/{target}")
    assert reader.locator("form[data-action]").count() == 0
    assert reader.locator('input[type="file"], button:has-text("Remove")').count() == 0
    assert sorted(writer.locator("form[data-action]").evaluate_all("forms => forms.map(f => f.dataset.action)")) == [
        "alias", "edit", "status", "upload"]
    assert reader.locator(".who").inner_text().startswith("ui-reader")


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=str)  # the size of `page`'s window (ui/conftest.py)
def test_no_accessibility_violations(page, write_key, seeded):
    """axe-core's rules (WCAG A/AA: contrast, labels, names, landmarks, …) on every page, as a writer
    (so the forms are there too)."""
    axe = Axe()
    page.goto("/ui/login")
    assert axe.run(page).violations_count == 0, axe.run(page).generate_report()
    sign_in(page, write_key)
    for url in [*pages_of(seeded).values(), f"/ui/models/{seeded.id(*seeded.without_file)}"]:
        page.goto(url)
        results = axe.run(page)
        assert results.violations_count == 0, f"{url}:\n{results.generate_report()}"


@pytest.mark.usefixtures("seeded")
def test_the_keyboard_reaches_the_content_and_the_search(page, live_server, read_key):
    sign_in(page, read_key, "/ui/models")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    for _ in range(40):  # the search box is reached by tabbing on from the content's start
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "q":
            break
    else:
        pytest.fail("Tab never reached the search box")
    page.keyboard.type("recommender")
    assert page.locator("#q").input_value() == "recommender"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=recommender"))
    page.wait_for_function("() => document.querySelectorAll('tr[data-model-id]').length === 2")
    assert row_ids(page) == api_ids(live_server, read_key, q="recommender")


def test_reading_works_without_javascript(browser, live_server, read_key, seeded):
    context = browser.new_context(base_url=live_server.base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, read_key, "/ui/models")
        page.get_by_label("Filter", exact=True).fill("algorithm = 'lightgbm'")
        page.get_by_role("button", name="Search").click()  # a plain GET form: a new page
        page.wait_for_url(re.compile(r"filter=algorithm"))
        assert row_ids(page) == api_ids(live_server, read_key, filter="algorithm = 'lightgbm'")
        picked = [seeded.id("fraud_model", "v2.0"), seeded.id("fraud_model", "v2.1")]
        for model_id in picked:
            page.locator(f'tr[data-model-id="{model_id}"] input[type="checkbox"]').check()
        page.get_by_role("button", name="Compare selected").click()  # ids=a&ids=b without the script
        page.wait_for_url(re.compile(r"/ui/compare\?"))
        assert page.locator("table.compare").first.locator("thead th").count() == 3
        page.get_by_role("link", name="fraud_model v2.0").first.click()
        assert page.locator("h1").inner_text().startswith("fraud_model")
    finally:
        context.close()
