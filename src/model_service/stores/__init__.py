"""Storage backends. A URL's scheme picks the backend; each backend builds itself from its URL.

Metadata and files are chosen independently: any metadata store works with any blob store.

* metadata: ``sqlite:///path``, ``postgresql://…`` (SQLAlchemy), ``mongodb://…`` / ``mongodb+srv://…``
* files: a folder path or ``file:///path``, ``s3://bucket/prefix``, ``gridfs://[bucket]``

Backends are imported only when chosen, so an unused driver is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..domain.errors import Invalid
from ..domain.ports import BlobStore, MetadataStore

MONGODB_SCHEMES = ("mongodb", "mongodb+srv")


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """What a backend needs beyond its URL (from the settings, or a ``migrate`` side)."""

    mongodb_url: str | None = None  # the server of gridfs://
    mongodb_db: str = "tensorfleet"
    gridfs_bucket: str = "models"
    s3_endpoint_url: str | None = None
    sqlite_synchronous: str = "FULL"
    sql_pool_size: int = 10  # PostgreSQL connections per process (as many again under load)

    @classmethod
    def from_settings(cls, settings: Settings) -> BackendOptions:
        return cls(mongodb_url=settings.mongodb_url, mongodb_db=settings.mongodb_db,
                   gridfs_bucket=settings.gridfs_bucket, s3_endpoint_url=settings.s3_endpoint_url,
                   sqlite_synchronous=settings.sqlite_synchronous, sql_pool_size=settings.database_pool_size)


def scheme_of(url: str) -> str:
    """``postgresql+psycopg://…`` → ``postgresql``; ``mongodb+srv://…`` → ``mongodb+srv``; a path → ``""``."""
    if "://" not in url and not url.startswith("sqlite:"):
        return ""
    scheme = url.split(":", 1)[0].lower()
    return scheme if scheme in MONGODB_SCHEMES else scheme.split("+", 1)[0]


def build_metadata_store(url: str, options: BackendOptions | None = None) -> MetadataStore:
    options = options or BackendOptions()
    scheme = scheme_of(url)
    if scheme in ("sqlite", "postgresql", "postgres"):
        from .sql.store import SqlMetadataStore

        return SqlMetadataStore.from_url(url, sqlite_synchronous=options.sqlite_synchronous,
                                         pool_size=options.sql_pool_size)
    if scheme in MONGODB_SCHEMES:
        from .mongo.metadata import MongoMetadataStore

        return MongoMetadataStore.from_url(url, database=options.mongodb_db)
    raise Invalid(f"Unsupported DATABASE_URL scheme '{scheme or url}': use sqlite:///, postgresql:// or mongodb://",
                  code="invalid_setting", details={"setting": "DATABASE_URL"})


def build_blob_store(url: str, options: BackendOptions | None = None) -> BlobStore:
    options = options or BackendOptions()
    scheme = scheme_of(url)
    if scheme in ("", "file"):
        from .blob_local import LocalBlobStore

        return LocalBlobStore(Path(url[len("file://"):] if scheme == "file" else url))
    if scheme == "s3":
        from .blob_s3 import S3BlobStore

        return S3BlobStore.from_url(url, endpoint_url=options.s3_endpoint_url)
    if scheme == "gridfs":
        if not options.mongodb_url:
            raise Invalid("BLOB_STORE_URL=gridfs:// stores files in MongoDB: set MONGODB_URL too",
                          code="invalid_setting", details={"setting": "MONGODB_URL"})
        from .mongo.gridfs import GridFsBlobStore

        bucket = url.split("://", 1)[1].strip("/") or options.gridfs_bucket
        return GridFsBlobStore.from_url(options.mongodb_url, database=options.mongodb_db, bucket=bucket)
    raise Invalid(f"Unsupported BLOB_STORE_URL scheme '{scheme}': use a folder, file:///path, s3://bucket/prefix "
                  "or gridfs://", code="invalid_setting", details={"setting": "BLOB_STORE_URL"})
