"""GET /api/v1/models and GET /api/v1/models/search: the seed's parameters, the filter language, sort
and paging, and that a search follows changes. Both endpoints answer the same, so every test runs
against both. Malformed filters and sorts: ``test_search_errors.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .discovery_helpers import SEARCH_ENDPOINTS, labels, ok, search
from .helpers import assert_error, error_fields, model_url, register_model
from .search_catalog import (
    ALL,
    CNN,
    F1,
    F2,
    LR,
    NB,
    NEWEST_FIRST,
    RF,
    found,
    found_set,
)

# ---- the seed's parameters ------------------------------------------------------------------------

def test_without_parameters_every_version_is_listed_newest_first(catalog, endpoint):
    body = search(catalog.client, endpoint)

    assert labels(body) == NEWEST_FIRST
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 6, "pages": 1}
    assert body["models"][0] == catalog.models[NB]


@pytest.mark.parametrize(("params", "expected"), [
    ({"algorithm": "xgboost"}, [F1, F2]),
    ({"algorithm": "random_forest"}, [RF]),
    ({"algorithm": "XGBoost"}, []),
    ({"status": "active"}, [F1, F2, LR, NB]),
    ({"status": "deprecated"}, [RF]),
    ({"status": "archived"}, [CNN]),
    ({"name": "fraud_xgb"}, [F1, F2]),
    ({"name": "fraud"}, []),
    ({"created_by": "alice"}, [F1, RF, NB]),
    ({"created_by": "carol"}, [LR]),
    ({"algorithm": "xgboost", "created_by": "bob"}, [F2]),
    ({"status": "active", "created_by": "alice", "algorithm": "naive_bayes"}, [NB]),
])
def test_field_parameters_match_exactly(catalog, endpoint, params, expected):
    assert found_set(catalog, endpoint, **params) == expected


def test_an_invalid_status_is_422(catalog, endpoint):
    body = assert_error(catalog.client.get(endpoint, params={"status": "retired"}), 422, "validation_error")

    assert error_fields(body) == ["query.status"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"tags": "staging,churn"}, [F2, RF, LR]),
    ({"tags": "spam"}, [NB]),
    ({"tags": " fraud , staging "}, [F1, F2]),
    ({"tags": "nope,also-nope"}, []),
    ({"tags_all": "production,churn"}, [RF]),
    ({"tags_all": "production,fraud"}, [F1]),
    ({"tags_all": "fraud"}, [F1, F2]),
    ({"tags_all": "fraud,spam"}, []),
    ({"tags": "churn,spam", "tags_all": "production"}, [RF, NB]),
])
def test_tags_any_of_and_tags_all_of(catalog, endpoint, params, expected):
    assert found_set(catalog, endpoint, **params) == expected


@pytest.mark.parametrize(("q", "expected"), [
    ("FRAUD", [F1, F2]),  # name and description, any case
    ("fraud_xgb", [F1, F2]),
    ("forest", [RF]),  # algorithm
    ("classifier", [CNN]),  # description
    ("card payments", [F1]),  # several words of the description
    ("stagi", [F2]),  # part of a tag
    ("churn", [RF, LR]),  # name, description, tag
    ("nb", [NB]),  # two characters
    ("Cn", [CNN]),  # two characters, any case
    ("%", []),  # a literal percent sign, not a wildcard
    ("zzz", []),
])
def test_q_is_a_case_insensitive_substring_of_name_algorithm_description_or_tags(catalog, endpoint, q, expected):
    assert found_set(catalog, endpoint, q=q) == expected


@pytest.mark.parametrize(("minimum", "expected"), [
    (0.9, [F1, F2, RF]),
    (0.95, [F1]),  # test_accuracy (0.97) counts, not accuracy (0.5); spam_nb: 0.89, not its accuracy 0.99
    (0.97, [F1]),  # inclusive
    (0.0, [F1, F2, RF, LR, NB]),  # images_cnn has no accuracy
    (0.98, []),
])
def test_min_accuracy_uses_test_accuracy_then_accuracy(catalog, endpoint, minimum, expected):
    assert found_set(catalog, endpoint, min_accuracy=minimum) == expected


def test_created_after_is_inclusive_and_created_before_exclusive(catalog, endpoint):
    created = {key: model["created_at"] for key, model in catalog.models.items()}

    assert found_set(catalog, endpoint, created_after=created[RF]) == [RF, LR, CNN, NB]
    assert found_set(catalog, endpoint, created_before=created[RF]) == [F1, F2]
    assert found_set(catalog, endpoint, created_after=created[F2], created_before=created[CNN]) == [F2, RF, LR]


def test_created_after_and_before_take_plain_dates(catalog, endpoint):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()

    assert found_set(catalog, endpoint, created_after=yesterday) == ALL
    assert found_set(catalog, endpoint, created_before=tomorrow) == ALL
    assert found_set(catalog, endpoint, created_before=yesterday) == []
    assert found_set(catalog, endpoint, created_after=tomorrow) == []


@pytest.mark.parametrize("param", ["created_after", "created_before"])
@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-01-01T25:00:00", "1/2/2024"])
def test_a_bad_date_is_422_naming_the_parameter(catalog, endpoint, param, value):
    body = assert_error(catalog.client.get(endpoint, params={param: value}), 422, "validation_error")

    assert error_fields(body) == [f"query.{param}"]


# ---- paging -----------------------------------------------------------------------------------------

def test_pages_of_a_search_split_it_without_overlap(catalog, endpoint):
    pages = [search(catalog.client, endpoint, limit=4, page=page) for page in (1, 2)]

    assert [labels(page) for page in pages] == [NEWEST_FIRST[:4], NEWEST_FIRST[4:]]
    assert [page["pagination"] for page in pages] == [
        {"page": page, "limit": 4, "total": 6, "pages": 2} for page in (1, 2)]


def test_a_page_beyond_the_end_is_empty_with_the_right_total(catalog, endpoint):
    body = search(catalog.client, endpoint, limit=2, page=9, algorithm="xgboost")

    assert body == {"models": [], "pagination": {"page": 9, "limit": 2, "total": 2, "pages": 1}}


def test_filter_sort_and_paging_together(catalog, endpoint):
    body = search(catalog.client, endpoint, filter="metrics.f1_score IS NOT NULL", sort="-metrics.f1_score",
                  limit=2, page=2)

    assert labels(body) == [RF, LR]  # after F1 (0.95) and NB (0.91, newer than RF)
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 5, "pages": 3}


@pytest.mark.parametrize("path", SEARCH_ENDPOINTS)
def test_limit_above_max_page_size_is_capped_and_reported(make_client, path):
    client = make_client(max_page_size=3)
    for n in range(5):
        register_model(client, name=f"capped_{n}", tags=["capped"])

    body = search(client, path, limit=50, tags="capped")
    last = search(client, path, limit=50, tags="capped", page=2)

    assert len(body["models"]) == 3
    assert body["pagination"] == {"page": 1, "limit": 3, "total": 5, "pages": 2}
    assert [m["name"] for m in last["models"]] == ["capped_1", "capped_0"]
    assert last["pagination"] == {"page": 2, "limit": 3, "total": 5, "pages": 2}


# ---- the filter language ------------------------------------------------------------------------------

FILTERS = [
    # the example
    ("metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')", [F1, RF, NB]),
    # metrics
    ("metrics.loss < 0.2", [F1]),
    ("metrics.accuracy >= 0.9 AND metrics.accuracy <= 0.95", [F2, RF]),
    ("metrics.f1_score = 0.91", [RF, NB]),
    ("metrics.f1_score != 0.91", [F1, F2, LR]),  # false for a version without the metric
    ("metrics.f1_score > 9e-1", [F1, RF, NB]),
    ("metrics.`f1_score` > 0.9", [F1, RF, NB]),
    ("metrics.f1_score IN (0.88, 0.9)", [F2, LR]),
    # hyperparameters: numbers, strings, booleans, nested keys
    ("hyperparameters.max_depth > 6", [F2, RF]),
    ("hyperparameters.learning_rate < 0.1", [F2]),
    ("hyperparameters.criterion = 'gini'", [RF]),
    ("hyperparameters.optimizer.name = 'adam'", [F1, CNN]),
    ("hyperparameters.optimizer.beta1 >= 0.9", [F1]),
    ("hyperparameters.early_stopping = true", [F1]),
    ("hyperparameters.early_stopping = FALSE", [F2]),
    ("hyperparameters.max_depth IN (6, 10)", [F1, RF]),
    ("params.penalty IN ('l1', 'l2')", [LR]),
    ("hyperparameters.optimizer.name LIKE 'a%'", [F1, CNN]),
    # fields
    ("algorithm IN ('random_forest', 'naive_bayes')", [RF, NB]),
    ("algorithm NOT IN ('xgboost', 'pytorch_cnn')", [RF, LR, NB]),
    ("created_by = \"carol\"", [LR]),
    ("accuracy >= 0.95", [F1]),
    ("version >= 'v1.1'", [F2]),
    ("version = '1.0' AND name = 'fraud_xgb'", [F1]),
    ("size_bytes = 2048", [NB]),
    ("download_count = 0", ALL),
    ("status == 'archived' OR status <> 'active' AND algorithm = 'random_forest'", [RF, CNN]),
    # LIKE is case-sensitive, ILIKE is not; _ is a wildcard
    ("name LIKE 'churn%'", [RF, LR]),
    ("name LIKE 'CHURN%'", []),
    ("description ILIKE '%churn%'", [RF, LR]),
    ("name NOT LIKE '%_xgb'", [RF, LR, CNN, NB]),
    ("name ILIKE 'SPAM_NB'", [NB]),
    # tags
    ("tags = 'production'", [F1, RF, NB]),
    ("tags != 'production'", [F2, LR, CNN]),
    ("tags LIKE 'stag%'", [F2]),
    ("tags IN ('spam', 'staging')", [F2, NB]),
    # IS NULL
    ("metrics.f1_score IS NULL", [CNN]),
    ("metrics.loss IS NOT NULL", [F1]),
    ("hyperparameters.criterion IS NULL", [F1, F2, LR, CNN, NB]),
    ("size_bytes IS NOT NULL", [NB]),
    ("size_bytes IS NULL", [F1, F2, RF, LR, CNN]),
    ("tags IS NULL", [CNN]),
    ("accuracy IS NULL", [CNN]),
    # NOT, AND before OR, parentheses, keywords in any case
    ("NOT algorithm = 'xgboost'", [RF, LR, CNN, NB]),
    ("NOT (status = 'active')", [RF, CNN]),
    ("(algorithm = 'xgboost' OR algorithm = 'random_forest') AND created_by = 'alice'", [F1, RF]),
    ("algorithm = 'xgboost' OR algorithm = 'random_forest' AND created_by = 'bob'", [F1, F2]),
    ("algorithm in ('xgboost') and not tags = 'staging'", [F1]),
    ("((metrics.f1_score > 0.9))", [F1, RF, NB]),
    ("NOT NOT created_by = 'bob'", [F2, CNN]),
    ("NOT NOT NOT algorithm = 'xgboost'", [RF, LR, CNN, NB]),
    ("NOT tags IS NULL", [F1, F2, RF, LR, NB]),
    ("NOT metrics.f1_score IS NULL", [F1, F2, RF, LR, NB]),
    ("NOT hyperparameters.max_depth > 6", [F1, LR, CNN, NB]),  # NOT of a comparison includes the missing
]


@pytest.mark.parametrize(("expression", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filter_expressions(catalog, endpoint, expression, expected):
    assert found_set(catalog, endpoint, filter=expression) == expected


def test_filters_on_times_and_ids(catalog, endpoint):
    rf = catalog.models[RF]

    assert found_set(catalog, endpoint, filter=f"created_at >= '{rf['created_at']}'") == [RF, LR, CNN, NB]
    assert found_set(catalog, endpoint, filter=f"created_at < '{rf['created_at']}'") == [F1, F2]
    assert found_set(catalog, endpoint, filter=f"id = '{rf['id']}'") == [RF]
    assert found_set(catalog, endpoint, filter=f"parent_model_id = '{catalog.models[F1]['id']}'") == [F2]
    assert found_set(catalog, endpoint, filter="parent_model_id IS NULL") == [F1, RF, LR, CNN, NB]


def test_a_deeply_nested_filter_within_the_limits_works(catalog, endpoint):
    expression = "name = 'fraud_xgb'"
    for _ in range(30):
        expression = f"version >= 'v1.0' AND ({expression})"

    assert found_set(catalog, endpoint, filter=expression) == [F1, F2]
    assert found_set(catalog, endpoint, filter="NOT " * 20 + "name = 'fraud_xgb'") == [F1, F2]


def test_a_blank_filter_is_no_filter(catalog, endpoint):
    assert found(catalog, endpoint, filter="   ") == NEWEST_FIRST


@pytest.mark.parametrize(("params", "expression", "expected"), [
    ({"algorithm": "xgboost"}, "metrics.f1_score > 0.9", [F1]),
    ({"tags": "churn"}, "metrics.accuracy < 0.9", [LR]),
    ({"status": "active", "q": "fraud"}, "hyperparameters.max_depth >= 8", [F2]),
    ({"min_accuracy": 0.9}, "tags = 'production'", [F1, RF]),
    ({"created_by": "alice"}, "algorithm = 'xgboost' OR algorithm = 'naive_bayes'", [F1, NB]),  # the OR stays inside
])
def test_simple_parameters_and_the_filter_are_combined_with_and(catalog, endpoint, params, expression, expected):
    assert found_set(catalog, endpoint, filter=expression, **params) == expected


# ---- sort ---------------------------------------------------------------------------------------------

SORTS = [
    ("-metrics.f1_score", [F1, NB, RF, LR, F2, CNN]),  # tie 0.91: by id, descending; missing last
    ("metrics.f1_score", [F2, LR, RF, NB, F1, CNN]),  # tie by id, ascending; missing still last
    ("name,-version", [LR, RF, F2, F1, CNN, NB]),
    ("+name,-version", [LR, RF, F2, F1, CNN, NB]),
    ("-created_at", NEWEST_FIRST),
    ("created_at", ALL),
    ("algorithm,-metrics.f1_score", [LR, NB, CNN, RF, F1, F2]),
    ("-accuracy", [F1, RF, F2, NB, LR, CNN]),
    ("hyperparameters.max_depth", [F1, F2, RF, LR, CNN, NB]),
    ("-hyperparameters.max_depth", [RF, F2, F1, NB, CNN, LR]),
    ("status,name,version", [LR, F1, F2, NB, CNN, RF]),
    ("-size_bytes,created_at", [NB, F1, F2, RF, LR, CNN]),
]


@pytest.mark.parametrize(("sort", "expected"), SORTS, ids=[s for s, _ in SORTS])
def test_sort_orders(catalog, endpoint, sort, expected):
    assert found(catalog, endpoint, sort=sort) == expected


def test_sort_applies_to_the_filtered_set(catalog, endpoint):
    assert found(catalog, endpoint, sort="-metrics.loss,name", tags="production") == [F1, RF, NB]


@pytest.mark.parametrize("sort", ["colour", "metrics", "tags", "description", "-", "name,,version",
                                  "name,version,algorithm,status,created_at", "hyperparameters"])
def test_a_bad_sort_is_400_invalid_sort(catalog, endpoint, sort):
    assert_error(catalog.client.get(endpoint, params={"sort": sort}), 400, "invalid_sort")


# ---- the search follows changes -------------------------------------------------------------------------

def test_search_follows_updates_of_metrics_tags_description_and_status(client, endpoint):
    model = register_model(client, name="churn", metrics={"accuracy": 0.8}, tags=["old"], description="first")
    ok(client.put(model_url(model["model_id"]),
                  json={"metrics": {"test_accuracy": 0.97, "f1_score": 0.9}, "tags": ["fresh"],
                        "description": "Retrained on March data", "status": "deprecated"}))

    def count(**params) -> int:
        return search(client, endpoint, **params)["pagination"]["total"]

    assert count(min_accuracy=0.95) == 1
    assert count(filter="metrics.accuracy IS NULL AND metrics.f1_score = 0.9") == 1
    assert count(tags="fresh") == 1
    assert count(tags="old") == 0
    assert count(q="march data") == 1
    assert count(q="first") == 0
    assert count(status="deprecated") == 1


def test_a_deleted_version_is_no_longer_found(client, endpoint):
    kept = register_model(client, name="churn", metrics={"f1_score": 0.5}, tags=["t"])["model_id"]
    gone = register_model(client, name="churn", metrics={"f1_score": 0.9}, tags=["t"])["model_id"]
    ok(client.delete(model_url(gone)))

    body = search(client, endpoint, filter="metrics.f1_score > 0.1", tags="t", q="churn", sort="-metrics.f1_score")

    assert [m["id"] for m in body["models"]] == [kept]
    assert body["pagination"]["total"] == 1
