"""Request and response bodies of the key and audit endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..domain.audit import AuditRecord
from ..domain.callers import Caller
from ..domain.keys import ApiKey


class KeyCreateIn(BaseModel):
    """A key to create. Its ``name`` is its owner: the actor recorded for everything done with it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Owner of the key (a person, team or pipeline): 1-64 letters, digits, _ . @ + : -")
    scopes: list[str] = Field(min_length=1, max_length=3, description="Any of read, write, admin (admin implies "
                                                                      "write, write implies read)")
    name_prefix: str | None = Field(None, description="Limit the key's writes to names starting with this "
                                                      "(not for admin keys)")
    expires_at: datetime | None = Field(None, description="ISO 8601 time with a zone; default: never")
    expires_in_days: int | None = Field(None, ge=1, le=36_500, description="Instead of expires_at")


class KeyOut(BaseModel):
    key_id: str = Field(description="The non-secret part of the key (tfk_<key_id>_…)")
    name: str
    scopes: list[str]
    name_prefix: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    state: str = Field(description="active, expired or revoked")


class KeyCreatedOut(BaseModel):
    success: bool = True
    message: str = "Key created: store it now, it is not shown again"
    key: str = Field(description="The API key itself. Only its SHA-256 is stored: it cannot be shown again")
    key_info: KeyOut


class KeysOut(BaseModel):
    success: bool = True
    keys: list[KeyOut]


class KeyRevokedOut(BaseModel):
    success: bool = True
    message: str = "Key revoked"
    key_info: KeyOut


class WhoAmIOut(BaseModel):
    actor: str = Field(description="Recorded as created_by and in history and the audit log")
    auth_enabled: bool
    authenticated: bool
    key_id: str | None
    scopes: list[str]
    name_prefix: str | None


class AuditRecordOut(BaseModel):
    id: str
    at: datetime
    action: str
    actor: str
    key_id: str | None
    model_id: str | None
    name: str | None
    version: str | None
    details: dict[str, Any]
    client_ip: str | None
    request_id: str | None


class AuditOut(BaseModel):
    success: bool = True
    records: list[AuditRecordOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null: no more")


def key_out(key: ApiKey, now: datetime) -> KeyOut:
    return KeyOut(key_id=key.key_id, name=key.name, scopes=[scope.value for scope in key.scopes],
                  name_prefix=key.name_prefix, created_at=key.created_at, created_by=key.created_by,
                  expires_at=key.expires_at, revoked_at=key.revoked_at, revoked_by=key.revoked_by,
                  state=key.state(now).value)


def whoami_out(caller: Caller, auth_enabled: bool) -> WhoAmIOut:
    return WhoAmIOut(actor=caller.actor, auth_enabled=auth_enabled, authenticated=caller.authenticated,
                     key_id=caller.key_id, scopes=sorted(scope.value for scope in caller.scopes),
                     name_prefix=caller.name_prefix)


def audit_record_out(record: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(id=record.id, at=record.at, action=record.action, actor=record.actor, key_id=record.key_id,
                          model_id=record.model_id, name=record.name, version=record.version,
                          details=record.details, client_ip=record.client_ip, request_id=record.request_id)
