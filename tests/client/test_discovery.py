"""Finding models: lists walked lazily page by page, search filters, statistics, popular, recent,
comparison, health."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from model_service.client import BadRequest, Pager


@pytest.fixture
def seven(sdk):
    """Seven versions: churn v1.0-v1.3 (random_forest), fraud v1.0-v1.2 (xgboost)."""
    for accuracy in (0.80, 0.85, 0.90, 0.95):
        sdk.register_model({"name": "churn", "algorithm": "random_forest", "metrics": {"accuracy": accuracy},
                            "tags": ["churn"]})
    for accuracy in (0.70, 0.75, 0.99):
        sdk.register_model({"name": "fraud", "algorithm": "xgboost", "metrics": {"accuracy": accuracy},
                            "tags": ["fraud", "production"]})


def list_requests(wire):
    return wire.sent("GET", "/api/v1/models")


@pytest.mark.usefixtures("seven")
def test_list_models_walks_every_page(sdk, wire):
    found = list(sdk.list_models(page_size=3))

    assert len(found) == 7
    assert len({model["id"] for model in found}) == 7
    assert len(list_requests(wire)) == 3
    assert [r.url.params["page"] for r in list_requests(wire)] == ["1", "2", "3"]


@pytest.mark.usefixtures("seven")
def test_the_pager_fetches_a_page_only_when_it_is_reached(sdk, wire):
    pager = sdk.list_models(page_size=3)
    assert isinstance(pager, Pager)
    assert list_requests(wire) == []  # nothing yet

    items = iter(pager)
    next(items)
    assert len(list_requests(wire)) == 1
    for _ in range(2):
        next(items)
    assert len(list_requests(wire)) == 1  # still the first page
    next(items)
    assert len(list_requests(wire)) == 2


@pytest.mark.usefixtures("seven")
def test_pager_total_and_first(sdk, wire):
    pager = sdk.list_models(page_size=2)

    assert pager.total == 7
    assert pager.first()["name"] == "fraud"  # newest first
    assert len(list_requests(wire)) == 1  # the walk after ``total`` starts with the page it fetched
    assert pager.first()["name"] == "fraud"
    assert len(list_requests(wire)) == 2  # a later walk asks afresh


@pytest.mark.usefixtures("seven")
def test_limit_stops_the_walk(sdk, wire):
    found = sdk.list_models(limit=4, page_size=3).to_list()

    assert len(found) == 4
    assert len(list_requests(wire)) == 2


@pytest.mark.usefixtures("seven")
def test_the_pager_never_yields_a_version_twice(sdk):
    """A registration between two pages pushes every version one place down the newest-first list."""
    pager = sdk.list_models(page_size=3)
    items = iter(pager)
    seen = [next(items)["id"] for _ in range(3)]
    sdk.register_model({"name": "late", "algorithm": "svm"})

    seen += [model["id"] for model in items]

    assert len(seen) == len(set(seen)) == 7


@pytest.mark.usefixtures("seven")
def test_search_models_filters_like_the_seed(sdk):
    found = sdk.search_models(algorithm="xgboost", min_accuracy=0.9)

    assert [(m["name"], m["version"]) for m in found] == [("fraud", "v1.2")]


@pytest.mark.usefixtures("seven")
def test_search_takes_lists_for_tags_and_datetimes(sdk):
    assert len(sdk.search_models(tags=["churn", "production"])) == 7
    assert len(sdk.search_models(tags_all=["fraud", "production"])) == 3
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert len(sdk.search_models(created_after=yesterday, name="churn")) == 4
    assert sdk.search_models(created_before=yesterday) == []


@pytest.mark.usefixtures("seven")
def test_search_with_a_filter_expression_and_sort(sdk, wire):
    pager = sdk.search(filter="metrics.accuracy >= 0.85 AND algorithm = 'random_forest'", sort="metrics.accuracy")

    assert [m["metrics"]["accuracy"] for m in pager] == [0.85, 0.90, 0.95]
    assert wire.sent("GET")[-1].url.path == "/api/v1/models/search"


@pytest.mark.usefixtures("seven")
def test_a_malformed_filter_is_a_bad_request_with_its_position(sdk):
    with pytest.raises(BadRequest) as caught:
        sdk.search_models(filter="metrics.accuracy >=")
    assert caught.value.code == "invalid_filter"
    assert "position" in caught.value.details


@pytest.mark.usefixtures("seven")
def test_search_from_a_given_page(sdk):
    assert len(sdk.search_models(page=2, page_size=5)) == 2


@pytest.mark.usefixtures("seven")
def test_statistics(sdk, model_file):
    sdk.push(model_file, name="fraud", algorithm="xgboost")

    stats = sdk.statistics()
    platform = sdk.platform_statistics()

    assert stats["total_models"] == 8
    assert stats["algorithms"] == {"random_forest": 4, "xgboost": 4}
    assert platform["models_by_algorithm"] == {"random_forest": 4, "xgboost": 4}
    assert platform["storage_stats"]["total_size"]


@pytest.mark.usefixtures("seven")
def test_popular_and_recent(sdk, model_file, tmp_path):
    model_id = sdk.push(model_file, name="fraud", algorithm="xgboost")["id"]
    for _ in range(2):
        sdk.download(model_id, tmp_path / "copy.onnx")

    # A download is counted once its last byte is handed to the connection: the server may
    # record it just after the client has the whole body. Wait (bounded) for the second one.
    deadline = time.monotonic() + 10
    popular = sdk.popular(limit=1)
    while popular and popular[0]["downloads"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        popular = sdk.popular(limit=1)
    assert [(m["id"], m["downloads"]) for m in popular] == [(model_id, 2)]
    assert sdk.popular(days=1)[0]["id"] == model_id

    recent = sdk.recent(limit=3)
    assert [(m["name"], m["version"]) for m in recent] == [("fraud", "v1.3"), ("fraud", "v1.2"), ("fraud", "v1.1")]
    assert recent[0]["id"] == model_id


@pytest.mark.usefixtures("seven")
def test_compare_takes_any_references(sdk):
    sdk.set_alias("fraud", "production", "v1.1")
    first = sdk.get_model("churn/v1.0")["id"]

    comparison = sdk.compare([first, "churn", "fraud@production"])

    assert [(m["name"], m["version"]) for m in comparison["models"]] == [
        ("churn", "v1.0"), ("churn", "v1.3"), ("fraud", "v1.1")]


def test_health(sdk):
    assert sdk.health()["status"] == "healthy"
    detailed = sdk.health(detailed=True)
    assert detailed["status"] == "healthy"
    assert set(detailed["checks"]) >= {"database", "blob_store"}


def test_whoami_without_authentication(make_sdk):
    sdk, _ = make_sdk(headers={"X-Actor": "jane"})

    assert sdk.whoami()["actor"] == "jane"
