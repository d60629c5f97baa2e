"""A tiny TCP proxy on 127.0.0.1 that can break a download's connection midway, once: what a
flaky network does to a long transfer."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """Forwards every connection to ``127.0.0.1:upstream_port``. After :meth:`cut_next_download`,
    the next response to a ``GET …/download`` is cut (both sockets closed) once ``after`` of
    its bytes (head included) have been passed on. ``downloads`` keeps the head of every
    download request seen."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.downloads: list[str] = []
        self.cuts = 0
        self._cut_after: int | None = None
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next_download(self, after: int) -> None:
        self._cut_after = after

    def close(self) -> None:
        self.listener.close()
        for sock in self._open:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._open += [client, upstream]
            connection = {"armed_at": None}
            threading.Thread(target=self._requests, args=(client, upstream, connection), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client, connection), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, connection: dict) -> None:
        while data := _recv(client):
            line = data.split(b"\r\n", 1)[0]
            if line.startswith(b"GET ") and b"/download" in line:
                with self._lock:
                    self.downloads.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                    if self._cut_after is not None:
                        connection["armed_at"], self._cut_after = self._cut_after, None
            try:
                upstream.sendall(data)
            except OSError:
                break
        _close(upstream)

    def _responses(self, upstream: socket.socket, client: socket.socket, connection: dict) -> None:
        passed = 0
        while data := _recv(upstream):
            limit = connection["armed_at"]
            if limit is not None and passed + len(data) >= limit:
                try:
                    client.sendall(data[:limit - passed])
                finally:
                    self.cuts += 1
                    _close(client)
                    _close(upstream)
                return
            if limit is not None:
                passed += len(data)
            try:
                client.sendall(data)
            except OSError:
                break
        _close(client)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
