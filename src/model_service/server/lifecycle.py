"""Running the server: start-up checks, one process or several workers on one port, graceful stop.

Start-up fails fast, before any worker starts: the settings, the stores and the schema are checked,
and the port is bound, each failure being one :class:`StartupError` line that names the problem.

On SIGTERM (or SIGINT) the server stops accepting connections at once, lets the requests in flight
(downloads included) finish for up to ``SHUTDOWN_GRACE_SECONDS``, cuts those still running after
that, runs the app's shutdown (which closes the stores), and the process exits with status 0.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from ..config import Settings
from ..domain.errors import RegistryError

log = logging.getLogger("model_service")

APP_FACTORY = "model_service.server.app:app_from_environment"


class StartupError(Exception):
    """The service cannot start; the message says why, in one line."""


def check_stores(settings: Settings) -> None:
    """Build both stores once, as a worker would (the schema checked or migrated), and close them."""
    from .app import build_registry

    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        raise StartupError(f"DATA_DIR {settings.data_dir} is not a folder")
    try:
        registry = build_registry(settings)
    except RegistryError as exc:
        raise StartupError(exc.message) from None
    except OSError as exc:  # e.g. DATA_DIR cannot be created or written
        where = f": {exc.filename}" if exc.filename else ""
        raise StartupError(f"Cannot prepare the stores: {exc.strerror or exc}{where}") from None
    except Exception as exc:  # anything else still gets one line; the traceback goes to the DEBUG log
        log.debug("Start-up check failed", exc_info=True)
        raise StartupError(f"Cannot prepare the stores: {type(exc).__name__}: {exc}") from None
    registry.metadata.close()
    registry.blobs.close()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here (not inside uvicorn) so a taken port is a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"Cannot listen on {host}:{port}: {exc.strerror} (HOST)") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise StartupError(f"Cannot listen on {host}:{port}: {exc.strerror or exc} (HOST, PORT)") from None
    sock.set_inheritable(True)  # the workers' copies
    return sock


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        log_config=None,  # our logging, configured by `serve` and again in each worker
        access_log=False,  # ours replaces it (ACCESS_LOG)
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]  # a float works
        env_file=None,
    )


def run(settings: Settings) -> None:
    """Serve until stopped; returns normally after a graceful stop (exit status 0)."""
    config = uvicorn_config(settings)
    sock = bind(settings.host, settings.port)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("Listening on http://%s:%d with %d worker process(es); SIGTERM stops gracefully "
             "(SHUTDOWN_GRACE_SECONDS=%g)", host, settings.port, settings.workers, settings.shutdown_grace_seconds)
    if settings.workers > 1:
        supervisor = GracefulWorkers(config, sockets=[sock])
        supervisor.run()
        if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
            raise StartupError("A worker failed to start: see the log above")
        return
    server = GracefulServer(config)
    server.run(sockets=[sock])
    if not server.started:
        raise StartupError("The server did not start: see the log above")


class GracefulServer(uvicorn.Server):
    """uvicorn's server, but a stop asked for by SIGTERM or SIGINT ends the process normally.

    uvicorn raises the signal again once its graceful shutdown is done, so the process would end
    as "killed by SIGTERM" (status 143 in a shell, -15 for a parent); an orchestrator that sent
    the signal expects the 0 of a clean stop."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()  # handled: not to be raised again after the shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        in_flight = sum(1 for connection in self.server_state.connections if _busy(connection))
        log.info("Stopping: no new connections; %d request(s) in flight get up to %g s to finish "
                 "(SHUTDOWN_GRACE_SECONDS)", in_flight, self.config.timeout_graceful_shutdown)
        await super().shutdown(sockets=sockets)  # then the app's shutdown closes the stores (server/app.py)


def _busy(connection: Any) -> bool:
    cycle = getattr(connection, "cycle", None)
    return cycle is not None and not cycle.response_complete


class GracefulWorkers(Multiprocess):
    """uvicorn's worker supervisor, but on a stop the parent closes its own copy of the listening
    socket before signalling the workers: otherwise the kernel keeps accepting connections into
    the backlog of a socket nobody will serve until the last worker has finished its downloads."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()

