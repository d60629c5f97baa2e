"""log_model and load_model: a trained scikit-learn model registered with its file, and loaded
back through a cache that is keyed by the file's sha256."""

from __future__ import annotations

import os
import re

import pytest
from sklearn.linear_model import LogisticRegression

from model_service.client import NotFound

X = [[0.0, 0.1], [0.2, 0.0], [0.9, 1.0], [1.0, 0.8], [0.1, 0.3], [0.8, 0.9]]
Y = [0, 0, 1, 1, 0, 1]


@pytest.fixture
def estimator():
    return LogisticRegression(C=0.5, max_iter=200).fit(X, Y)


def downloads(wire):
    return wire.sent("GET", "/download")


def test_log_model_registers_the_model_with_its_file(sdk, wire, estimator):
    record = sdk.log_model(estimator, name="churn", metrics={"accuracy": 1.0}, hyperparameters={"C": 0.25},
                           tags=["churn"], description="toy", dataset_info={"rows": len(X)})

    assert (record["name"], record["version"], record["algorithm"]) == ("churn", "v1.0", "LogisticRegression")
    assert record["format"] == "skops"
    assert record["hyperparameters"]["max_iter"] == 200  # from the flavour
    assert record["hyperparameters"]["C"] == 0.25  # the caller's value wins
    assert (record["metrics"], record["tags"], record["description"]) == ({"accuracy": 1.0}, ["churn"], "toy")
    assert record["dataset_info"] == {"rows": len(X)}
    assert record["file_metadata"]["size_bytes"] > 0
    assert len(wire.sent("POST")) == 1  # one request: nothing half-registered if it fails


def test_log_model_without_a_name_gets_a_generated_one(sdk, estimator):
    record = sdk.log_model(estimator, metrics={"accuracy": 0.952})

    assert re.fullmatch(r"[A-Za-z]+_95\.2%_[A-Z][a-z]{2}\d{1,2}", record["name"]), record["name"]


def test_load_model_gives_back_a_working_model(sdk, estimator):
    sdk.log_model(estimator, name="churn")
    sdk.set_alias("churn", "production", "v1.0")

    loaded = sdk.load_model("churn@production")

    assert type(loaded) is LogisticRegression
    assert loaded.predict(X).tolist() == estimator.predict(X).tolist()


def test_load_model_with_a_named_flavour(sdk, estimator):
    sdk.log_model(estimator, name="churn")

    assert sdk.load_model("churn", flavor="scikit-learn", trusted=[]).predict(X).tolist() == Y


def test_a_second_load_is_served_from_the_cache(sdk, wire, estimator, tmp_path):
    record = sdk.log_model(estimator, name="churn")

    sdk.load_model("churn")
    sdk.load_model(record["id"])  # another reference to the same content
    sdk.load_model("churn/v1.0")

    assert len(downloads(wire)) == 1
    digest = record["file_metadata"]["checksum"].removeprefix("sha256:")
    assert os.listdir(tmp_path / "cache") == [digest]
    assert os.listdir(tmp_path / "cache" / digest) == ["churn.skops"]


def test_the_cache_follows_the_content_when_an_alias_moves(sdk, wire, estimator):
    sdk.log_model(estimator, name="churn")
    sdk.log_model(LogisticRegression(C=2.0).fit(X, Y), name="churn")
    sdk.set_alias("churn", "production", "v1.0")
    assert sdk.load_model("churn@production").C == 0.5

    sdk.set_alias("churn", "production", "v1.1")

    assert sdk.load_model("churn@production").C == 2.0
    assert len(downloads(wire)) == 2


def test_a_damaged_cached_file_is_downloaded_again(sdk, wire, estimator, tmp_path):
    record = sdk.log_model(estimator, name="churn")
    sdk.load_model("churn")
    digest = record["file_metadata"]["checksum"].removeprefix("sha256:")
    (tmp_path / "cache" / digest / "churn.skops").write_bytes(b"truncated")

    assert sdk.load_model("churn").predict(X).tolist() == estimator.predict(X).tolist()
    assert len(downloads(wire)) == 2


def test_the_cache_folder_comes_from_the_environment(make_sdk, estimator, tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_SERVICE_CACHE", str(tmp_path / "env-cache"))
    sdk, _ = make_sdk(cache_dir=None)
    record = sdk.log_model(estimator, name="churn")

    sdk.load_model("churn")

    digest = record["file_metadata"]["checksum"].removeprefix("sha256:")
    assert (tmp_path / "env-cache" / digest / "churn.skops").is_file()


def test_load_model_of_a_version_without_a_file(sdk, wire):
    sdk.register_model({"name": "churn", "algorithm": "LogisticRegression", "format": "skops"})

    with pytest.raises(NotFound) as caught:
        sdk.load_model("churn")
    assert caught.value.code == "file_not_found"
    assert downloads(wire) == []


def test_a_format_no_flavour_reads_costs_no_download(sdk, wire, tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF weights")
    sdk.push(path, name="llm", algorithm="llama")

    with pytest.raises(ValueError, match="gguf"):
        sdk.load_model("llm")
    assert downloads(wire) == []


def test_log_model_of_an_object_no_flavour_saves(sdk, wire):
    with pytest.raises(TypeError):
        sdk.log_model({"not": "a model"}, name="nothing")
    assert wire.sent("POST") == []
