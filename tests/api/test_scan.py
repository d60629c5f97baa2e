"""Unsafe-model scanning through the API: the verdict in the model JSON, the upload's answer,
``/info`` and the ``X-Model-Scan`` download header; ``REJECT_UNSAFE_MODELS`` refusing a file with
nothing kept. No file here is ever loaded: the malicious ones are only written and scanned."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests import scanfiles

from .helpers import (
    MODELS,
    assert_error,
    blob_store_state,
    download,
    get_model,
    model_url,
    post_form,
    register_model,
    total_models,
    upload,
)

SYSTEM = os.system.__module__  # posix
METADATA = {"name": "scanned_model", "algorithm": "xgboost"}


def uploaded(client, data: bytes, filename: str = "model.pkl", **params) -> dict:
    """Register a version, upload ``data`` to it; the model's JSON afterwards."""
    model_id = register_model(client, name="scanned_model")["model_id"]
    response = upload(client, model_id, data, filename=filename, **params)
    assert response.status_code == 201, response.text
    model = get_model(client, model_id)
    assert response.json()["file_metadata"] == model["file_metadata"]
    return model


def test_an_unsafe_pickle_is_stored_with_its_verdict_everywhere(client):
    model = uploaded(client, scanfiles.malicious_pickle())
    scan = model["file_metadata"]["scan"]
    assert scan["verdict"] == "unsafe" and scan["executable"] is True
    assert scan["globals"] == [{"module": SYSTEM, "name": "system", "safety": "dangerous"}]
    assert scan["scanner"] == "picklescan" and scan["scanner_version"]
    assert scan["scanned_at"]

    info = client.get(model_url(model["id"], "/info")).json()
    assert info["file_metadata"]["scan"] == scan
    for method in ("GET", "HEAD"):
        assert download(client, model["id"], method).headers["x-model-scan"] == "unsafe"
    assert client.get(MODELS).json()["models"][0]["file_metadata"]["scan"] == scan


@pytest.mark.parametrize("data, verdict", [(scanfiles.benign_pickle(), "safe"),
                                           (scanfiles.benign_pickle()[:-2], "unscanned"),
                                           (scanfiles.malicious_pickle()[:-2], "unsafe"),
                                           (scanfiles.eval_by_stack_global(), "unsafe")],
                         ids=["data", "truncated", "truncated_after_a_dangerous_import", "stack_global"])
def test_each_pickle_gets_its_verdict(client, data, verdict):
    model = uploaded(client, data)
    assert model["file_metadata"]["scan"]["verdict"] == verdict
    assert download(client, model["id"]).headers["x-model-scan"] == verdict


def test_a_truncated_pickle_is_unscanned_and_says_why(client):
    scan = uploaded(client, scanfiles.benign_pickle()[:-1])["file_metadata"]["scan"]
    assert (scan["verdict"], scan["reason"]) == ("unscanned", "unreadable")
    assert "ends early" in scan["detail"]


def test_a_pytorch_archive_is_scanned_inside(client):
    safe = uploaded(client, scanfiles.torch_zip(scanfiles.torch_data_pkl()), filename="model.pt")
    assert safe["file_metadata"]["scan"]["verdict"] == "safe"
    evil = scanfiles.torch_zip(scanfiles.torch_data_pkl(extra=scanfiles.os_system_protocol0()[:-1]))
    scan = uploaded(client, evil, filename="model.bin")["file_metadata"]["scan"]
    assert scan["verdict"] == "unsafe"
    assert {"module": "os", "name": "system", "safety": "dangerous"} in scan["globals"]


@pytest.mark.parametrize("data, filename", [(scanfiles.safetensors_file(), "model.safetensors"),
                                            (scanfiles.onnx_file(), "model.onnx")])
def test_safetensors_and_onnx_are_safe_and_not_executable(client, data, filename):
    scan = uploaded(client, data, filename=filename)["file_metadata"]["scan"]
    assert (scan["verdict"], scan["executable"], scan["reason"]) == ("safe", False, "non_executable_format")
    assert scan["globals"] == [] and scan["scanner"] is None


def test_a_format_the_scanner_does_not_read_is_unscanned(client):
    scan = uploaded(client, b"\x89HDF\r\n\x1a\n" + bytes(100), filename="model.h5")["file_metadata"]["scan"]
    assert (scan["verdict"], scan["executable"], scan["reason"]) == ("unscanned", None, "format_not_scanned")


def test_a_pickle_declared_as_safetensors_is_scanned_as_what_it_is(client):
    scan = uploaded(client, scanfiles.malicious_pickle(), filename="model.safetensors")["file_metadata"]["scan"]
    assert scan["verdict"] == "unsafe"


def test_the_format_query_parameter_decides_what_is_scanned(client):
    scan = uploaded(client, scanfiles.malicious_pickle(), filename="weights.dat",
                    format="joblib")["file_metadata"]["scan"]
    assert scan["verdict"] == "unsafe"


def test_a_version_without_a_file_has_no_scan(client):
    model_id = register_model(client, name="no_file")["model_id"]
    assert get_model(client, model_id)["file_metadata"] is None
    assert client.get(model_url(model_id, "/info")).json()["file_metadata"] is None


def test_the_scan_is_in_the_openapi_document(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "scan" in schemas["FileMetadataOut"]["properties"]
    assert set(schemas["ScanOut"]["properties"]["verdict"]["enum"]) == {"safe", "suspicious", "unsafe", "unscanned"}


# ---- settings ---------------------------------------------------------------------------------------------

def test_with_scanning_off_files_are_unscanned(make_client):
    client = make_client(scan_models=False)
    scan = uploaded(client, scanfiles.malicious_pickle())["file_metadata"]["scan"]
    assert (scan["verdict"], scan["reason"], scan["scanner"]) == ("unscanned", "scanning_disabled", None)


def test_a_scan_past_scan_timeout_is_unscanned(make_client):
    client = make_client(scan_timeout=0.001)
    model = uploaded(client, scanfiles.benign_pickle())
    assert (model["file_metadata"]["scan"]["verdict"], model["file_metadata"]["scan"]["reason"]) == (
        "unscanned", "scan_timeout")
    assert download(client, model["id"]).headers["x-model-scan"] == "unscanned"


def test_allowed_globals_make_a_suspicious_file_safe(make_client):
    data = (b"\x80\x02" + scanfiles.global_op("sklearn.linear_model", "LogisticRegression") + b")\x81}b.")
    assert uploaded(make_client(), data)["file_metadata"]["scan"]["verdict"] == "suspicious"
    allowed = make_client(scan_allowed_globals="sklearn.*")
    assert uploaded(allowed, data)["file_metadata"]["scan"]["verdict"] == "safe"


# ---- REJECT_UNSAFE_MODELS ------------------------------------------------------------------------------------

@pytest.fixture
def rejecting(make_client):
    return make_client(reject_unsafe_models=True)


def data_dir_of(client):
    return client.app.state.settings.data_dir


def test_an_unsafe_upload_is_refused_with_nothing_kept(rejecting):
    model_id = register_model(rejecting, name="scanned_model")["model_id"]

    response = upload(rejecting, model_id, scanfiles.malicious_pickle())

    body = assert_error(response, 422, "unsafe_model")
    assert body["details"]["globals"] == [{"module": SYSTEM, "name": "system", "safety": "dangerous"}]
    assert body["details"]["scan"]["verdict"] == "unsafe"
    assert get_model(rejecting, model_id)["file_metadata"] is None
    assert blob_store_state(data_dir_of(rejecting)) == ([], [])
    events = rejecting.get(model_url(model_id, "/history")).json()["events"]
    assert [event["kind"] for event in events] == ["created"]
    refused = refusals(rejecting)
    assert [(r["model_id"], r["name"], r["version"]) for r in refused] == [(model_id, "scanned_model", "v1.0")]
    assert refused[0]["details"]["file"] == {"sha256": hashlib.sha256(scanfiles.malicious_pickle()).hexdigest(),
                                             "size_bytes": len(scanfiles.malicious_pickle())}
    assert refused[0]["details"]["globals"] == body["details"]["globals"]


def refusals(client) -> list[dict]:
    """The audit log's records of refused unsafe uploads."""
    response = client.get("/api/v1/audit", params={"action": "model.upload_refused"})
    assert response.status_code == 200, response.text
    return response.json()["records"]


def test_register_with_an_unsafe_file_creates_no_version(rejecting):
    response = post_form(rejecting, MODELS, METADATA, scanfiles.malicious_pickle(), filename="model.pkl")

    assert_error(response, 422, "unsafe_model")
    assert total_models(rejecting) == 0
    assert blob_store_state(data_dir_of(rejecting)) == ([], [])
    assert rejecting.get(f"{MODELS}/by-name/scanned_model/versions").status_code == 404
    assert [(r["name"], r["model_id"]) for r in refusals(rejecting)] == [("scanned_model", None)]


def test_a_new_version_with_an_unsafe_file_is_not_created(rejecting):
    base = register_model(rejecting, name="scanned_model")["model_id"]
    response = post_form(rejecting, model_url(base, "/versions"), {}, scanfiles.malicious_pickle())
    assert_error(response, 422, "unsafe_model")
    assert total_models(rejecting) == 1
    assert [r["name"] for r in refusals(rejecting)] == ["scanned_model"]


@pytest.mark.parametrize("data, verdict", [(scanfiles.benign_pickle(), "safe"),
                                           (scanfiles.benign_pickle()[:-1], "unscanned")], ids=["safe", "truncated"])
def test_rejecting_refuses_only_what_is_unsafe(rejecting, data, verdict):
    assert uploaded(rejecting, data)["file_metadata"]["scan"]["verdict"] == verdict


def test_a_suspicious_upload_is_kept_when_rejecting(rejecting):
    data = b"\x80\x02" + scanfiles.global_op("mylib.models", "Net") + b")\x81."
    assert uploaded(rejecting, data)["file_metadata"]["scan"]["verdict"] == "suspicious"
