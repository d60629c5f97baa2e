"""A file in transit, from its first byte to its commit.

Its bytes are hashed, counted against the size limit and written to the blob store's temporary
space as they arrive (:class:`~.ports.blobs.TempBlob`), so a file of any size costs constant
memory. Once finished its sha256 and size are known and the checksum the client sent (if any)
is verified; the registry then records what it concluded of it (its :class:`~.models.FileInfo`:
format, scan verdict, time) with :meth:`Upload.accept`, and the metadata store commits the
bytes under their content address as the last step of the write that references them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING

from .errors import ChecksumMismatch, Invalid, TooLarge
from .models import FileInfo

if TYPE_CHECKING:
    from .ports.blobs import TempBlob

_CHECKSUM = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")


def file_too_large(max_size: int) -> TooLarge:
    return TooLarge(f"File exceeds the maximum size of {max_size} bytes", code="file_too_large",
                    details={"max_size_bytes": max_size})


def parse_checksum(value: str | None) -> str | None:
    """``sha256:<64 hex>`` (or the bare hex digest) → lowercase hex; None stays None."""
    if value is None or value == "":
        return None
    match = _CHECKSUM.fullmatch(value.strip())
    if not match:
        raise Invalid(
            "X-File-Checksum must be 'sha256:' followed by 64 hexadecimal characters",
            code="invalid_checksum",
            details={"checksum": value[:100]},
        )
    return match.group(1).lower()


class Upload:
    """One upload: the bytes (in ``temp``), and what the client said of the file — its
    ``filename``, ``content_type`` and ``format``, set by the HTTP layer as it parses them.

    Not thread-safe: one writer at a time (the HTTP layer batches chunks and writes them from one
    worker thread after another). Whatever happens, whoever began it calls :meth:`abort` once
    done (a no-op for the committed blob, which no longer depends on the temporary bytes).
    """

    def __init__(self, temp: TempBlob, *, max_size: int, expected_sha256: str | None = None,
                 filename: str | None = None, content_type: str | None = None, format: str | None = None):
        self.temp = temp
        self.max_size = max_size
        self.expected_sha256 = expected_sha256
        self.filename = filename
        self.content_type = content_type
        self.format = format
        self.size = 0
        self.sha256: str | None = None
        self.file: FileInfo | None = None
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise file_too_large(self.max_size)
        self._hash.update(data)
        self.temp.write(data)

    def finish(self) -> str:
        """Verify the checksum, make the bytes durable, and return the sha256 hex digest."""
        digest = self._hash.hexdigest()
        if self.expected_sha256 is not None and not hmac.compare_digest(digest, self.expected_sha256):
            raise ChecksumMismatch(
                "The uploaded bytes do not match X-File-Checksum; nothing was stored",
                details={"expected": f"sha256:{self.expected_sha256}", "actual": f"sha256:{digest}",
                         "size_bytes": self.size},
            )
        self.temp.finish()
        self.sha256 = digest
        return digest

    def accept(self, file: FileInfo) -> None:
        """Record what the registry concluded of the finished file (its sha256 and size are this upload's)."""
        if self.sha256 is None or file.sha256 != self.sha256 or file.size_bytes != self.size:
            raise ValueError("accept() takes the FileInfo of this upload's finished bytes")
        self.file = file

    @property
    def accepted(self) -> FileInfo:
        """The file as the version records it; only for an accepted upload."""
        if self.file is None:
            raise ValueError("The upload has not been accepted by the registry")
        return self.file

    def commit(self) -> bool:
        """Make the bytes readable under their sha256 (see :meth:`TempBlob.commit`)."""
        return self.temp.commit(self.accepted.sha256)

    def abort(self) -> None:
        self.temp.abort()
