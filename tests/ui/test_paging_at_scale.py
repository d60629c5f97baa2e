"""Listings over 100,000 versions read one page: no SQL statement a listing runs hands more
than one page of rows to Python, and the page is the right one.

To check another listing (a web UI page), add a line to ``LISTINGS``:
``Listing("/ui/models?sort=name&page=3", limit=20)`` — ``limit`` is the page size that URL shows.
Entries with an ``expect`` are JSON listings whose rows and total are checked as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from model_service.server.app import create_app
from model_service.server.instrument import unwrap
from tests.conftest import make_settings

from .bulk import BulkSeed, RowCounter, SeededVersion, seed_versions

VERSIONS_PER_NAME = 20
NAMES = 5_000  # x 20 = 100,000 versions


@dataclass
class AtScale:
    """The app over the bulk-seeded registry: ``client`` (in process), ``rows`` (the row counter
    on its engine) and ``seed`` (what was written)."""

    client: TestClient
    rows: RowCounter
    seed: BulkSeed


@pytest.fixture(scope="module")
def at_scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtScale]:
    data_dir: Path = tmp_path_factory.mktemp("at-scale") / "data"
    data_dir.mkdir()
    seed = seed_versions(data_dir / "registry.db", names=NAMES, per_name=VERSIONS_PER_NAME)
    app = create_app(make_settings(data_dir))
    counter = RowCounter.attach(unwrap(app.state.registry.metadata).engine)
    with TestClient(app) as client:
        yield AtScale(client, counter, seed)


def assert_paged(served: AtScale, url: str, limit: int) -> httpx.Response:
    """GET ``url``: 200, and no SQL statement run for it fetched more than ``limit`` rows (a
    COUNT fetches one). Returns the response."""
    with served.rows.recording() as statements:
        response = served.client.get(url)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:500]}"
    assert any(statement.rows for statement in statements), (
        f"GET {url} fetched no row that the counter saw: is it attached to the app's engine?")
    too_many = [statement for statement in statements if statement.rows > limit]
    assert not too_many, (f"GET {url}: {len(too_many)} statement(s) fetched more than a page ({limit} rows):\n"
                          + "\n".join(str(statement) for statement in too_many))
    return response


# ---- what a listing should return, from what was seeded -------------------------------------

Order = Callable[[list[SeededVersion]], list[SeededVersion]]


def newest_first(versions: list[SeededVersion]) -> list[SeededVersion]:
    return sorted(versions, key=lambda v: v.created_at, reverse=True)


def by_metric_descending(metric: str) -> Order:
    """Highest first; ties in insertion order in the key's direction (newest first); versions
    without the metric last (``MetadataStore.search``)."""
    def order(versions: list[SeededVersion]) -> list[SeededVersion]:
        position = {v.id: i for i, v in enumerate(versions)}
        having = [v for v in versions if metric in v.metrics]
        lacking = [v for v in versions if metric not in v.metrics]
        return (sorted(having, key=lambda v: (v.metrics[metric], position[v.id]), reverse=True)
                + sorted(lacking, key=lambda v: position[v.id], reverse=True))
    return order


def by_name(versions: list[SeededVersion]) -> list[SeededVersion]:
    return sorted(versions, key=lambda v: v.name)  # stable: ties stay in insertion order


@dataclass(frozen=True)
class Expect:
    order: Order = newest_first
    where: Callable[[SeededVersion], bool] = lambda _version: True
    page: int = 1

    def ids(self, seed: BulkSeed) -> list[str]:
        return [v.id for v in self.order([v for v in seed.versions if self.where(v)])]


@dataclass(frozen=True)
class Listing:
    url: str
    limit: int
    expect: Expect | None = None  # JSON listings: the page's rows and total are checked too

    def __str__(self) -> str:
        return self.url


def api(limit: int = 20, **params: object) -> str:
    return "/api/v1/models?" + urlencode({"limit": limit, **params})


def accurate(version: SeededVersion) -> bool:
    return version.metrics["accuracy"] >= 0.9


LISTINGS = [
    Listing(api(), 20, Expect()),
    Listing(api(sort="-metrics.f1_score"), 20, Expect(order=by_metric_descending("f1_score"))),
    Listing(api(sort="name"), 20, Expect(order=by_name)),
    Listing(api(filter="metrics.accuracy >= 0.9"), 20, Expect(where=accurate)),
    Listing(api(page=4000), 20, Expect(page=4000)),
    Listing(api(page=200, filter="metrics.accuracy >= 0.9", sort="-metrics.f1_score"), 20,
            Expect(order=by_metric_descending("f1_score"), where=accurate, page=200)),
    Listing(api(limit=100, page=700, sort="name"), 100, Expect(order=by_name, page=700)),
    # the web UI: the models list (its facets included), and the dashboard, whose longest list
    # is the 30 days of its downloads chart
    Listing("/ui/models", 20),
    Listing("/ui/models?" + urlencode({"sort": "-metrics.f1_score", "page": 4000}), 20),
    Listing("/ui/models?" + urlencode({"filter": "metrics.accuracy >= 0.9", "sort": "name", "page": 300}), 20),
    Listing("/ui/models?" + urlencode({"q": "retrained", "algorithm": "xgboost", "page": 2}), 20),
    Listing("/ui/models?" + urlencode({"limit": 100, "page": 700}), 100),
    Listing("/ui", 30),
]


@pytest.mark.parametrize("listing", LISTINGS, ids=str)
def test_listing_fetches_one_page_of_rows(at_scale: AtScale, listing: Listing):
    response = assert_paged(at_scale, listing.url, listing.limit)

    if listing.expect is not None:
        body = response.json()
        expected = listing.expect.ids(at_scale.seed)
        start = (listing.expect.page - 1) * listing.limit
        assert body["pagination"]["total"] == len(expected)
        assert len(body["models"]) == listing.limit
        assert [model["id"] for model in body["models"]] == expected[start:start + listing.limit]


def test_the_registry_holds_100000_versions(at_scale: AtScale):
    body = assert_paged(at_scale, api(limit=1), 1).json()

    assert body["pagination"]["total"] == len(at_scale.seed) == NAMES * VERSIONS_PER_NAME == 100_000


def test_a_statement_fetching_more_than_a_page_fails_the_check(at_scale: AtScale):
    """The check can fail: a 100-row page is more than a 20-row page allows."""
    with pytest.raises(AssertionError, match=r"fetched more than a page \(20 rows\)"):
        assert_paged(at_scale, api(limit=100), 20)


def test_the_counter_counts_rows_handed_to_python(at_scale: AtScale):
    engine = unwrap(at_scale.client.app.state.registry.metadata).engine
    with at_scale.rows.recording() as statements, engine.connect() as connection:
        connection.exec_driver_sql("SELECT seq FROM models LIMIT 123").fetchall()
        result = connection.exec_driver_sql("SELECT seq FROM models LIMIT 50")
        result.fetchone()
        result.fetchmany(9)
        result.close()  # the other 40 are never fetched

    counted = [(statement.sql, statement.rows) for statement in statements if statement.sql.startswith("SELECT seq")]
    assert counted == [("SELECT seq FROM models LIMIT 123", 123), ("SELECT seq FROM models LIMIT 50", 10)]


UI_LISTS = [listing.url for listing in LISTINGS if listing.url.startswith("/ui/models")]


@pytest.mark.parametrize("url", UI_LISTS)
def test_the_ui_list_shows_the_page_the_api_gives(at_scale: AtScale, url: str):
    """The page's rows are the API's page for the same parameters, and the page says the total."""
    query = url.partition("?")[2]
    page = at_scale.client.get(url).text
    body = at_scale.client.get("/api/v1/models?" + query).json()
    assert re.findall(r'<tr data-model-id="([0-9a-f]{24})"', page) == [model["id"] for model in body["models"]]
    shown = re.search(r"<strong data-total>([\d,]+)</strong>", page)
    assert shown and int(shown.group(1).replace(",", "")) == body["pagination"]["total"]


def test_a_version_page_and_a_comparison_read_one_page_of_rows(at_scale: AtScale):
    """A name with 20 versions: the version's page lists them (one page of its timeline, 25)."""
    newest = newest_first(at_scale.seed.versions)
    version = newest[0]
    assert_paged(at_scale, f"/ui/models/{version.id}", 25)
    ids = ",".join(v.id for v in newest[:6])
    assert_paged(at_scale, f"/ui/compare?ids={ids}", 6)
