"""Storage backends. A URL's scheme picks the backend; each backend builds itself from its URL."""

from __future__ import annotations

from pathlib import Path

from ..domain.errors import Invalid
from ..domain.ports import BlobStore, MetadataStore


def build_metadata_store(url: str, **options) -> MetadataStore:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from .sql.store import SqlMetadataStore

        return SqlMetadataStore.from_url(url, **options)
    raise Invalid(f"Unsupported DATABASE_URL scheme '{scheme}': use sqlite:/// or postgresql://",
                  code="invalid_setting", details={"setting": "DATABASE_URL"})


def build_blob_store(url: str) -> BlobStore:
    if url.startswith("file://"):
        from .blob_local import LocalBlobStore

        return LocalBlobStore(Path(url[len("file://"):]))
    if "://" not in url:
        from .blob_local import LocalBlobStore

        return LocalBlobStore(Path(url))
    scheme = url.split("://", 1)[0]
    raise Invalid(f"Unsupported BLOB_STORE_URL scheme '{scheme}': use a folder path or file:///path",
                  code="invalid_setting", details={"setting": "BLOB_STORE_URL"})
