"""model_service.client.testing.ASGITransport: an ASGI app in-process, lifespan and streaming."""

from __future__ import annotations

import time

import httpx
import pytest

from model_service.client.testing import ASGITransport


class Recorder:
    """A small ASGI app: lifespan events recorded; ``/stream`` sends 1000 chunks; ``/echo`` returns
    how many body chunks it received; ``/boom`` fails before answering."""

    def __init__(self):
        self.lifespan: list[str] = []
        self.chunks_sent = 0
        self.disconnected = False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("boom")
        if path == "/echo":
            pieces = []
            while True:
                message = await receive()
                pieces.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = f"{sum(1 for p in pieces if p)} {sum(len(p) for p in pieces)}".encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(1000):
            await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
            self.chunks_sent += 1
        await send({"type": "http.response.body", "body": b""})


def test_lifespan_runs_at_creation_and_close():
    app = Recorder()
    client = httpx.Client(transport=ASGITransport(app), base_url="http://testserver")
    assert app.lifespan == ["lifespan.startup"]
    client.close()
    assert app.lifespan == ["lifespan.startup", "lifespan.shutdown"]


def test_request_bodies_stream_in():
    app = Recorder()
    with httpx.Client(transport=ASGITransport(app), base_url="http://testserver") as client:
        response = client.post("/echo", content=iter([b"a" * 10, b"b" * 20, b"c" * 30]))
    assert response.text == "3 60"


def test_responses_stream_out_with_back_pressure():
    app = Recorder()
    with httpx.Client(transport=ASGITransport(app), base_url="http://testserver") as client:
        with client.stream("GET", "/stream") as response:
            first = next(response.iter_raw())
            time.sleep(0.2)  # time for an app that is not held back to run ahead
            # asked while the response is open: once it is closed, the app's sends return at once
            # (as a server's do after a disconnect) and it runs to its end
            assert app.chunks_sent < 50  # the app was held back, not run to the end into memory
        assert len(first) == 1024
        assert len(client.get("/stream").content) == 1000 * 1024


def test_an_app_error_is_raised_or_answered_as_500():
    with httpx.Client(transport=ASGITransport(Recorder()), base_url="http://testserver") as client:
        with pytest.raises(RuntimeError, match="boom"):
            client.get("/boom")
    quiet = ASGITransport(Recorder(), raise_app_exceptions=False)
    with httpx.Client(transport=quiet, base_url="http://testserver") as client:
        assert client.get("/boom").status_code == 500
