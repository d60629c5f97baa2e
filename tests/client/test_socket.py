"""The SDK over a real socket, against a real ``model-service serve`` process on 127.0.0.1."""

from __future__ import annotations

import hashlib

import pytest

from model_service.client import ModelServiceClient, NotFound
from tests.system.conftest import start_server, stop_server

from .helpers import payload
from .proxy import CuttingProxy

SIZE = 6_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("socket") / "data"
    data_dir.mkdir()
    live = start_server(data_dir)
    yield live
    stop_server(live)


@pytest.fixture
def model(tmp_path):
    content = payload(SIZE, seed=11)
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    return path, content


def test_a_round_trip_over_the_network(server, model, tmp_path):
    path, content = model
    with ModelServiceClient(server.url, headers={"X-Actor": "socket-test"}) as client:
        assert client.health()["status"] == "healthy"
        record = client.push(path, name="socket_model", algorithm="onnx_runtime", metrics={"accuracy": 0.9})
        client.set_alias("socket_model", "production", record["version"])

        downloaded = client.download("socket_model@production", tmp_path / "out" / "copy.onnx")

        assert downloaded.read_bytes() == content
        assert record["created_by"] == "socket-test"
        assert [m["id"] for m in client.search_models(name="socket_model")] == [record["id"]]
        client.delete_model(record["id"])
        with pytest.raises(NotFound):
            client.get_model(record["id"])


def test_a_download_cut_midway_resumes_over_the_network(server, model, tmp_path):
    path, content = model
    proxy = CuttingProxy(int(server.url.rsplit(":", 1)[1]))
    sleeps: list[float] = []
    try:
        with ModelServiceClient(proxy.url, sleep=sleeps.append) as client:
            model_id = client.push(path, name="resumed_model", algorithm="onnx_runtime")["id"]
            proxy.cut_next_download(after=2_000_000)

            downloaded = client.download(model_id, tmp_path / "copy.onnx")
    finally:
        proxy.close()

    assert proxy.cuts == 1
    assert hashlib.sha256(downloaded.read_bytes()).digest() == hashlib.sha256(content).digest()
    first, second = proxy.downloads
    assert "range:" not in first.lower()
    resumed_from = int(second.lower().split("range: bytes=")[1].split("-")[0])
    assert 0 < resumed_from < SIZE
    assert f'if-range: "{hashlib.sha256(content).hexdigest()}"' in second.lower()
    assert len(sleeps) == 1
