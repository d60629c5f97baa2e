"""The audit log: one append-only record per write — who (actor and key id), what (action, model
id, name, version, details), when, from which address and in which request.

A write and its record commit together: the registry hands the store an :data:`AuditHook`
with the write, and the store makes the record from the write's result (the version with its
number, the alias move, the key) inside the write's own transaction — so there is no write
without its record, and no extra commit (on SQLite, no extra fsync) per write. MongoDB has no
multi-document transactions: there the record is inserted right after the write, and a failure
to insert it is logged with the whole record rather than failing a write that has happened.

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

from .callers import Caller
from .errors import Malformed, RegistryError
from .ids import new_id

if TYPE_CHECKING:
    from .models import AliasMove, ModelVersion
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
    RESCAN = "model.rescan"
    """A file scanned again (``model-service scan --stale``, the server's pass): its new verdict."""
    UPLOAD_REFUSED = "model.upload_refused"
    """Not a write: a file refused because loading it could run code (``REJECT_UNSAFE_MODELS``)."""
    IMPORT = "registry.import"
    """``model-service import``: an archive's content written (its audit records are marked imported)."""


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


AuditHook = Callable[[Any], "AuditRecord | None"]
"""Makes the audit record of a write from what the write returns (None: nothing to record);
the store calls it inside the write's transaction."""


def append_after(append: Callable[[AuditRecord], object], audit: AuditHook | None, result: Any) -> None:
    """For a store without multi-document transactions: append the record of a write that has
    happened. A failure is logged, with the record, and not raised: the write stands."""
    record = None if audit is None else audit(result)
    if record is None:
        return
    try:
        append(record)
    except Exception as exc:
        message = exc.message if isinstance(exc, RegistryError) else repr(exc)
        log.error("Could not append to the audit log (%s): %s", message, record)


def describe_new_version(model: ModelVersion) -> dict[str, Any]:
    """The record of a new version (:meth:`Auditor.hook`'s ``describe``): its parent and its file."""
    return {"model": model, "details": {"parent_model_id": model.parent_model_id, **file_details(model)}}


def describe_with_file(model: ModelVersion) -> dict[str, Any]:
    """The record of an upload or a deletion: the version and its file."""
    return {"model": model, "details": file_details(model)}


def describe_alias_move(move: AliasMove) -> dict[str, Any]:
    """The record of an alias move: the version it points at now (or pointed at, once removed)
    and the one it pointed at before."""
    target = move.after or move.before
    return {"name": move.name, "model_id": None if target is None else target.model_id,
            "version": None if target is None else str(target.version),
            "details": {"alias": move.alias,
                        "from_version": None if move.before is None else str(move.before.version),
                        "from_model_id": None if move.before is None else move.before.model_id}}


class Auditor:
    """Makes audit records for callers, and reads the log."""

    def __init__(self, log_store: AuditLog, *, clock: Callable[[], datetime]):
        self.store = log_store
        self.clock = clock

    def hook(self, caller: Caller, action: Action | str,
             describe: Callable[[Any], Mapping[str, Any] | None] | None = None) -> AuditHook:
        """The hook recording ``action`` by ``caller``: ``describe(result)`` gives :meth:`make`'s
        keyword arguments (``model``, ``name``, ``details``, …) or None for a write that changed
        nothing worth a record; without ``describe`` the result is the version written."""
        def audit(result: Any) -> AuditRecord | None:
            fields = {"model": result} if describe is None else describe(result)
            return None if fields is None else self.make(caller, action, **fields)
        return audit

    def make(self, caller: Caller, action: Action | str, *, model: ModelVersion | None = None,
             model_id: str | None = None, name: str | None = None, version: str | None = None,
             details: Mapping[str, Any] | None = None) -> AuditRecord:
        """One record, stamped now (``model`` fills model id, name and version)."""
        at = millisecond(self.clock())
        return AuditRecord(
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

    def append(self, record: AuditRecord) -> None:
        """Append a record that goes with no write (a refusal). Never raises: a failure is logged."""
        append_after(self.store.append_audit, lambda _: record, None)

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        """The store's answer; a filter holding a NUL character matches nothing (no record holds
        one), whichever the backend (PostgreSQL could not even compare it)."""
        texts = (query.actor, query.model, query.key_id, *query.actions)
        if any(text is not None and "\x00" in text for text in texts):
            return []
        return self.store.audit_records(query)
