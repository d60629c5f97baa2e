"""Blob references in the SQL store, for garbage collection and the integrity scrub."""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, or_, select

from ...domain.errors import Conflict
from ...domain.models import Status
from ...domain.ports import FileReference
from ...domain.versions import Version
from .schema import aliases, models

_REFERENCE_COLUMNS = (models.c.file_sha256, models.c.id, models.c.name, models.c.version_major,
                      models.c.version_minor, models.c.file_size, models.c.status)


def file_references(connection: Connection, after: tuple[str, str] | None, limit: int) -> list[FileReference]:
    """See ``MetadataStore.file_references``: served by the (file_sha256, …) index."""
    query = select(*_REFERENCE_COLUMNS).where(models.c.file_sha256.is_not(None))
    if after is not None:
        sha256, model_id = after
        query = query.where(or_(models.c.file_sha256 > sha256,
                                and_(models.c.file_sha256 == sha256, models.c.id > model_id)))
    query = query.order_by(models.c.file_sha256, models.c.id).limit(limit)
    return [FileReference(sha256=row.file_sha256, model_id=row.id, name=row.name,
                          version=str(Version(row.version_major, row.version_minor)), size_bytes=int(row.file_size),
                          status=Status(row.status))
            for row in connection.execute(query)]


def referenced(connection: Connection, sha256: str) -> bool:
    """Whether any version references the blob (call it under the blob's lock)."""
    return connection.execute(
        select(func.count()).select_from(select(models.c.seq).where(models.c.file_sha256 == sha256).limit(1).subquery())
    ).scalar_one() > 0


def refuse_if_aliased(connection: Connection, model_id: str, name: str) -> None:
    """For a deletion ``unless_aliased``, once the version's row is locked (an alias move to it
    checks its foreign key against that row, so none can slip in before the deletion commits)."""
    held = connection.execute(select(aliases.c.alias).where(aliases.c.model_id == model_id)
                              .order_by(aliases.c.alias)).scalars().all()
    if held:
        row = connection.execute(select(models.c.version_major, models.c.version_minor)
                                 .where(models.c.id == model_id)).one()
        what = f"{name} {Version(row.version_major, row.version_minor)}"
        raise Conflict(f"{what} is kept: alias {', '.join(held)} points at it", code="version_aliased",
                       details={"model_id": model_id, "aliases": list(held)})
