"""Hostile input: path traversal, header injection, oversized and deeply nested JSON, unicode,
huge collections. Each is refused with a 4xx in the error shape (never a 500) and leaves
nothing behind, or, for upload filenames, is reduced to a harmless name; no answer carries a
header value that could split the header block."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient

from model_service.config import Settings
from model_service.domain.models import (
    MAX_KEY_LENGTH,
    MAX_METRICS,
    MAX_NESTING,
    MAX_OBJECT_KEYS,
    MAX_PARAM_PATH_LENGTH,
    MAX_TAGS,
    MAX_VALUE_LENGTH,
)
from model_service.server.app import create_app
from tests.conftest import make_settings

from .helpers import (
    MODELS,
    assert_client_error,
    assert_error,
    blob_store_state,
    download,
    model_url,
    post_json_text,
    register_model,
    stored_blobs,
    total_models,
    upload,
)

BY_NAME = f"{MODELS}/by-name"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """One app for the module (each test checks what it added, so they can share one)."""
    with TestClient(create_app(make_settings(tmp_path_factory.mktemp("hostile") / "data"))) as shared:
        yield shared


@pytest.fixture(scope="module")
def settings(client: TestClient) -> Settings:
    return client.app.state.settings


@pytest.fixture(scope="module")
def data_dir(settings: Settings) -> Path:
    return settings.data_dir


@pytest.fixture
def untouched(client: TestClient, data_dir: Path):
    """Asserts, after the test, that no version and no blob was added (and no temporary file left)."""
    before = (total_models(client), blob_store_state(data_dir))
    yield
    assert (total_models(client), blob_store_state(data_dir)) == before


def all_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def assert_headers_are_safe(response) -> None:
    """Every header value is one line of visible ASCII (what the server sends is what was meant)."""
    for name, value in response.headers.raw:
        assert all(0x20 <= byte < 0x7F or byte == 0x09 for byte in value), (name, value)


# ---- names: traversal, encodings, unicode -------------------------------------------------------

TRAVERSING_NAMES = ["../etc", "..", "a/../b", "a/b", "a\\b", "..%2f..%2fetc", "%2e%2e%2f", "C:\\x", "a\x00b",
                    ".hidden", "a b", "a\r\nSet-Cookie: x=1", "a;b", "a@prod", "a?b", "a#b"]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", TRAVERSING_NAMES)
def test_a_traversing_or_injecting_name_is_refused_at_registration(client, name):
    assert_error(client.post(MODELS, json={"name": name, "algorithm": "svm"}), 422, "invalid_name")


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc", "a%2Fb", "a%00b", "a%0D%0Ab",
    "%C3%A9t%C3%A9", "%F0%9F%98%80", "%FF%FE", "x" * 300, "%2e%2e",
])
@pytest.mark.parametrize("suffix", ["", "/versions/latest", "/versions/latest/download", "/aliases", "/history"])
def test_a_hostile_name_in_a_url_is_a_4xx(client, path, suffix):
    response = client.get(f"{BY_NAME}/{path}{suffix}")

    assert_client_error(response)
    assert_headers_are_safe(response)


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", ["modèle", "模型", "model😀", "ｆｕｌｌｗｉｄｔｈ", "a\u202eexe", "a\u200bb", "Ω"])
def test_a_non_ascii_name_is_refused_as_the_naming_rules_say(client, name):
    """Names are ASCII letters, digits and ``_ - . % +``: anything else is a 422, never a 500."""
    assert_error(client.post(MODELS, json={"name": name, "algorithm": "svm"}), 422, "invalid_name")
    assert_client_error(client.get(f"{BY_NAME}/{quote(name, safe='')}"))


# Valid names that look percent-encoded round-trip through real URLs: tests/system/test_names_in_urls.py
# (in process, the test client decodes paths twice).


# ---- upload filenames ----------------------------------------------------------------------------

def _multipart(filename_param: bytes, data: bytes = b"weights") -> tuple[bytes, str]:
    """A multipart body whose file part carries ``filename_param`` byte for byte."""
    boundary = "hostile-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; ".encode() + filename_param
            + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + f"\r\n--{boundary}--\r\n".encode())
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(("sent", "kept"), [
    (b'filename="../../etc/passwd"', "passwd"),
    (b'filename="C:\\\\x"', "x"),
    (b'filename="C:\\\\models\\\\final.pkl"', "final.pkl"),
    (b'filename="/abs/path/m.onnx"', "m.onnx"),
    (b'filename=".."', None),
    (b'filename="a\\"b.pkl"', 'a"b.pkl'),
    ('filename="r\u00e9seau\u202e.pkl"'.encode(), "réseau.pkl"),
    (b'filename="%2e%2e%2fx.pkl"', "%2e%2e%2fx.pkl"),
    (b'filename="tab\there.pkl"', "tabhere.pkl"),
])
def test_an_upload_filename_is_reduced_to_its_last_printable_component(client, data_dir, sent, kept):
    model_id = register_model(client)["model_id"]
    files_before = all_files(data_dir.parent)
    body, content_type = _multipart(sent)

    response = client.post(model_url(model_id, "/upload"), content=body, headers={"content-type": content_type})

    assert response.status_code == 201, response.text
    assert response.json()["file_metadata"]["filename"] == kept
    # Nothing but the content-addressed blob (and the database's own files) appeared.
    added = all_files(data_dir.parent) - files_before
    assert {path for path in added if "blobs" in path.parts} <= set(stored_blobs(data_dir))
    assert all(path.is_relative_to(data_dir) for path in added), added


@pytest.mark.parametrize("filename", ["../../etc/passwd", "..\\..\\boot.ini", "x\x7fy.pkl"])
def test_a_raw_upload_filename_is_cleaned_the_same_way(client, filename):
    model_id = register_model(client)["model_id"]

    response = upload(client, model_id, b"weights", filename=filename)

    assert response.status_code == 201, response.text
    assert "/" not in response.json()["file_metadata"]["filename"]
    assert "\\" not in response.json()["file_metadata"]["filename"]
    assert "\x7f" not in response.json()["file_metadata"]["filename"]


def test_a_long_upload_filename_keeps_255_characters_and_its_extension(client):
    model_id = register_model(client)["model_id"]
    body, content_type = _multipart(b'filename="' + b"n" * 2000 + b'.onnx"')

    response = client.post(model_url(model_id, "/upload"), content=body, headers={"content-type": content_type})

    assert response.status_code == 201, response.text
    kept = response.json()["file_metadata"]["filename"]
    assert len(kept) == 255 and kept.endswith(".onnx")
    assert response.json()["file_metadata"]["format"] == "onnx"


def test_a_multipart_header_too_long_to_parse_is_400_and_nothing_is_stored(client, data_dir):
    model_id = register_model(client)["model_id"]
    before = blob_store_state(data_dir)
    body, content_type = _multipart(b'filename="' + b"n" * 100_000 + b'.onnx"')

    response = client.post(model_url(model_id, "/upload"), content=body, headers={"content-type": content_type})

    assert_error(response, 400, "invalid_multipart")
    assert blob_store_state(data_dir) == before
    assert client.get(model_url(model_id)).json()["file_metadata"] is None


def test_a_file_name_header_with_control_characters_is_stored_without_them(client):
    """A real server refuses CR/LF in a header line; the in-process client passes them through,
    which shows what the service itself does with them."""
    model_id = register_model(client)["model_id"]

    response = client.post(model_url(model_id, "/upload"), content=b"weights",
                           headers={"content-type": "application/octet-stream",
                                    "X-File-Name": "evil\r\nSet-Cookie: a=b.pkl"})

    assert response.status_code == 201, response.text
    assert response.json()["file_metadata"]["filename"] == "evilSet-Cookie: a=b.pkl"
    assert_headers_are_safe(download(client, model_id))


# ---- header injection through stored values ----------------------------------------------------

@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("field", ["algorithm", "created_by"])
@pytest.mark.parametrize("value", ["xgb\r\nSet-Cookie: a=b", "xgb\nX-Evil: 1", "xgb\u2028x", "xgb\x85x", "a\x00b"])
def test_one_line_fields_refuse_line_breaks(client, field, value):
    body = {"name": "m", "algorithm": "svm", field: value}

    assert_error(client.post(MODELS, json=body), 422, f"invalid_{field}")


@pytest.mark.parametrize("algorithm", ["régression-logistique", "模型", "a%0D%0Ab", "x\"y\\z", "emoji😀"])
def test_download_headers_carry_any_stored_value_as_safe_ascii(client, algorithm):
    name = f"bert+large_90%_{len(algorithm.encode())}"
    model_id = register_model(client, name=name, algorithm=algorithm)["model_id"]
    upload(client, model_id, b"weights", filename="m.pkl")

    for response in (download(client, model_id), download(client, model_id, "HEAD"),
                     client.get(f"{BY_NAME}/{quote(name, safe='')}/versions/latest/download")):
        assert response.status_code == 200
        assert_headers_are_safe(response)
        assert unquote(response.headers["x-model-algorithm"]) == algorithm
        assert response.headers["x-model-version"] == "v1.0"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith(f'attachment; filename="{name.replace("%", "_")}.pkl"; ')
        assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == f"{name}.pkl"


# ---- oversized and deeply nested JSON -----------------------------------------------------------

@pytest.mark.usefixtures("untouched")
def test_a_body_over_max_request_size_is_413_and_nothing_is_stored(client, settings):
    text = json.dumps({"name": "m", "algorithm": "svm", "description": "x" * settings.max_request_size})

    assert_error(post_json_text(client, MODELS, text), 413, "request_too_large")


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 200, 100_000])
@pytest.mark.parametrize("field", ["hyperparameters", "dataset_info"])
def test_json_nested_past_the_limit_is_a_4xx_and_nothing_is_stored(client, depth, field):
    text = f'{{"name": "m", "algorithm": "svm", "{field}": {{"a": ' + '{"a": ' * depth + "1" + "}" * depth + "}}"

    assert_client_error(post_json_text(client, MODELS, text))


@pytest.mark.usefixtures("untouched")
def test_json_arrays_nested_past_the_limit_are_a_4xx(client):
    text = '{"name": "m", "algorithm": "svm", "dataset_info": {"a": ' + "[" * 50_000 + "]" * 50_000 + "}}"

    assert_client_error(post_json_text(client, MODELS, text))


def test_an_update_nested_past_the_limit_is_a_4xx(client):
    model_id = register_model(client)["model_id"]
    text = '{"metrics": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"

    assert_client_error(post_json_text(client, model_url(model_id), text, method="PUT"))
    assert client.get(model_url(model_id)).json()["metrics"] == {}


# ---- huge collections and long strings ----------------------------------------------------------

HUGE = [
    ({"tags": ["t"] * 100_000}, "invalid_tags"),
    ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "invalid_tags"),
    ({"tags": ["x" * 65]}, "invalid_tags"),
    ({"metrics": {f"m{i}": 0.5 for i in range(MAX_METRICS + 1)}}, "invalid_metrics"),
    ({"metrics": {"m" * (MAX_KEY_LENGTH + 1): 0.5}}, "invalid_metrics"),
    ({"hyperparameters": {f"p{i}": i for i in range(MAX_OBJECT_KEYS + 1)}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"g": {f"p{i}": i for i in range(MAX_OBJECT_KEYS)}}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"note": "x" * (MAX_VALUE_LENGTH + 1)}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"layers": [{"k" * (MAX_KEY_LENGTH + 1): 1}]}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"a": {"": 1}}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"a.b": 1, "a": {"b": 2}}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"k" * 128: {"k" * 128: 1}}}, "invalid_hyperparameters"),
    ({"hyperparameters": {'a"b': 1}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"a\\b": 1}}, "invalid_hyperparameters"),
    ({"hyperparameters": {"a\nb": 1}}, "invalid_hyperparameters"),
    ({"dataset_info": {f"c{i}": i for i in range(MAX_OBJECT_KEYS + 1)}}, "invalid_dataset_info"),
    ({"dataset_info": {"rows": [{"text": "x" * (MAX_VALUE_LENGTH + 1)}]}}, "invalid_dataset_info"),
    ({"description": "x" * 20_000}, "invalid_description"),
    ({"algorithm": "x" * 129}, "invalid_algorithm"),
    ({"created_by": "x" * 257}, "invalid_created_by"),
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(("fields", "code"), HUGE, ids=[f"{i}-{code}" for i, (_, code) in enumerate(HUGE)])
def test_a_huge_or_malformed_collection_is_422_and_nothing_is_stored(client, fields, code):
    assert_error(client.post(MODELS, json={"name": "m", "algorithm": "svm", **fields}), 422, code)


def test_the_same_limits_hold_for_a_new_version_and_an_update(client):
    model_id = register_model(client)["model_id"]
    before = total_models(client)
    too_many = {f"m{i}": 0.5 for i in range(MAX_METRICS + 1)}

    assert_error(client.post(model_url(model_id, "/versions"), json={"metrics": too_many}), 422, "invalid_metrics")
    assert_error(client.put(model_url(model_id), json={"metrics": too_many}), 422, "invalid_metrics")
    assert_error(client.put(model_url(model_id), json={"tags": ["t"] * 10_000}), 422, "invalid_tags")
    assert total_models(client) == before
    assert client.get(model_url(model_id)).json()["metrics"] == {}


def test_collections_at_the_limits_are_accepted(client):
    body = register_model(
        client,
        tags=[f"t{i}" for i in range(MAX_TAGS)],
        metrics={f"m{i}": i / 1000 for i in range(MAX_METRICS)},
        hyperparameters={"note": "x" * MAX_VALUE_LENGTH, **{f"p{i}": i for i in range(MAX_OBJECT_KEYS - 4)},
                         "nested": {"k" * 127: 1}, "optimizer.lr": 0.1},  # 1024 keys in all, one of them nested
    )

    model = body["model"]
    assert (len(model["tags"]), len(model["metrics"]), len(model["hyperparameters"])) == (
        MAX_TAGS, MAX_METRICS, MAX_OBJECT_KEYS - 1)
    assert len("nested." + "k" * 127) <= MAX_PARAM_PATH_LENGTH


def test_a_duplicate_tag_list_within_the_limit_is_deduplicated(client):
    assert register_model(client, tags=["a", "b", "a", "b"])["model"]["tags"] == ["a", "b"]


# ---- query strings ------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"page": 10**30}, {"limit": 10**30}, {"page": -1}, {"created_after": "0.5"}, {"created_before": "1e99"},
    {"tags": "t," * 5000}, {"q": "x" * 10_000}, {"filter": "(" * 5000}, {"sort": "-" * 1000},
    {"name": "a\x00b"}, "algorithm=%ED%A0%80", "q=%FF%FE", "name=%00", "tags=%0D%0A",
])
def test_hostile_query_parameters_are_a_4xx_or_harmless(client, params):
    response = client.get(MODELS, params=params) if isinstance(params, dict) else client.get(f"{MODELS}?{params}")

    assert response.status_code < 500, response.text
    assert_headers_are_safe(response)


@pytest.mark.parametrize("query", ["page=99999999999999999999999", "page=1000001", "page=0"])
def test_paging_a_name_past_any_page_is_a_422_not_a_500(client, query):
    register_model(client, name="paged")

    assert_error(client.get(f"{BY_NAME}/paged?{query}"), 422, "validation_error")


def test_a_huge_limit_is_capped_at_max_page_size(client, settings):
    register_model(client, name="paged")

    assert client.get(f"{BY_NAME}/paged?limit=99999999999999999999").json()["pagination"]["limit"] == (
        settings.max_page_size)


@pytest.mark.parametrize("value", ["0.5", "-2744498", "1700000000", "1e9"])
def test_a_time_must_be_iso_8601_not_a_number(client, value):
    register_model(client, name="timed")

    assert_error(client.get(MODELS, params={"created_after": value}), 422, "validation_error")
    assert_error(client.get(f"{BY_NAME}/timed/history", params={"since": value}), 422, "validation_error")
    assert_error(client.get(f"{BY_NAME}/timed/aliases/prod", params={"at": value}), 422, "validation_error")
