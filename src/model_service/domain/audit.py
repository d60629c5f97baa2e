"""The audit log: one append-only record per write — who (actor and key id), what (action, model
id, name, version, details), when, from which address and in which request.

Records are appended right after the write they describe commits (a write and its record are
two transactions: a process killed between the two loses the record, never the write; the
version's own history, written atomically with it, still says who made it). A failure to append
is logged with the whole record and does not fail the write, which has happened.

Queries read newest first, by ``at`` then ``id`` descending, and page with an opaque cursor
(the last record's time and id): stable however many records are appended meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import Malformed, RegistryError
from .ids import new_id

if TYPE_CHECKING:
    from .models import ModelVersion
    from .ports import AuditLog

log = logging.getLogger(__name__)

MAX_AUDIT_PAGE = 1000
_HEX24 = re.compile(r"[0-9a-fA-F]{24}")


class Action(enum.StrEnum):
    REGISTER = "model.register"
    CREATE_VERSION = "model.create_version"
    UPDATE = "model.update"
    UPLOAD = "model.upload"
    DELETE = "model.delete"
    ALIAS_SET = "alias.set"
    ALIAS_REMOVE = "alias.remove"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts and from where: the actor recorded in history, the key used (None without
    authentication), the client's address and the request's id (None outside of a request)."""

    actor: str
    key_id: str | None = None
    client_ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    at: datetime
    action: str
    actor: str
    key_id: str | None = None
    model_id: str | None = None
    name: str | None = None
    version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    client_ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters (all optional, combined with AND): ``actor``; ``actions`` (any of them); ``model``,
    a model id or a name; ``key_id``; ``since`` (inclusive) and ``until`` (exclusive). ``before``:
    only records after this position in newest-first order (a cursor's ``(at, id)``)."""

    actor: str | None = None
    actions: tuple[str, ...] = ()
    model: str | None = None
    key_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: tuple[datetime, str] | None = None
    limit: int = 50


def millisecond(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def cursor_of(record: AuditRecord) -> str:
    """An opaque position after ``record`` in newest-first order."""
    millis = int(record.at.timestamp() * 1000)
    return base64.urlsafe_b64encode(f"{millis}:{record.id}".encode()).decode().rstrip("=")


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        millis, record_id = text.split(":", 1)
        if not _HEX24.fullmatch(record_id):
            raise ValueError(record_id)
        return datetime.fromtimestamp(int(millis) / 1000, UTC), record_id.lower()
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError, OSError):
        raise Malformed("Invalid cursor: pass the next_cursor of a previous page as it is",
                        code="invalid_cursor", details={"cursor": str(cursor)[:100]}) from None


def file_details(model: ModelVersion) -> dict[str, Any]:
    """What a record says of a version's file (nothing if it has none)."""
    if model.file is None:
        return {}
    file = {"sha256": model.file.sha256, "size_bytes": model.file.size_bytes, "format": model.file.format}
    if model.file.scan is not None:
        file["scan"] = model.file.scan.verdict.value
    return {"file": file}


class Auditor:
    """Appends audit records for callers."""

    def __init__(self, log_store: AuditLog, *, clock: Callable[[], datetime]):
        self.store = log_store
        self.clock = clock

    def record(self, caller: Caller, action: Action | str, *, model: ModelVersion | None = None,
               model_id: str | None = None, name: str | None = None, version: str | None = None,
               details: Mapping[str, Any] | None = None) -> AuditRecord | None:
        """Append one record (``model`` fills model id, name and version). Never raises: a
        failure is logged, with the record, and None returned."""
        at = millisecond(self.clock())
        record = AuditRecord(
            id=new_id(at.timestamp()),
            at=at,
            action=str(action),
            actor=caller.actor,
            key_id=caller.key_id,
            model_id=model.id if model is not None else model_id,
            name=model.name if model is not None else name,
            version=str(model.version) if model is not None else version,
            details=dict(details or {}),
            client_ip=caller.client_ip,
            request_id=caller.request_id,
        )
        try:
            self.store.append_audit(record)
        except Exception as exc:  # noqa: BLE001 - the write it describes has happened
            message = exc.message if isinstance(exc, RegistryError) else repr(exc)
            log.error("Could not append to the audit log (%s): %s", message, record)
            return None
        return record

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        """The store's answer; a filter holding a NUL character matches nothing (no record holds
        one), whichever the backend (PostgreSQL could not even compare it)."""
        texts = (query.actor, query.model, query.key_id, *query.actions)
        if any(text is not None and "\x00" in text for text in texts):
            return []
        return self.store.audit_records(query)
