"""What every registry command shares: where the server is, which key to send, ``--json``, and
how the SDK's errors become one line on stderr and an exit status.

The commands talk to a running service through the SDK (``model_service.client``) only; it is
imported when a command runs, so ``model-service serve`` never loads it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from model_service.client import ModelServiceClient, ModelServiceError


class ExitCode(IntEnum):
    """The exit statuses of the registry commands (documented in every ``--help`` and the README)."""

    OK = 0
    ERROR = 1  # anything else: the server refused the request as invalid, a file could not be written, …
    USAGE = 2  # the command line itself (Click's own status)
    NOT_FOUND = 3  # no such version, name, alias or file
    CONFLICT = 4  # the state forbids it: the file is already uploaded, the alias has moved
    DENIED = 5  # no API key, or one without the scope or outside its name prefix
    UNAVAILABLE = 6  # the server could not be reached, is rate limiting, or reports itself unhealthy


EXIT_CODES_HELP = """\b
Exit status: 0 success, 1 error, 2 usage, 3 not found, 4 conflict,
5 not allowed (API key), 6 server unreachable, busy or unhealthy."""

CONNECTION_HELP = """\b
The server is --url or MODEL_SERVICE_URL (default http://127.0.0.1:8084);
the API key --api-key or MODEL_SERVICE_API_KEY."""

EPILOG = f"{CONNECTION_HELP}\n\n{EXIT_CODES_HELP}"


class CommandFailed(click.ClickException):
    """A failure with its own exit status, shown by Click as ``Error: <message>`` on stderr."""

    def __init__(self, message: str, exit_code: int = ExitCode.ERROR):
        super().__init__(message)
        # Click declares exit_code a ClassVar but reads it from the instance it caught
        # (Command.main: sys.exit(e.exit_code)); this exception carries its own status.
        self.exit_code = int(exit_code)  # type: ignore[misc]


def failure(error: ModelServiceError, url: str) -> CommandFailed:
    """The one-line message and exit status for an SDK error: the server's message, its code and
    the request id (to find the request in the server's log)."""
    from model_service.client import (
        Conflict,
        Forbidden,
        NotFound,
        RateLimited,
        ServiceUnavailable,
        TransportError,
        Unauthorized,
    )

    if isinstance(error, TransportError):
        return CommandFailed(f"cannot reach the server: {error.message}", ExitCode.UNAVAILABLE)
    code = {NotFound: ExitCode.NOT_FOUND, Conflict: ExitCode.CONFLICT, Unauthorized: ExitCode.DENIED,
            Forbidden: ExitCode.DENIED, RateLimited: ExitCode.UNAVAILABLE,
            ServiceUnavailable: ExitCode.UNAVAILABLE}
    exit_code = next((value for cls, value in code.items() if isinstance(error, cls)), ExitCode.ERROR)
    notes = [error.code or f"from {url}"]  # no code: the answer was not the API's (a proxy, another service)
    if error.request_id:
        notes.append(f"request {error.request_id}")
    message = error.message or str(error)
    return CommandFailed(f"{message} ({', '.join(notes)})", exit_code)


@dataclass
class Remote:
    """The connection settings of one command run, and its client (made on first use)."""

    url: str | None
    api_key: str | None
    timeout: float
    retries: int | None
    as_json: bool
    _client: Any = field(default=None, repr=False)

    @property
    def client(self) -> ModelServiceClient:
        if self._client is None:
            from model_service.client import ModelServiceClient

            options: dict[str, Any] = {} if self.retries is None else {"retries": self.retries}
            self._client = ModelServiceClient(self.url or None, self.api_key or None, self.timeout, **options)
        return self._client

    @property
    def shown_url(self) -> str:
        client = self._client
        base = getattr(client, "base_url", None) if client is not None else None
        return str(base or self.url or "the default URL")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An http(s) URL with a host (from the flag or MODEL_SERVICE_URL); anything else is a usage error."""
    if value is None or not value.strip():
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"'{value}': expected http://HOST[:PORT] or https://HOST[:PORT]")
    return value.strip()


def remote_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--url``, ``--api-key``, ``--timeout``, ``--retries`` and ``--json`` to a command, pass
    it a :class:`Remote` as first argument, and turn SDK and file errors into :class:`CommandFailed`."""

    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (for scripts)")
    @click.option("--url", envvar="MODEL_SERVICE_URL", show_envvar=True, default=None, metavar="URL", callback=_url,
                  help="The service, e.g. http://models.internal:8084 [default http://127.0.0.1:8084]")
    @click.option("--api-key", envvar="MODEL_SERVICE_API_KEY", show_envvar=True, default=None, metavar="KEY",
                  help="API key, when the server requires one")
    @click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
                  metavar="SECONDS", help="Per network operation")
    @click.option("--retries", type=click.IntRange(min=0), default=None, metavar="N",
                  help="Retries of a failed connection, 429 or 503 [default 4]")
    @functools.wraps(func)
    def command(url: str | None, api_key: str | None, timeout: float, retries: int | None, as_json: bool,
                **arguments: Any) -> Any:
        from model_service.client import ModelServiceError

        remote = Remote(url, api_key, timeout, retries, as_json)
        try:
            return func(remote, **arguments)
        except ModelServiceError as exc:
            raise failure(exc, remote.shown_url) from None
        except OSError as exc:  # a local file: unreadable input, unwritable output
            where = f": {exc.filename}" if exc.filename else ""
            raise CommandFailed(f"{exc.strerror or exc}{where}") from None
        finally:
            remote.close()

    return command
