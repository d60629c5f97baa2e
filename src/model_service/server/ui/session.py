"""The web UI's sign-in and form protection, both kept in cookies.

**Session.** With ``ENABLE_AUTH`` on, the sign-in page takes an API key once and keeps it in the
``ms_key`` cookie: ``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's
page makes the browser send it), ``Path=/ui`` (the JSON API never sees it: ``auth.presented_key``
reads it for ``/ui`` paths only) and ``Secure`` wherever the browser will keep a secure cookie
(HTTPS, or a loopback address). The key is checked like any other on every request, so a revoked
or expired key signs the browser out.

**Forms.** Every browser has a session id: 256 random bits in a cookie of its own (``HttpOnly``,
``SameSite=Strict``; over HTTPS ``__Host-ms_session``: ``Secure``, ``Path=/`` and no ``Domain``,
so that no other site, a sibling subdomain included, can set it; over plain HTTP ``ms_session``,
``Path=/ui``), renewed when the browser signs in or out. Every form that changes something
carries a token that is an HMAC-SHA256, with the server's secret, of that session id and of the
signed-in key's digest, checked in constant time; and a request whose ``Origin`` names another
site is refused. An attacker who can plant cookies cannot make a token (the secret never leaves
the server), and a real token from another session — the attacker's own, say — does not fit this
session's id or this browser's key. The token reveals nothing of the key or the secret.

**The secret.** ``UI_SESSION_SECRET`` if set (replicas behind one address must share it), else 32
random bytes kept in ``$DATA_DIR/ui-session.secret`` (mode 0600), made by the first process that
needs it: every worker and restart of one server (or servers sharing ``DATA_DIR``) agree. If that
file cannot be kept, the process makes a secret of its own and says so in the log.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ...domain.errors import Forbidden
from ..auth import UI_KEY_COOKIE, UI_PREFIX

log = logging.getLogger("model_service.server")

SESSION_COOKIE = "ms_session"
HOST_SESSION_COOKIE = "__Host-ms_session"  # over HTTPS: Secure, Path=/, no Domain (RFC 6265bis)
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600  # a signed-in browser keeps the key this long (the key's own expiry still applies)
SECRET_FILE = "ui-session.secret"
MIN_SECRET_LENGTH = 32
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_NEW_SESSION = "new_ui_session"  # request state: the session id this response is to set


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
    _set_session(response, request, secrets.token_urlsafe(32))  # a new session for the signed-in browser


def sign_out(response: Response, request: Request) -> None:
    response.delete_cookie(UI_KEY_COOKIE, path=UI_PREFIX, httponly=True, samesite="strict", secure=_secure(request))
    _set_session(response, request, secrets.token_urlsafe(32))


def has_session(request: Request) -> bool:
    return bool(request.cookies.get(UI_KEY_COOKIE))


# ---- form tokens ----------------------------------------------------------------------------------

def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _session_id(request: Request) -> str | None:
    """The browser's session id, from the cookie of this scheme (over HTTPS, only the ``__Host-`` one)."""
    value = request.cookies.get(HOST_SESSION_COOKIE if _https(request) else SESSION_COOKIE)
    return value if value is not None and _SESSION_ID.fullmatch(value) else None


def _set_session(response: Response, request: Request, session_id: str) -> None:
    if _https(request):
        response.set_cookie(HOST_SESSION_COOKIE, session_id, path="/", httponly=True, samesite="strict", secure=True)
    else:
        _set(response, request, SESSION_COOKIE, session_id, None)


def _token(request: Request, session_id: str) -> str:
    """The form token of this session and of the key the browser is signed in with (if any)."""
    key = request.cookies.get(UI_KEY_COOKIE) or ""
    message = b"\0".join((b"model-service ui form", session_id.encode(),
                          hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest() if key else b""))
    mac = hmac.new(secret(request.app.state), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """The token of this page's forms: for the browser's session, or for a new one that
    :func:`keep_csrf` will set."""
    session_id = _session_id(request)
    if session_id is None:
        state = request.scope.setdefault("state", {})
        session_id = state.get(_NEW_SESSION) or secrets.token_urlsafe(32)
        state[_NEW_SESSION] = session_id
    return _token(request, session_id)


def keep_csrf(response: Response, request: Request) -> None:
    """Set the session cookie if this page began a session for its forms."""
    session_id = request.scope.get("state", {}).get(_NEW_SESSION)
    if session_id is not None:
        _set_session(response, request, session_id)


def check_form(request: Request, submitted: str | None) -> None:
    """:class:`Forbidden` unless the form's token is this session's and the request comes from
    this site's own pages."""
    check_origin(request)
    session_id = _session_id(request)
    if session_id is None or not submitted or not hmac.compare_digest(
            _token(request, session_id).encode(), submitted.encode("utf-8", "surrogatepass")):
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


# ---- the server's secret --------------------------------------------------------------------------

def secret(state: Any) -> bytes:
    """The secret of the form tokens, read once per app (``state``: the app's state)."""
    known = getattr(state, "ui_session_secret", None)
    if known is None:
        known = load_secret(state.settings)
        state.ui_session_secret = known
    return known


def load_secret(settings: Any) -> bytes:
    """``UI_SESSION_SECRET``, else the one kept in ``DATA_DIR`` (made if there is none yet), else,
    with a warning, one of this process only."""
    if settings.ui_session_secret is not None:
        return settings.ui_session_secret.get_secret_value().encode()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        kept = _kept_secret(path)
    except OSError as exc:
        log.warning("Could not keep the web UI's session secret in %s (%s): this process uses one of its own, so "
                    "a form shown by another process or before a restart is refused; set UI_SESSION_SECRET",
                    path, exc.strerror or exc)
        return secrets.token_bytes(32)
    if len(kept) < MIN_SECRET_LENGTH:
        log.warning("%s holds no usable secret (%d bytes): this process uses one of its own; remove the file or "
                    "set UI_SESSION_SECRET", path, len(kept))
        return secrets.token_bytes(32)
    return kept


def _kept_secret(path: Path) -> bytes:
    """The secret in ``path``; made first if there is none. Made whole beside it and linked into
    place, so that processes starting together agree on the first one written."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".ui-session-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_urlsafe(48).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs it is
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes().strip()


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
