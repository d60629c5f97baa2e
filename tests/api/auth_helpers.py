"""Keys for the authentication tests: made through the app's own key service (or its store, for
states the service will not create, such as a key already expired)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from model_service.domain.callers import Caller, Scope
from model_service.domain.keys import ApiKey, hash_secret

BOOTSTRAP = "bootstrap-" + "k" * 40


def issue(app: FastAPI, name: str, *scopes: str, prefix: str | None = None,
          expires_at: datetime | None = None) -> str:
    """A new key's secret."""
    return app.state.auth.keys.create(Caller(actor="test-setup"), name=name, scopes=scopes or ("read",),
                                        name_prefix=prefix, expires_at=expires_at).secret


def expired(app: FastAPI, name: str = "old-ci", *scopes: str) -> str:
    """A key whose expiry has passed (written straight to the store: the service refuses past expiries)."""
    key_id = secrets.token_hex(6)
    secret = f"tfk_{key_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC).replace(microsecond=0)
    app.state.registry.metadata.add_key(ApiKey(
        key_id=key_id, name=name, scopes=tuple(Scope(s) for s in scopes or ("admin",)), name_prefix=None,
        secret_hash=hash_secret(secret), created_at=now - timedelta(days=2), created_by="test-setup",
        expires_at=now - timedelta(days=1)))
    return secret


def revoked(app: FastAPI, name: str = "leaked", *scopes: str) -> str:
    secret = issue(app, name, *(scopes or ("admin",)))
    app.state.auth.keys.revoke(Caller(actor="test-setup"), secret.split("_")[1])
    return secret


def key_id(secret: str) -> str:
    return secret.split("_")[1]


def auth(secret: str | None) -> dict[str, str]:
    return {} if secret is None else {"X-API-Key": secret}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
