"""Every route that takes a file gives up on a body that goes quiet (``UPLOAD_IDLE_TIMEOUT``): 408
``upload_idle`` with ``Connection: close``, the upload's temporary bytes removed, nothing stored.

In process, through httpx's ASGI transport, whose request body is an async generator that sends
half a file and then waits forever (tests/system/test_idle_uploads.py does the same to a real
server over a socket)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

from model_service.server.app import create_app
from tests.conftest import make_settings

from .helpers import MODELS, assert_error

IDLE = 0.3
ANSWER_WITHIN = 10.0  # seconds a test may take: without the timeout, a quiet body would be waited for forever
HALF = 3 << 20  # more than a batch (1 MiB): bytes reach the blob store's temporary space
BOUNDARY = "idle"


async def half_then_quiet(head: bytes) -> AsyncIterator[bytes]:
    yield head
    for _ in range(HALF // (1 << 20)):
        yield bytes(1 << 20)
    await asyncio.Event().wait()  # the client goes quiet, and stays connected


def form(*fields: tuple[str, str]) -> bytes:
    """Multipart fields, then the beginning of a part named ``file``."""
    parts = b"".join(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
                     for name, value in fields)
    return parts + (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.bin\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n").encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(8 << 20)}
RAW = {"Content-Type": "application/octet-stream", "Content-Length": str(8 << 20)}


def in_process(test: Callable[[httpx.AsyncClient], Awaitable[None]]) -> Callable[[Path], None]:
    """The test run on an app of its own (``UPLOAD_IDLE_TIMEOUT`` short), as its client sees it."""
    def run(tmp_path: Path) -> None:
        async def main() -> None:
            app = create_app(make_settings(tmp_path / "data", upload_idle_timeout=IDLE))
            # https: the UI's cookies are Secure
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="https://127.0.0.1") as client:
                try:
                    await asyncio.wait_for(test(client), ANSWER_WITHIN)
                except TimeoutError:
                    raise AssertionError(f"no answer {ANSWER_WITHIN:g} s after the body went quiet") from None
        asyncio.run(main())
    run.__name__, run.__doc__ = test.__name__, test.__doc__  # not functools.wraps: pytest would ask for client
    return run


async def register(client: httpx.AsyncClient, name: str = "quiet") -> str:
    response = await client.post(MODELS, json={"name": name, "algorithm": "svm"})
    assert response.status_code == 201, response.text
    return response.json()["model_id"]


def assert_nothing_left(client: httpx.AsyncClient) -> None:
    data_dir = client._transport.app.state.settings.data_dir
    temp = data_dir / "blobs" / "tmp"
    assert not temp.exists() or list(temp.iterdir()) == []
    assert list((data_dir / "blobs").rglob("sha256/*/*/*")) == []


async def assert_idle(response: httpx.Response) -> None:
    body = assert_error(response, 408, "upload_idle")
    assert body["details"] == {"idle_timeout_seconds": IDLE, "bytes_received": body["details"]["bytes_received"]}
    assert body["details"]["bytes_received"] >= HALF
    assert response.headers["connection"] == "close"


@in_process
async def test_a_raw_upload_gone_quiet(client):
    model_id = await register(client)
    response = await client.post(f"{MODELS}/{model_id}/upload", content=half_then_quiet(b""), headers=RAW)
    await assert_idle(response)
    assert_nothing_left(client)
    assert (await client.get(f"{MODELS}/{model_id}")).json()["file_metadata"] is None


@in_process
async def test_a_multipart_upload_gone_quiet(client):
    model_id = await register(client)
    response = await client.post(f"{MODELS}/{model_id}/upload", content=half_then_quiet(form()), headers=MULTIPART)
    await assert_idle(response)
    assert_nothing_left(client)
    assert (await client.get(f"{MODELS}/{model_id}")).json()["file_metadata"] is None


@in_process
async def test_a_registration_with_its_file_gone_quiet(client):
    metadata = json.dumps({"name": "quiet_form", "algorithm": "svm"})
    response = await client.post(MODELS, content=half_then_quiet(form(("metadata", metadata))), headers=MULTIPART)
    await assert_idle(response)
    assert_nothing_left(client)
    assert (await client.get(MODELS)).json()["pagination"]["total"] == 0


@in_process
async def test_a_new_version_with_its_file_gone_quiet(client):
    base = await register(client)
    response = await client.post(f"{MODELS}/{base}/versions", content=half_then_quiet(form(("metadata", "{}"))),
                                 headers=MULTIPART)
    await assert_idle(response)
    assert_nothing_left(client)
    assert (await client.get(MODELS)).json()["pagination"]["total"] == 1


@in_process
async def test_an_upload_from_the_web_ui_gone_quiet(client):
    model_id = await register(client)
    page = (await client.get(f"/ui/models/{model_id}")).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    response = await client.post(f"/ui/models/{model_id}/upload", content=half_then_quiet(form(("csrf", token))),
                                 headers=MULTIPART)
    assert response.status_code == 408 and response.headers["content-type"].startswith("text/html")
    assert "UPLOAD_IDLE_TIMEOUT" in response.text and response.headers["connection"] == "close"
    assert_nothing_left(client)
    assert (await client.get(f"{MODELS}/{model_id}")).json()["file_metadata"] is None


@in_process
async def test_a_slow_upload_that_keeps_sending_is_not_cut(client):
    """The timeout is on silence, not on the upload's length: bytes every tenth of a second for
    three times the timeout (0.9 s) arrive whole."""
    model_id = await register(client)

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(9):
            yield b"x" * 1000
            await asyncio.sleep(0.1)

    response = await client.post(f"{MODELS}/{model_id}/upload", content=trickle(),
                                 headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.text
    assert response.json()["file_metadata"]["size_bytes"] == 9000
