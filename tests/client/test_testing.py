"""model_service.client.testing.ASGITransport: an ASGI app in-process, lifespan and streaming."""

from __future__ import annotations

import threading

import httpx
import pytest

from model_service.client.testing import ASGITransport


class Recorder:
    """A small ASGI app: lifespan events recorded; ``/stream`` sends 1000 chunks; ``/echo`` returns
    how many body chunks it received; ``/boom`` fails before answering.

    ``progress`` is notified before and after each chunk of ``/stream`` is sent; ``backlog`` is the
    transport's queue of the chunks it took and the client has not read yet (white-box: this file
    tests the transport)."""

    def __init__(self):
        self.lifespan: list[str] = []
        self.chunks_sent = 0
        self.disconnected = False
        self.progress = threading.Condition()
        self.backlog = None

    def _notify(self) -> None:
        with self.progress:
            self.progress.notify_all()

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
        self.backlog = send.__self__.events
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(1000):
            self._notify()
            await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
            self.chunks_sent += 1
            self._notify()
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
            # nothing more is read: the app either stops on a full backlog (held back) or runs
            # ahead; asked while the response is open, since once it is closed the app's sends
            # return at once (as a server's do after a disconnect) and it runs to its end
            with app.progress:
                settled = app.progress.wait_for(lambda: app.backlog.full() or app.chunks_sent >= 50, timeout=30)
            assert settled, f"the app neither filled the backlog nor ran ahead: {app.chunks_sent} chunks sent"
            assert app.chunks_sent < 50  # the app was held back, not run to the end into memory
        assert len(first) == 1024
        assert len(client.get("/stream").content) == 1000 * 1024


def test_an_app_error_is_raised_or_answered_as_500():
    with (httpx.Client(transport=ASGITransport(Recorder()), base_url="http://testserver") as client,
          pytest.raises(RuntimeError, match="boom")):
        client.get("/boom")
    quiet = ASGITransport(Recorder(), raise_app_exceptions=False)
    with httpx.Client(transport=quiet, base_url="http://testserver") as client:
        assert client.get("/boom").status_code == 500
