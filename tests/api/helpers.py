"""What the HTTP tests share: requests a user makes, and the checks of what a user sees."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

MODELS = "/api/v1/models"
HEX24 = re.compile(r"[0-9a-f]{24}")
MiB = 1 << 20
UNKNOWN_ID = "0123456789abcdef01234567"


def model_url(model_id: str, suffix: str = "") -> str:
    return f"{MODELS}/{model_id}{suffix}"


# ---- checks -----------------------------------------------------------------------------------


def describe(response: httpx.Response) -> str:
    """A response in one line, for assertion messages (binary bodies shown as a short repr)."""
    return f"{response.status_code} {dict(response.headers)} {response.content[:300]!r}"


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """The error contract: status, JSON body ``{success, error, code, details, request_id}`` and
    an ``X-Request-ID`` header equal to the body's ``request_id``. Returns the body."""
    assert response.status_code == status, describe(response)
    assert response.headers.get("content-type", "").startswith("application/json"), describe(response)
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    assert body["request_id"], body
    assert response.headers.get("x-request-id") == body["request_id"]
    return body


def assert_client_error(response: httpx.Response) -> dict:
    """Some 4xx (never a 5xx) in the error shape; returns the body."""
    assert 400 <= response.status_code < 500, describe(response)
    return assert_error(response, response.status_code, response.json().get("code"))


def error_fields(body: dict) -> list[str]:
    """The fields a ``validation_error`` body names."""
    return [problem["field"] for problem in body["details"]["errors"]]


# ---- bytes and files --------------------------------------------------------------------------


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum(data: bytes) -> str:
    return f"sha256:{sha256_hex(data)}"


def chunked(data: bytes, size: int = MiB) -> Iterator[bytes]:
    """A generator body: sent without Content-Length (chunked transfer encoding)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def stored_blobs(data_dir: Path) -> list[Path]:
    """Committed files of the local blob store."""
    return sorted(path for path in (data_dir / "blobs" / "sha256").rglob("*") if path.is_file())


def temp_files(data_dir: Path) -> list[Path]:
    """Uploads in flight (or left behind) in the blob store's temporary folder."""
    return sorted((data_dir / "blobs" / "tmp").iterdir())


def blob_store_state(data_dir: Path) -> tuple[list[str], list[str]]:
    """(names of the committed blobs, names of files left in the temporary folder)."""
    return [path.name for path in stored_blobs(data_dir)], [path.name for path in temp_files(data_dir)]


# ---- requests ---------------------------------------------------------------------------------


def register_model(client: TestClient, **fields: Any) -> dict:
    """Register through the API (default name ``fraud_model``, algorithm ``xgboost``); the body."""
    body = {"name": "fraud_model", "algorithm": "xgboost", **fields}
    response = client.post(MODELS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def post_json_text(client: TestClient, url: str, text: str | bytes, method: str = "POST") -> httpx.Response:
    """Send ``text`` as-is with ``Content-Type: application/json`` (for bodies httpx would not encode)."""
    return client.request(method, url, content=text, headers={"content-type": "application/json"})


def get_model(client: TestClient, model_id: str) -> dict:
    response = client.get(model_url(model_id))
    assert response.status_code == 200, response.text
    return response.json()


def list_models(client: TestClient, **params: Any) -> dict:
    response = client.get(MODELS, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def total_models(client: TestClient) -> int:
    return list_models(client)["pagination"]["total"]


def upload(client: TestClient, model_id: str, data: Any, *, filename: str | None = "model.pkl",
           headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    """Raw-body upload (``application/octet-stream``); ``filename`` goes in the query string."""
    if filename is not None:
        params["filename"] = filename
    return client.post(model_url(model_id, "/upload"), content=data, params=params,
                       headers={"content-type": "application/octet-stream", **(headers or {})})


def form_parts(metadata: dict | str | None = None, data: bytes | None = None, *, filename: str = "model.pkl",
               file_first: bool = False, **fields: str) -> list[tuple[str, tuple]]:
    """Parts of a multipart body (``files=`` of httpx): ``metadata`` JSON, plain fields, the ``file``."""
    parts: list[tuple[str, tuple]] = []
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        parts.append(("metadata", (None, text.encode(), "application/json")))
    parts += [(name, (None, value.encode())) for name, value in fields.items()]
    if data is not None:
        file_part = ("file", (filename, data, "application/octet-stream"))
        parts = [file_part, *parts] if file_first else [*parts, file_part]
    return parts


def multipart_body(parts: list[tuple[str, tuple]]) -> tuple[bytes, str]:
    """The encoded bytes of a multipart body and its Content-Type (to send altered copies)."""
    request = httpx.Request("POST", "http://test/", files=parts)
    return request.read(), request.headers["content-type"]


def post_form(client: TestClient, url: str, *args: Any, headers: dict[str, str] | None = None,
              **kwargs: Any) -> httpx.Response:
    """POST a multipart body built by :func:`form_parts`."""
    return client.post(url, files=form_parts(*args, **kwargs), headers=headers)


def download(client: TestClient, model_id: str, method: str = "GET", **headers: str) -> httpx.Response:
    """GET (or HEAD) the file; keyword headers use underscores (``if_none_match=…``)."""
    return client.request(method, model_url(model_id, "/download"),
                          headers={name.replace("_", "-"): value for name, value in headers.items()})


def download_count(client: TestClient, model_id: str) -> int:
    """The count as both ``/info`` and ``GET /{id}`` report it (they must agree)."""
    info = client.get(model_url(model_id, "/info")).json()["download_count"]
    assert get_model(client, model_id)["download_count"] == info
    return info
