"""Content-addressed blobs in a local folder.

Layout under ``root``: ``sha256/ab/cd/<hex digest>`` for committed blobs (read-only files) and
``tmp/`` for uploads in flight. A commit is fsync(file) → link into place → fsync(directory), so
after a crash a key either names the whole file or nothing. What a crash leaves in ``tmp/`` is
listed and removed by ``model-service gc`` once older than its threshold (``leftovers``).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from ..domain.errors import Invalid, NotFound, Unavailable
from ..domain.ports import Health, Leftover, StoredBlob

_KEY = re.compile(r"[0-9a-f]{64}")
_PART = re.compile(r"[0-9a-f]{2}")


def _translate(exc: OSError, action: str) -> Unavailable:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Unavailable(f"Blob store is out of space while {action}", code="storage_full")
    return Unavailable(f"Blob store failed while {action}: {exc.strerror or exc}", code="storage_error")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalUpload:
    def __init__(self, store: LocalBlobStore):
        self._store = store
        self.path = store.tmp_dir / f"upload-{uuid.uuid4().hex}.part"
        try:
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _translate(exc, "starting an upload") from exc

    @property
    def local_path(self) -> Path:
        """Where the upload's bytes are, for the model scanner to read once finished."""
        return self.path

    def write(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            raise RuntimeError("write() after finish() or abort()")
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            raise _translate(exc, "writing an upload") from exc

    def finish(self) -> None:
        fd = self._fd
        if fd is None:  # finished already (or aborted)
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _translate(exc, "flushing an upload") from exc
        self._close()

    def commit(self, key: str) -> bool:
        final = self._store.path_for(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path, 0o444)
            try:
                os.link(self.path, final)
                created = True
            except FileExistsError:
                created = False
            _fsync_dir(final.parent)
        except OSError as exc:
            raise _translate(exc, "committing an upload") from exc
        return created

    def abort(self) -> None:
        self._close()
        with suppress(FileNotFoundError):
            os.unlink(self.path)

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class LocalReader:
    def __init__(self, path: Path, offset: int):
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - the reader holds it open until close()
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            if offset:
                self._file.seek(offset)
        except BaseException:
            self._file.close()
            raise

    def read(self, n: int) -> bytes:
        return self._file.read(n) or b""

    def close(self) -> None:
        self._file.close()


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.blob_dir = self.root / "sha256"
        self.tmp_dir = self.root / "tmp"
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _translate(exc, f"creating {self.root}") from exc

    def path_for(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise Invalid("Blob keys are lowercase sha256 hex digests", code="invalid_blob_key")
        return self.blob_dir / key[:2] / key[2:4] / key

    def begin_upload(self) -> LocalUpload:
        return LocalUpload(self)

    def open(self, key: str, offset: int = 0) -> LocalReader:
        try:
            return LocalReader(self.path_for(key), offset)
        except FileNotFoundError:
            raise NotFound(f"Blob {key} is missing from the blob store", code="blob_missing",
                           details={"sha256": key}) from None
        except OSError as exc:
            raise _translate(exc, "opening a blob") from exc

    def size(self, key: str) -> int | None:
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        try:
            self.path_for(key).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _translate(exc, "deleting a blob") from exc

    def check(self) -> Health:
        probe = self.tmp_dir / f"health-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
            usage = shutil.disk_usage(self.root)
        except OSError as exc:
            return Health(False, f"unhealthy: {exc.strerror or exc}", {"path": str(self.root)})
        return Health(True, info={"backend": "local", "path": str(self.root), "free_bytes": usage.free})

    # ---- maintenance: listing blobs and what uploads left behind ------------------------------

    def list_blobs(self) -> Iterator[StoredBlob]:
        """The tree ``sha256/ab/cd/<key>`` walked in name order, one directory at a time."""
        try:
            for first in _sorted_dirs(self.blob_dir):
                for second in _sorted_dirs(first):
                    for entry in sorted(os.scandir(second), key=lambda e: e.name):
                        if not _KEY.fullmatch(entry.name) or entry.name[:2] != first.name \
                                or entry.name[2:4] != second.name or not entry.is_file(follow_symlinks=False):
                            continue
                        try:
                            stat = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:  # deleted meanwhile
                            continue
                        yield StoredBlob(entry.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
        except OSError as exc:
            raise _translate(exc, "listing blobs") from exc

    def leftovers(self, older_than: datetime) -> Iterator[Leftover]:
        """Files in ``tmp/`` last written before ``older_than``. A committed upload's file is a
        second link to its blob until the upload ends: removing it frees nothing (size 0)."""
        limit = older_than.timestamp()
        try:
            entries = sorted(os.scandir(self.tmp_dir), key=lambda e: e.name)
            for entry in entries:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if entry.is_file(follow_symlinks=False) and stat.st_mtime < limit:
                    yield Leftover("file", entry.name, stat.st_size if stat.st_nlink == 1 else 0,
                                     datetime.fromtimestamp(stat.st_mtime, UTC))
        except OSError as exc:
            raise _translate(exc, "listing temporary uploads") from exc

    def remove_leftover(self, leftover: Leftover) -> int:
        if leftover.kind != "file" or "/" in leftover.name or leftover.name in ("", ".", ".."):
            raise Invalid(f"Not a temporary upload of this store: {leftover.kind} {leftover.name!r}",
                          code="invalid_temp_upload")
        path = self.tmp_dir / leftover.name
        try:
            stat = path.stat()
            path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _translate(exc, "removing a temporary upload") from exc
        return stat.st_size if stat.st_nlink == 1 else 0

    def close(self) -> None:
        pass


def _sorted_dirs(parent: Path) -> list[Path]:
    """The two-hex-digit subdirectories of ``parent``, in name order."""
    return sorted(Path(entry.path) for entry in os.scandir(parent)
                  if _PART.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False))
