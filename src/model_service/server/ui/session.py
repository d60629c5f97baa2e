"""The web UI's sign-in and form protection, both kept in cookies scoped to ``/ui``.

**Session.** With ``ENABLE_AUTH`` on, the sign-in page takes an API key once and keeps it in the
``ms_key`` cookie: ``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's
page makes the browser send it), ``Path=/ui`` (the JSON API never sees it: ``auth.presented_key``
reads it for ``/ui`` paths only) and ``Secure`` wherever the browser will keep a secure cookie
(HTTPS, or a loopback address). The key is checked like any other on every request, so a revoked
or expired key signs the browser out.

**Forms.** Every form that changes something carries a token that must equal the ``ms_csrf``
cookie (the double-submit pattern), and a request whose ``Origin`` names another site is
refused: together with ``SameSite=Strict`` this keeps other sites from posting forms in the
user's name, with authentication on or off. The token is random per browser, not derived from
the key, so it reveals nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ...domain.errors import Forbidden
from ..auth import UI_KEY_COOKIE, UI_PREFIX

CSRF_COOKIE = "ms_csrf"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600  # a signed-in browser keeps the key this long (the key's own expiry still applies)


def _secure(request: Request) -> bool:
    """Whether the browser keeps a ``Secure`` cookie from this origin: over HTTPS, and on a
    loopback address, which browsers treat as a secure context."""
    if request.url.scheme == "https":
        return True
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _set(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=UI_PREFIX, httponly=True, samesite="strict",
                        secure=_secure(request))


def sign_in(response: Response, request: Request, key: str) -> None:
    _set(response, request, UI_KEY_COOKIE, key, SESSION_SECONDS)


def sign_out(response: Response, request: Request) -> None:
    response.delete_cookie(UI_KEY_COOKIE, path=UI_PREFIX, httponly=True, samesite="strict", secure=_secure(request))


def has_session(request: Request) -> bool:
    return bool(request.cookies.get(UI_KEY_COOKIE))


def csrf_token(request: Request) -> str:
    """The browser's form token: its cookie's, or a new one that :func:`keep_csrf` will set."""
    state = request.scope.setdefault("state", {})
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) != 43:
        token = state.get("new_csrf") or secrets.token_urlsafe(32)
        state["new_csrf"] = token
    return token


def keep_csrf(response: Response, request: Request) -> None:
    """Set the token cookie if this page made a new token for its forms."""
    token = request.scope.get("state", {}).get("new_csrf")
    if token is not None:
        _set(response, request, CSRF_COOKIE, token, None)


def check_form(request: Request, submitted: str | None) -> None:
    """:class:`Forbidden` unless the form's token matches the cookie and the request comes from
    this site's own pages."""
    check_origin(request)
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise Forbidden("The form has expired or was not sent from this site: reload the page and try again",
                        code="invalid_form_token")


def check_origin(request: Request) -> None:
    """:class:`Forbidden` if the browser says the request comes from another site's page."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        parts = urlsplit(origin)
        if (parts.scheme, parts.netloc) != (request.url.scheme, request.url.netloc):
            raise Forbidden("This form was sent from another site", code="cross_site_form",
                            details={"origin": origin[:200]})


def local_target(target: str | None, default: str = UI_PREFIX) -> str:
    """``target`` if it is a path of the UI on this site, else ``default``: the sign-in page's
    ``next`` must not send the browser anywhere else (an open redirect)."""
    if not target or not target.startswith(UI_PREFIX) or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    path = parts.path
    if path != UI_PREFIX and not path.startswith(UI_PREFIX + "/"):
        return default
    return target
