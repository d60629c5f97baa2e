"""API keys: scopes, team name prefixes, and how a key is made, stored and checked.

A key is ``tfk_<key id>_<secret>``: the key id (12 hex digits) is not secret and finds the stored
key; the whole string is 256 bits of randomness. Stores keep only its SHA-256 (a digest of a
high-entropy secret needs no slow hash: there is nothing to guess) and the key id; a presented
key's digest is compared in constant time. The key itself is shown once, when it is created.

A key grants scopes and may carry a name prefix (:mod:`.callers`); whoever presents it acts as
its :meth:`ApiKey.caller`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import naming
from .audit import Action, millisecond
from .callers import Caller, Scope, granted
from .errors import Conflict, Invalid, NotFound, Unauthorized

if TYPE_CHECKING:
    from .audit import Auditor
    from .ports import KeyStore

log = logging.getLogger(__name__)

KEY_PREFIX = "tfk_"
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_KEY = re.compile(r"tfk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+:-]{0,63}")
BOOTSTRAP_KEY_ID = "bootstrap"
BOOTSTRAP_ACTOR = "bootstrap-admin"
MAX_PREFIX_LENGTH = naming.MAX_NAME_LENGTH - 1


def clean_scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    """Scopes as given (deduplicated, in read-write-admin order); at least one."""
    if isinstance(scopes, str):
        scopes = [scopes]
    parsed = {Scope.parse(scope) for scope in scopes}
    if not parsed:
        raise Invalid("A key needs at least one scope: read, write or admin", code="invalid_scope")
    return tuple(scope for scope in Scope if scope in parsed)


def clean_key_name(name: str) -> str:
    """Who a key belongs to (a person, a team, a pipeline): it is the actor of everything done with it."""
    if not isinstance(name, str) or not _KEY_NAME.fullmatch(name):
        raise Invalid(f"Invalid key name {str(name)[:80]!r}: 1-64 letters, digits and _ . @ + : -, starting with a "
                      "letter or digit", code="invalid_key_name", details={"name": str(name)[:80]})
    return name


def clean_prefix(prefix: str | None) -> str | None:
    """A name prefix: the start of a valid model name."""
    if prefix is None:
        return None
    try:
        naming.validate_name(prefix)
    except Invalid:
        raise Invalid(f"Invalid name prefix {str(prefix)[:80]!r}: the start of a model name (letters, digits and "
                      "_ - . % +, starting with a letter or digit)", code="invalid_name_prefix",
                      details={"name_prefix": str(prefix)[:80]}) from None
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise Invalid(f"A name prefix is at most {MAX_PREFIX_LENGTH} characters", code="invalid_name_prefix",
                      details={"max_length": MAX_PREFIX_LENGTH})
    return prefix


def hash_secret(secret: str) -> str:
    """The stored form of a key: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(secret: str) -> str | None:
    """The key id inside a key of this service's format, or None."""
    match = _KEY.fullmatch(secret)
    return match.group(1) if match else None


def is_key_id(value: str) -> bool:
    return isinstance(value, str) and bool(_KEY_ID.fullmatch(value))


# ---- records -----------------------------------------------------------------------------------

class KeyState(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: everything but the key itself (only its SHA-256, ``secret_hash``)."""

    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    name_prefix: str | None
    secret_hash: str = field(repr=False)
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return KeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def caller(self) -> Caller:
        """Who acts with this key: its owner (the key's name), with its scopes and name prefix."""
        return Caller(actor=self.name, key_id=self.key_id, scopes=granted(self.scopes),
                      name_prefix=self.name_prefix, authenticated=True)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created: the stored record and the key itself, to be shown once."""

    key: ApiKey
    secret: str = field(repr=False)


# ---- the service -------------------------------------------------------------------------------

UNAUTHENTICATED_HELP = "send an API key as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"


def _describe_new_key(key: ApiKey) -> Callable[[object], dict[str, Any]]:
    details = {"target_key_id": key.key_id, "key_name": key.name, "scopes": [s.value for s in key.scopes],
               "name_prefix": key.name_prefix,
               "expires_at": None if key.expires_at is None else key.expires_at.isoformat()}
    return lambda _: {"details": details}


class Keys:
    """Creates, lists and revokes keys (each change audited), and authenticates presented keys.

    A key looked up is trusted for ``cache_seconds`` (its digest is still compared every time):
    a key revoked through another replica stops working here within that time, at once through
    this one. ``bootstrap_key`` (the ``BOOTSTRAP_ADMIN_KEY`` setting) is an admin key of its own;
    only its digest is kept.
    """

    def __init__(self, store: KeyStore, auditor: Auditor, *, clock: Callable[[], datetime],
                 cache_seconds: float = 5.0, bootstrap_key: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.store = store
        self.auditor = auditor
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._bootstrap_hash = None if bootstrap_key is None else hash_secret(bootstrap_key)
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    @property
    def has_bootstrap_key(self) -> bool:
        return self._bootstrap_hash is not None

    # ---- management ------------------------------------------------------------------------

    def create(self, caller: Caller, *, name: str, scopes: Iterable[str], name_prefix: str | None = None,
               expires_at: datetime | None = None) -> IssuedKey:
        """A new key; the returned secret is not kept anywhere."""
        name, scopes, name_prefix = clean_key_name(name), clean_scopes(scopes), clean_prefix(name_prefix)
        if name_prefix is not None and Scope.ADMIN in scopes:
            raise Invalid("An admin key cannot be limited to a name prefix: it could create keys without one",
                          code="invalid_name_prefix", details={"name_prefix": name_prefix})
        now = millisecond(self.clock())
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise Invalid("expires_at needs a time zone (e.g. 2026-01-31T00:00:00Z)", code="invalid_expiry")
            expires_at = millisecond(expires_at)
            if expires_at <= now:
                raise Invalid("expires_at is in the past", code="invalid_expiry",
                              details={"expires_at": expires_at.isoformat()})
        for attempt in range(3):
            key_id = secrets.token_hex(6)
            secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            key = ApiKey(key_id=key_id, name=name, scopes=scopes, name_prefix=name_prefix,
                         secret_hash=hash_secret(secret), created_at=now, created_by=caller.actor,
                         expires_at=expires_at)
            try:
                self.store.add_key(key, self.auditor.hook(caller, Action.KEY_CREATE, _describe_new_key(key)))
            except Conflict:
                if attempt == 2:
                    raise
                continue
            break
        return IssuedKey(key, secret)

    def list(self) -> list[ApiKey]:
        return self.store.list_keys()

    def get(self, key_id: str) -> ApiKey:
        return self.store.get_key(self._key_id(key_id))

    def revoke(self, caller: Caller, key_id: str) -> ApiKey:
        """Revoke a key (a key already revoked stays as it was, and the call is not audited again)."""
        key_id = self._key_id(key_id)
        before = self.store.get_key(key_id)
        audit = None if before.revoked_at is not None else self.auditor.hook(
            caller, Action.KEY_REVOKE, lambda key: {"details": {"target_key_id": key_id, "key_name": key.name}})
        key = self.store.revoke_key(key_id, caller.actor, millisecond(self.clock()), audit)
        with self._lock:
            self._cache.pop(key_id, None)
        return key

    @staticmethod
    def _key_id(key_id: str) -> str:
        if not is_key_id(key_id):
            raise Invalid(f"'{str(key_id)[:40]}' is not a key id: 12 hexadecimal digits (the part after 'tfk_')",
                          code="invalid_key_id", details={"key_id": str(key_id)[:40]})
        return key_id

    # ---- authentication --------------------------------------------------------------------

    def is_cached(self, secret: str) -> bool:
        """Whether :meth:`authenticate` can answer without a store call."""
        if self._bootstrap_hash is not None and hmac.compare_digest(hash_secret(secret), self._bootstrap_hash):
            return True
        key_id = key_id_of(secret)
        if key_id is None:
            return True  # refused without a lookup
        entry = self._cache.get(key_id)
        return entry is not None and self._monotonic() - entry[0] < self.cache_seconds

    def authenticate(self, secret: str) -> Caller:
        """Who presents this key; :class:`Unauthorized` if it is unknown, expired or revoked."""
        digest = hash_secret(secret)
        if self._bootstrap_hash is not None and hmac.compare_digest(digest, self._bootstrap_hash):
            return Caller(actor=BOOTSTRAP_ACTOR, key_id=BOOTSTRAP_KEY_ID, scopes=granted([Scope.ADMIN]),
                             authenticated=True)
        key_id = key_id_of(secret)
        key = None if key_id is None else self._lookup(key_id)
        if key is None or not hmac.compare_digest(digest, key.secret_hash):
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        state = key.state(self.clock())
        if state is KeyState.REVOKED:
            raise Unauthorized(f"API key {key.key_id} was revoked", code="api_key_revoked",
                               details={"key_id": key.key_id})
        if state is KeyState.EXPIRED and key.expires_at is not None:
            raise Unauthorized(f"API key {key.key_id} expired at {key.expires_at.isoformat()}",
                               code="api_key_expired", details={"key_id": key.key_id})
        return key.caller()

    def _lookup(self, key_id: str) -> ApiKey | None:
        now = self._monotonic()
        entry = self._cache.get(key_id)
        if entry is not None and now - entry[0] < self.cache_seconds:
            return entry[1]
        try:
            key = self.store.get_key(key_id)
        except NotFound:
            return None
        if self.cache_seconds > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key_id] = (now, key)
        return key

    def forget(self) -> None:
        """Drop every cached key (tests; after an operator changed keys behind the service's back)."""
        with self._lock:
            self._cache.clear()
