"""GET /api/v1/models: newest first, paginated, bounded by MAX_PAGE_SIZE."""

from __future__ import annotations

import pytest

from .helpers import MODELS, assert_error, error_fields, list_models, register_model


def register_many(client, count: int) -> list[str]:
    """Ids of ``count`` new models, oldest first."""
    return [register_model(client, name=f"model_{n}")["model_id"] for n in range(count)]


def test_an_empty_registry_lists_nothing(client):
    assert list_models(client) == {"models": [], "pagination": {"page": 1, "limit": 20, "total": 0, "pages": 0}}


def test_models_are_listed_newest_first_with_full_records(client):
    ids = register_many(client, 3)

    body = list_models(client)

    assert [m["id"] for m in body["models"]] == ids[::-1]
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 3, "pages": 1}
    assert body["models"][0] == client.get(f"{MODELS}/{ids[-1]}").json()


def test_pages_split_the_list_without_overlap(client):
    ids = register_many(client, 5)

    pages = [list_models(client, page=page, limit=2) for page in (1, 2, 3)]

    assert [[m["id"] for m in page["models"]] for page in pages] == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    assert [page["pagination"] for page in pages] == [
        {"page": page, "limit": 2, "total": 5, "pages": 3} for page in (1, 2, 3)
    ]


def test_a_page_beyond_the_end_is_empty(client):
    register_many(client, 2)

    body = list_models(client, page=7, limit=2)

    assert body["models"] == []
    assert body["pagination"] == {"page": 7, "limit": 2, "total": 2, "pages": 1}


def test_limit_is_capped_at_max_page_size(make_client):
    client = make_client(max_page_size=5)
    register_many(client, 7)

    body = list_models(client, limit=100)

    assert len(body["models"]) == 5
    assert body["pagination"] == {"page": 1, "limit": 5, "total": 7, "pages": 2}
    assert len(list_models(client, page=2, limit=100)["models"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": 0}, "query.page"), ({"limit": 0}, "query.limit"), ({"page": "abc"}, "query.page"),
     ({"limit": -5}, "query.limit"), ({"limit": "ten"}, "query.limit"), ({"page": 1.5}, "query.page")],
)
def test_bad_paging_parameters_are_422_naming_them(client, params, field):
    body = assert_error(client.get(MODELS, params=params), 422, "validation_error")

    assert error_fields(body) == [field]
