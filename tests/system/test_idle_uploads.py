"""A half-sent upload does not hold its connection and temporary bytes forever: against a real
``model-service serve`` (with ``UPLOAD_IDLE_TIMEOUT=1``), a client sends the headers and part of
a body over a raw socket and then nothing; within a bounded time the server answers 408
``upload_idle`` and closes the connection, and the upload's temporary bytes are gone — on the
local folder store and on S3 (moto), whose multipart upload and local scan copy go too."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from tests.backends.s3 import S3_ENVIRONMENT
from tests.system.conftest import LiveServer, start_server, stop_server

MiB = 1 << 20
IDLE = 1.0  # UPLOAD_IDLE_TIMEOUT of the servers here
ANSWER_WITHIN = 15.0  # seconds after the last byte sent: the timeout, the clean-up, a loaded machine


@dataclass
class Quiet:
    live: LiveServer
    leftovers: Callable[[], list[str]]

    @property
    def url(self) -> str:
        return self.live.url

    def log(self) -> str:
        """The server's output so far (tests/system/conftest.py's start_server writes it there)."""
        return (self.live.data_dir.parent / f"server-{urlsplit(self.url).port}.log").read_text()


@pytest.fixture(params=["embedded", "s3"])
def server(request, tmp_path) -> Iterator[Quiet]:
    """A server with a short idle timeout; ``leftovers()`` lists what uploads hold in temporary
    space (the blob store's and the scanner's local copies)."""
    data_dir, scan_dir = tmp_path / "data", tmp_path / "scan"
    data_dir.mkdir()
    scan_dir.mkdir()
    environment = {"UPLOAD_IDLE_TIMEOUT": str(IDLE), "SCAN_TEMP_DIR": str(scan_dir), "MAX_FILE_SIZE": "64MB"}
    if request.param == "embedded":
        def leftovers() -> list[str]:
            temp = data_dir / "blobs" / "tmp"
            return [path.name for path in temp.iterdir()] if temp.exists() else []
    else:
        moto_s3 = request.getfixturevalue("moto_s3")
        bucket = moto_s3.new_bucket()
        environment |= {"BLOB_STORE_URL": f"s3://{bucket}/registry", "S3_ENDPOINT_URL": moto_s3.endpoint_url,
                        **S3_ENVIRONMENT}

        def leftovers() -> list[str]:
            return ([f"multipart {upload['Key']}" for upload in moto_s3.multipart_uploads(bucket)]
                    + [f"object {key}" for key in moto_s3.keys(bucket)]
                    + [f"scan copy {path.name}" for path in scan_dir.iterdir()])
    live = start_server(data_dir, **environment)
    yield Quiet(live, leftovers)
    stop_server(live)


def connect(server: Quiet) -> socket.socket:
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    return socket.create_connection((host, port), timeout=ANSWER_WITHIN)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def answer_after_silence(sock: socket.socket) -> tuple[float, bytes]:
    """Everything the server sends once the client has gone quiet, up to its closing the
    connection, and how long after the silence began the connection closed."""
    quiet_since, received = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"no answer and no close {ANSWER_WITHIN:g} s after the client went quiet "
                             f"(received {received[:200]!r})") from None
    return time.monotonic() - quiet_since, received


def assert_idle_answer(elapsed: float, received: bytes) -> dict:
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"connection: close" in head.lower()
    error = json.loads(body)
    assert error["success"] is False and error["code"] == "upload_idle", error
    assert error["details"]["idle_timeout_seconds"] == IDLE
    assert IDLE * 0.9 <= elapsed < ANSWER_WITHIN, elapsed
    return error


def register(server: Quiet, name: str) -> str:
    response = httpx.post(f"{server.url}/api/v1/models", json={"name": name, "algorithm": "svm"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["model_id"]


def test_a_raw_upload_that_goes_quiet_is_answered_408_closed_and_cleaned_up(server):
    model_id = register(server, "quiet")
    with connect(server) as sock:
        sock.sendall((f"POST /api/v1/models/{model_id}/upload HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {32 * MiB}\r\n\r\n").encode())
        sock.sendall(bytes(10 * MiB))  # more than a batch (1 MiB) and than an S3 part (8 MiB): bytes are stored
        wait_for(lambda: server.leftovers() != [], "the upload never reached temporary space")
        error = assert_idle_answer(*answer_after_silence(sock))
    assert error["details"]["bytes_received"] == 10 * MiB
    wait_for(lambda: server.leftovers() == [], f"left behind: {server.leftovers()}", seconds=5)
    assert f"Upload aborted: no byte of its body for 1 s after {10 * MiB} bytes (UPLOAD_IDLE_TIMEOUT)" in server.log()
    assert httpx.get(f"{server.url}/api/v1/models/{model_id}", timeout=30).json()["file_metadata"] is None

    # the server is none the worse: a whole upload afterwards is stored
    done = httpx.post(f"{server.url}/api/v1/models/{model_id}/upload", content=b"weights" * 1000,
                      headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert done.status_code == 201, done.text


def test_a_multipart_registration_that_goes_quiet_registers_nothing(server):
    boundary = "quietboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
            + json.dumps({"name": "quiet_form", "algorithm": "svm"})
            + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.bin\"\r\n"
              "Content-Type: application/octet-stream\r\n\r\n").encode()
    with connect(server) as sock:
        sock.sendall((f"POST /api/v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: {len(head) + 32 * MiB}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode() + head)
        sock.sendall(bytes(10 * MiB))
        wait_for(lambda: server.leftovers() != [], "the upload never reached temporary space")
        assert_idle_answer(*answer_after_silence(sock))
    wait_for(lambda: server.leftovers() == [], f"left behind: {server.leftovers()}", seconds=5)
    assert httpx.get(f"{server.url}/api/v1/models", timeout=30).json()["pagination"]["total"] == 0


def test_a_body_that_never_starts_is_answered_too(server: Quiet):
    model_id = register(server, "silent")
    with connect(server) as sock:
        sock.sendall((f"POST /api/v1/models/{model_id}/upload HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {MiB}\r\n\r\n").encode())
        assert_idle_answer(*answer_after_silence(sock))
    assert server.leftovers() == []
