"""Models by name: GET /api/v1/models/by-name/{name}, …/versions/{version|alias|latest} and its
/download (GET and HEAD), with names that need percent-encoding."""

from __future__ import annotations

import pytest

from .discovery_helpers import by_name, labels, ok, put_alias, register_versions
from .helpers import (
    MODELS,
    assert_error,
    checksum,
    download_count,
    error_fields,
    model_url,
    payload,
    register_model,
    sha256_hex,
    upload,
)


@pytest.fixture
def fraud(client) -> list[str]:
    """``fraud`` v1.0, v1.1, v1.2 and (a breaking change) v2.0, plus another name; ids oldest first."""
    ids = register_versions(client, "fraud", 3)
    ids.append(ok(client.post(MODELS, json={"name": "fraud", "algorithm": "xgboost", "breaking_changes": True}),
                  201)["model_id"])
    register_model(client, name="fraud_v2")
    register_model(client, name="other")
    return ids


def versions_of(client, name: str, **params) -> dict:
    return ok(client.get(by_name(name), params=params))


def resolve(client, name: str, ref: str):
    return client.get(by_name(name, f"/versions/{ref}"))


# ---- GET /by-name/{name} -------------------------------------------------------------------------------

def test_every_version_of_a_name_newest_first_with_its_aliases(client, fraud):
    body = versions_of(client, "fraud")

    assert body["name"] == "fraud"
    assert labels(body) == ["fraud/v2.0", "fraud/v1.2", "fraud/v1.1", "fraud/v1.0"]
    assert [m["id"] for m in body["versions"]] == fraud[::-1]
    assert body["versions"][-1] == ok(client.get(model_url(fraud[0])))
    assert body["aliases"] == {}
    assert body["pagination"] == {"page": 1, "limit": 100, "total": 4, "pages": 1}


@pytest.mark.usefixtures("fraud")
def test_the_aliases_map_shows_where_each_alias_points(client):
    ok(put_alias(client, "fraud", "production", version="v1.1"))
    ok(put_alias(client, "fraud", "staging", version="v2.0"))

    assert versions_of(client, "fraud")["aliases"] == {"production": "v1.1", "staging": "v2.0"}


@pytest.mark.usefixtures("fraud")
def test_versions_of_a_name_are_paginated(client):
    first = versions_of(client, "fraud", limit=3)
    second = versions_of(client, "fraud", limit=3, page=2)
    beyond = versions_of(client, "fraud", limit=3, page=3)

    assert labels(first) == ["fraud/v2.0", "fraud/v1.2", "fraud/v1.1"]
    assert labels(second) == ["fraud/v1.0"]
    assert labels(beyond) == []
    assert [b["pagination"] for b in (first, second, beyond)] == [
        {"page": page, "limit": 3, "total": 4, "pages": 2} for page in (1, 2, 3)]


def test_the_limit_of_a_name_listing_is_capped(make_client):
    client = make_client(max_page_size=2)
    register_versions(client, "capped", 3)

    body = versions_of(client, "capped", limit=50)

    assert labels(body) == ["capped/v1.2", "capped/v1.1"]
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2}


@pytest.mark.usefixtures("fraud")
def test_an_unknown_name_is_404_name_not_found(client):
    body = assert_error(client.get(by_name("fraudulent")), 404, "name_not_found")

    assert body["details"]["name"] == "fraudulent"


@pytest.mark.parametrize("name", ["bad name", "a@b", "-leading-dash", "x" * 129, "ünïcode"])
def test_an_invalid_name_is_422(client, name):
    assert_error(client.get(by_name(name)), 422, "invalid_name")


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize(("params", "field"), [({"page": 0}, "query.page"), ({"limit": 0}, "query.limit")])
def test_bad_paging_of_a_name_is_422(client, params, field):
    body = assert_error(client.get(by_name("fraud"), params=params), 422, "validation_error")

    assert error_fields(body) == [field]


# ---- names that need percent-encoding ------------------------------------------------------------------

# (Names holding "%" followed by two hex digits are left out: Starlette's TestClient decodes the
# path twice, so only a real server can show those.)
ODD_NAMES = ["acc95%+v2", "100%", "a+b", "x%+%", "dots.and-dashes_1"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_a_name_with_percent_and_plus_round_trips_through_the_url(client, name):
    ids = register_versions(client, name, 2)
    register_model(client, name=name.replace("%", "p").replace("+", "_") + "0")  # a look-alike

    body = versions_of(client, name)
    latest = ok(resolve(client, name, "latest"))
    ok(put_alias(client, name, "production", version="v1.0"))

    assert body["name"] == name
    assert [m["id"] for m in body["versions"]] == ids[::-1]
    assert {m["name"] for m in body["versions"]} == {name}
    assert latest["id"] == ids[1]
    assert ok(resolve(client, name, "production"))["id"] == ids[0]
    assert ok(client.get(by_name(name, "/aliases")))["name"] == name


def test_a_plus_sign_left_unencoded_in_the_path_is_still_a_plus(client):
    ids = register_versions(client, "a+b", 1)

    response = client.get(f"{MODELS}/by-name/a+b/versions/latest")

    assert ok(response)["id"] == ids[0]


# ---- GET /by-name/{name}/versions/{ref} ----------------------------------------------------------------

@pytest.mark.parametrize(("ref", "index"), [
    ("v1.0", 0), ("v1.1", 1), ("1.1", 1), ("v1.2", 2), ("2.0", 3), ("latest", 3), ("production", 1),
])
def test_a_version_by_number_alias_or_latest(client, fraud, ref, index):
    ok(put_alias(client, "fraud", "production", version="v1.1"))

    assert ok(resolve(client, "fraud", ref)) == ok(client.get(model_url(fraud[index])))


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize(("ref", "code"), [("v9.9", "version_not_found"), ("1.3", "version_not_found"),
                                           ("v3.0", "version_not_found"), ("staging", "alias_not_found")])
def test_an_unknown_version_or_alias_is_404(client, ref, code):
    assert_error(resolve(client, "fraud", ref), 404, code)


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize("ref", ["latest", "v1.0", "production"])
def test_any_ref_of_an_unknown_name_is_404(client, ref):
    assert resolve(client, "nobody", ref).status_code == 404


def test_latest_follows_new_versions_and_deletions(client, fraud):
    assert ok(resolve(client, "fraud", "latest"))["version"] == "v2.0"

    ok(client.delete(model_url(fraud[3])))

    assert ok(resolve(client, "fraud", "latest"))["version"] == "v1.2"


# ---- GET|HEAD /by-name/{name}/versions/{ref}/download ----------------------------------------------------

@pytest.fixture
def files(client, fraud) -> dict[str, bytes]:
    """v1.0 and v1.1 of ``fraud`` with different files (v1.2 and v2.0 have none); production → v1.0."""
    contents = {"v1.0": payload(1000, seed=10), "v1.1": payload(1500, seed=11)}
    for model_id, data in zip(fraud, contents.values(), strict=False):
        assert upload(client, model_id, data, filename="model.joblib").status_code == 201
    ok(put_alias(client, "fraud", "production", version="v1.0"))
    return contents


def download_by_name(client, name: str, ref: str, method: str = "GET"):
    return client.request(method, by_name(name, f"/versions/{ref}/download"))


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize(("ref", "version"), [("v1.1", "v1.1"), ("1.0", "v1.0"), ("production", "v1.0")])
def test_a_download_by_name_streams_that_versions_file_with_the_seed_headers(client, files, ref, version):
    response = download_by_name(client, "fraud", ref)

    assert response.status_code == 200
    data = files[version]
    assert response.content == data
    headers = response.headers
    assert headers["content-length"] == str(len(data))
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith('attachment; filename="fraud.joblib"')
    assert headers["x-model-algorithm"] == "xgboost"
    assert headers["x-model-version"] == version
    assert headers["x-file-checksum"] == checksum(data)
    assert headers["etag"] == f'"{sha256_hex(data)}"'
    assert headers["accept-ranges"] == "bytes"


@pytest.mark.usefixtures("files")
def test_a_download_by_name_counts_one_download_of_that_version_only(client, fraud):
    assert download_by_name(client, "fraud", "production").status_code == 200
    assert download_by_name(client, "fraud", "v1.1").status_code == 200
    assert download_by_name(client, "fraud", "v1.1").status_code == 200

    assert [download_count(client, model_id) for model_id in fraud] == [1, 2, 0, 0]


@pytest.mark.usefixtures("files")
def test_head_by_name_has_the_headers_no_body_and_is_not_counted(client, fraud):
    get = download_by_name(client, "fraud", "v1.1")
    head = download_by_name(client, "fraud", "v1.1", "HEAD")

    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "content-type", "content-disposition", "x-model-algorithm", "x-model-version",
                 "x-file-checksum", "etag", "accept-ranges"):
        assert head.headers[name] == get.headers[name], name
    assert download_count(client, fraud[1]) == 1


@pytest.mark.usefixtures("fraud")
def test_a_ranged_download_by_name(client, files):
    response = client.get(by_name("fraud", "/versions/v1.1/download"), headers={"Range": "bytes=10-19"})

    assert response.status_code == 206
    assert response.content == files["v1.1"][10:20]
    assert response.headers["content-range"] == "bytes 10-19/1500"


@pytest.mark.usefixtures("fraud", "files")
def test_a_download_of_a_version_without_file_is_404(client):
    assert_error(download_by_name(client, "fraud", "latest"), 404, "file_not_found")


@pytest.mark.usefixtures("files")
@pytest.mark.parametrize(("name", "ref", "code"), [("fraud", "v7.0", "version_not_found"),
                                                   ("fraud", "champion", "alias_not_found"),
                                                   ("nobody", "latest", "name_not_found")])
def test_a_download_of_an_unknown_ref_is_404(client, name, ref, code):
    assert_error(download_by_name(client, name, ref), 404, code)
    assert download_by_name(client, name, ref, "HEAD").status_code == 404


def test_a_download_by_an_odd_name_names_the_file_after_it(client):
    model_id = register_versions(client, "acc95%+v2", 1)[0]
    assert upload(client, model_id, b"weights", filename="model.pkl").status_code == 201

    response = download_by_name(client, "acc95%+v2", "latest")

    assert response.status_code == 200
    assert response.content == b"weights"
    assert "filename*=UTF-8''acc95%25%2Bv2.pkl" in response.headers["content-disposition"]
