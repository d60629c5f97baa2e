"""Model objects in and out: ``log_model`` and ``load_model``, the glue between the client and
the flavours (:mod:`model_service.client.flavors`, which do the serialising).

Loaded files are cached under the client's ``cache_dir`` by content: ``<cache_dir>/<sha256>/<file>``.
A file's content never changes under its sha256, so a cached file is reused whatever reference
(id, alias, version) led to it; an alias that moves leads to another sha256, hence another file.
The file was verified against its checksum when it was downloaded; at reuse only its size is
checked (re-hashing gigabytes on every load would cost more than the download it saves).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NotFound
from .refs import ModelRef

if TYPE_CHECKING:
    from .client import ModelServiceClient, Ref

_SHA256 = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


def log_model(client: ModelServiceClient, obj: Any, name: str | None = None, *,
              metrics: dict[str, float] | None = None, hyperparameters: dict[str, Any] | None = None,
              tags: list[str] | None = None, description: str | None = None, flavor: str | None = None,
              **metadata: Any) -> dict[str, Any]:
    """Serialise ``obj`` with its flavour into a temporary folder, then register it with its file
    in one request (:meth:`ModelServiceClient.push`). The new version's record."""
    from . import flavors

    chosen = flavors.flavor_named(flavor) if flavor else flavors.flavor_for_object(obj)
    with tempfile.TemporaryDirectory(prefix="tensorfleet-model-") as folder:
        saved = chosen.save(obj, Path(folder))
        fields: dict[str, Any] = {
            "algorithm": saved.algorithm,
            "format": saved.format,
            "hyperparameters": {**(saved.hyperparameters or {}), **(hyperparameters or {})},
        }
        if name is not None:
            fields["name"] = name
        if metrics is not None:
            fields["metrics"] = metrics
        if tags is not None:
            fields["tags"] = list(tags)
        if description is not None:
            fields["description"] = description
        fields.update(metadata)
        return client.push(saved.path, **fields)


def load_model(client: ModelServiceClient, ref: Ref, *, flavor: str | None = None, **options: Any) -> Any:
    """The object of a version's file, loaded by the flavour of its recorded format (or the
    flavour named, still pinned to that format when it reads it). ``options`` go to the
    flavour's ``load`` (``trusted=[...]`` for a skops file's extra types)."""
    from . import flavors

    record = client.get_model(ref)
    fmt = record.get("format") or (record.get("file_metadata") or {}).get("format")
    if flavor:
        chosen = flavors.flavor_named(flavor)
        if fmt in chosen.formats:
            chosen = chosen.for_format(fmt)
    elif fmt:
        chosen = flavors.flavor_for_format(fmt)  # before the download: an unknown format costs no transfer
    else:
        raise ValueError(f"{ModelRef.parse(ref)} has no format: name the flavour to load it with (flavor=…)")
    return chosen.load(cached_file(client, record), **options)


def cached_file(client: ModelServiceClient, record: dict[str, Any]) -> Path:
    """The file of a version's ``record`` in the cache, downloaded if it is not there yet."""
    file = record.get("file_metadata")
    if not file:
        raise NotFound(f"Version {record.get('version')} of {record.get('name')} has no file",
                       code="file_not_found", details={"model_id": record.get("id")})
    match = _SHA256.fullmatch(str(file.get("checksum") or file.get("file_id") or "").lower())
    if match is None:
        raise ValueError(f"Unexpected checksum in the record of {record.get('id')}: {file.get('checksum')!r}")
    folder = client.cache_dir / match.group(1)
    found = _cached(folder, file.get("size_bytes"))
    if found is not None:
        return found
    return client.download(record["id"], f"{folder}/")


def _cached(folder: Path, size: int | None) -> Path | None:
    """The complete file in a cache folder (temporary ``.part`` files start with a dot)."""
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and (size is None or path.stat().st_size == size):
            return path
    return None
