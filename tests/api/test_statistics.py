"""Analytics: GET /api/v1/models/statistics, GET /api/v1/statistics, GET /api/v1/models/popular and
GET /api/v1/models/recent, with real uploads and downloads so every figure is checked exactly."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .discovery_helpers import (
    PLATFORM_STATISTICS,
    POPULAR,
    RECENT,
    STATISTICS,
    by_name,
    label,
    ok,
    register_with_file,
)
from .helpers import MiB, assert_error, download, error_fields, model_url, payload, register_model

GiB = 1 << 30
SHARED = payload(3 * MiB, seed=1)  # the file of fraud v1.0 and v1.1 (stored once)
OTHER = payload(1 * MiB, seed=2)
STORED = len(SHARED) + len(OTHER)  # distinct content: 4 MiB
PER_VERSION = 2 * len(SHARED) + len(OTHER)  # 7 MiB over 3 versions with a file


@dataclass
class Activity:
    fraud_1: dict  # xgboost, active, SHARED, downloaded 3 times
    fraud_2: dict  # xgboost, deprecated, SHARED, downloaded 2 times
    churn: dict  # random_forest, active, OTHER, downloaded once
    images: dict  # pytorch_cnn, archived, no file


def downloads(client, model: dict, times: int) -> None:
    for _ in range(times):
        response = download(client, model["id"])
        assert response.status_code == 200, response.text


@pytest.fixture
def activity(client) -> Activity:
    fraud_1 = register_with_file(client, SHARED, name="fraud", algorithm="xgboost")
    fraud_2 = register_with_file(client, SHARED, name="fraud", algorithm="xgboost", status="deprecated")
    churn = register_with_file(client, OTHER, name="churn", algorithm="random_forest")
    images = register_model(client, name="images", algorithm="pytorch_cnn", status="archived")["model"]
    downloads(client, fraud_1, 3)
    downloads(client, fraud_2, 2)
    downloads(client, churn, 1)
    # None of these is a completed download of the whole file: not counted.
    assert download(client, churn["id"], "HEAD").status_code == 200
    assert download(client, churn["id"], range="bytes=0-9").status_code == 206
    assert download(client, churn["id"], if_none_match=f'"{churn["file_metadata"]["file_id"]}"').status_code == 304
    return Activity(fraud_1, fraud_2, churn, images)


ALGORITHMS = {"xgboost": 2, "random_forest": 1, "pytorch_cnn": 1}
STATUSES = {"active": 2, "deprecated": 1, "archived": 1}


# ---- GET /api/v1/models/statistics (the seed's first example) ----------------------------------------

def test_model_statistics_of_an_empty_registry_are_zero(client):
    assert ok(client.get(STATISTICS)) == {
        "total_models": 0, "algorithms": {}, "status_distribution": {}, "total_downloads": 0,
        "storage_usage": {"total_size_gb": 0.0, "average_model_size_mb": 0.0},
        "recent_activity": {"models_added_last_7_days": 0, "downloads_last_24_hours": 0},
    }


@pytest.mark.usefixtures("activity")
def test_model_statistics_count_versions_downloads_and_distinct_storage(client):
    assert ok(client.get(STATISTICS)) == {
        "total_models": 4,
        "algorithms": ALGORITHMS,
        "status_distribution": STATUSES,
        "total_downloads": 6,
        "storage_usage": {"total_size_gb": round(STORED / GiB, 3),  # 0.004: shared content once
                          "average_model_size_mb": round(PER_VERSION / 3 / MiB, 3)},  # 2.333
        "recent_activity": {"models_added_last_7_days": 4, "downloads_last_24_hours": 6},
    }


def test_statistics_follow_status_changes_and_deletions(client, activity):
    ok(client.put(model_url(activity.churn["id"]), json={"status": "archived"}))
    ok(client.delete(model_url(activity.fraud_1["id"])))  # its content is still fraud v1.1's

    body = ok(client.get(STATISTICS))

    assert body["total_models"] == 3
    assert body["algorithms"] == {"xgboost": 1, "random_forest": 1, "pytorch_cnn": 1}
    assert body["status_distribution"] == {"deprecated": 1, "archived": 2}
    assert body["total_downloads"] == 3  # the counters of the remaining versions
    assert body["storage_usage"]["total_size_gb"] == round(STORED / GiB, 3)

    ok(client.delete(model_url(activity.fraud_2["id"])))  # the last reference to SHARED

    body = ok(client.get(STATISTICS))
    assert body["storage_usage"] == {"total_size_gb": round(len(OTHER) / GiB, 3),
                                     "average_model_size_mb": 1.0}


# ---- GET /api/v1/statistics (the seed's second example) ----------------------------------------------

def test_platform_statistics_of_an_empty_registry_are_zero(client):
    assert ok(client.get(PLATFORM_STATISTICS)) == {
        "total_models": 0, "models_by_algorithm": {}, "models_by_status": {},
        "storage_stats": {"total_size": "0 B", "average_model_size": "0 B", "total_size_bytes": 0,
                          "average_model_size_bytes": 0},
        "recent_activity": {"models_created_today": 0, "models_downloaded_today": 0},
    }


@pytest.mark.usefixtures("activity")
def test_platform_statistics_in_the_seed_shape(client):
    assert ok(client.get(PLATFORM_STATISTICS)) == {
        "total_models": 4,
        "models_by_algorithm": ALGORITHMS,
        "models_by_status": STATUSES,
        "storage_stats": {"total_size": "4.0 MB", "average_model_size": "2.3 MB",
                          "total_size_bytes": STORED, "average_model_size_bytes": PER_VERSION // 3},
        "recent_activity": {"models_created_today": 4, "models_downloaded_today": 6},
    }


@pytest.mark.usefixtures("activity")
def test_downloads_by_name_count_in_the_statistics(client):
    response = client.get(by_name("churn", "/versions/latest/download"))
    assert response.status_code == 200

    assert ok(client.get(STATISTICS))["total_downloads"] == 7
    assert ok(client.get(STATISTICS))["recent_activity"]["downloads_last_24_hours"] == 7
    assert ok(client.get(PLATFORM_STATISTICS))["recent_activity"]["models_downloaded_today"] == 7


# ---- GET /api/v1/models/popular ------------------------------------------------------------------------

def popular(client, **params) -> dict:
    return ok(client.get(POPULAR, params=params))


def ranking(body: dict) -> list[tuple[str, int]]:
    return [(label(m), m["downloads"]) for m in body["models"]]


def test_nothing_is_popular_before_any_download(client):
    register_with_file(client, OTHER, name="churn")

    assert popular(client) == {"window_days": None, "models": []}


def test_popular_ranks_by_downloads_with_full_records(client, activity):
    body = popular(client)

    assert body["window_days"] is None
    assert ranking(body) == [("fraud/v1.0", 3), ("fraud/v1.1", 2), ("churn/v1.0", 1)]
    first = body["models"][0]
    assert first["id"] == activity.fraud_1["id"]
    assert first["download_count"] == 3
    assert {k: v for k, v in first.items() if k not in ("downloads", "download_count")} == {
        k: v for k, v in activity.fraud_1.items() if k != "download_count"}


@pytest.mark.usefixtures("activity")
def test_popular_limit(client):
    assert ranking(popular(client, limit=2)) == [("fraud/v1.0", 3), ("fraud/v1.1", 2)]
    assert ranking(popular(client, limit=1)) == [("fraud/v1.0", 3)]


@pytest.mark.usefixtures("activity")
def test_popular_ties_are_newest_first(client):
    newer = register_with_file(client, payload(10, seed=9), name="newer")
    downloads(client, newer, 1)

    assert ranking(popular(client))[2:] == [("newer/v1.0", 1), ("churn/v1.0", 1)]


@pytest.mark.usefixtures("activity")
@pytest.mark.parametrize("days", [1, 7, 3650])
def test_a_window_of_days_counts_the_downloads_made_in_it(client, days):
    body = popular(client, days=days)

    assert body["window_days"] == days
    assert ranking(body) == [("fraud/v1.0", 3), ("fraud/v1.1", 2), ("churn/v1.0", 1)]


@pytest.mark.parametrize(("params", "field"), [
    ({"days": 0}, "query.days"), ({"days": -1}, "query.days"), ({"days": "week"}, "query.days"),
    ({"days": 3651}, "query.days"), ({"limit": 0}, "query.limit"), ({"limit": 101}, "query.limit"),
])
def test_bad_popular_parameters_are_422(client, params, field):
    body = assert_error(client.get(POPULAR, params=params), 422, "validation_error")

    assert error_fields(body) == [field]


# ---- GET /api/v1/models/recent -------------------------------------------------------------------------

def test_recent_is_newest_first_and_limited(client):
    ids = [register_model(client, name=f"m{n}")["model_id"] for n in range(12)]

    default = ok(client.get(RECENT))["models"]
    three = ok(client.get(RECENT, params={"limit": 3}))["models"]

    assert [m["id"] for m in default] == ids[::-1][:10]
    assert [m["id"] for m in three] == ids[::-1][:3]
    assert three[0] == ok(client.get(model_url(ids[-1])))


def test_recent_of_an_empty_registry_is_empty(client):
    assert ok(client.get(RECENT)) == {"models": []}


@pytest.mark.parametrize("limit", [0, -3, 101, "ten"])
def test_a_bad_recent_limit_is_422(client, limit):
    body = assert_error(client.get(RECENT, params={"limit": limit}), 422, "validation_error")

    assert error_fields(body) == ["query.limit"]
