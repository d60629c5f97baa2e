"""One HTTP exchange with the service: headers, retries, and errors turned into exceptions.

Everything the client does goes through :meth:`Session.send`, so every call gets the same
authentication, ``User-Agent``, retry policy (:mod:`.retry`) and error mapping (:mod:`.errors`).
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from .. import __version__
from .errors import TransportError, error_from_response, parse_retry_after, unexpected_answer
from .retry import RetryPolicy

log = logging.getLogger("model_service.client")

T = TypeVar("T")

USER_AGENT = f"tensorfleet-model-service-sdk/{__version__} httpx/{httpx.__version__} " \
             f"python/{platform.python_version()}"


@dataclass
class Body:
    """A request body that can be sent more than once: ``open()`` starts it again from its
    beginning for every attempt. ``rewindable`` False (a pipe) means one attempt only."""

    open: Callable[[], Iterable[bytes]]
    headers: dict[str, str] = field(default_factory=dict)
    rewindable: bool = True


class Session:
    """An ``httpx.Client`` with the service's conventions. ``transport`` replaces the network
    (tests pass an in-process one)."""

    def __init__(self, base_url: str, *, api_key: str | None, timeout: float | httpx.Timeout | None,
                 policy: RetryPolicy, transport: httpx.BaseTransport | None = None,
                 headers: Mapping[str, str] | None = None):
        default_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            default_headers["X-API-Key"] = api_key
        default_headers.update(headers or {})
        self.policy = policy
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers=default_headers, follow_redirects=False)

    @property
    def base_url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
             body: Body | None = None, headers: Mapping[str, str] | None = None, stream: bool = False,
             accept: frozenset[int] = frozenset()) -> httpx.Response:
        """Send with retries. An error status raises its exception (unless listed in ``accept``);
        otherwise the response comes back read, or open for streaming with ``stream=True`` (the
        caller closes it)."""
        policy = self.policy
        rewindable = body is None or body.rewindable
        attempt = 0
        while True:
            request = self.http.build_request(
                method, path, params=_clean(params), json=json,
                content=None if body is None else body.open(),
                headers={**(body.headers if body else {}), **(headers or {})})
            try:
                response = self.http.send(request, stream=True)
                if not stream or response.is_error:
                    response.read()  # inside the try: a body cut short is a transport failure too
            except httpx.TransportError as exc:
                if attempt < policy.retries and policy.may_retry_error(method, exc, rewindable=rewindable):
                    delay = policy.backoff_delay(attempt)
                    log.info("%s %s failed (%s); retrying in %.2f s", method, request.url, _describe(exc), delay)
                    policy.sleep(delay)
                    attempt += 1
                    continue
                raise TransportError(f"{method} {request.url} failed: {_describe(exc)}"
                                     + (f" (after {attempt + 1} attempts)" if attempt else "")) from exc
            if response.status_code in accept:
                return response
            if attempt < policy.retries and policy.may_retry_status(method, response.status_code,
                                                                     rewindable=rewindable):
                wait = policy.status_delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
                if wait is not None:
                    response.close()
                    log.info("%s %s answered %s; retrying in %.2f s", method, request.url, response.status_code,
                             wait)
                    policy.sleep(wait)
                    attempt += 1
                    continue
            if response.is_error:
                response.close()
                raise error_from_response(response)
            return response

    def json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """Send, and the answer's JSON object (every route of the API answers one)."""
        return read_object(self.send(method, path, **options))

    def member(self, method: str, path: str, key: str, kind: type[T], **options: Any) -> T:
        """Send, and the member ``key`` of the answer's JSON object, which must be a ``kind``
        (``dict``, ``list``, ``str``); anything else is an unexpected answer."""
        response = self.send(method, path, **options)
        value = read_object(response).get(key)
        if not isinstance(value, kind):
            raise unexpected_answer(response, f"no {_KINDS.get(kind, kind.__name__)} '{key}'")
        return value


_KINDS: dict[type, str] = {dict: "object", list: "array", str: "string"}


def read_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise unexpected_answer(response, "not JSON") from None


def read_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON document, which must be an object."""
    body = read_json(response)
    if not isinstance(body, dict):
        raise unexpected_answer(response, "not a JSON object")
    return body


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the ones left out (None)."""
    if params is None:
        return None
    return {key: value for key, value in params.items() if value is not None}


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
