"""An upload in flight: bytes are hashed, counted against the size limit and written to the blob
store's temporary space as they arrive, so a file of any size costs constant memory."""

from __future__ import annotations

import hashlib
import hmac
import re

from .errors import ChecksumMismatch, Invalid, TooLarge
from .ports import BlobUpload

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


class IncomingFile:
    """Feeds one upload into a :class:`BlobUpload` while hashing and enforcing ``max_size``.

    Not thread-safe: one writer at a time (the HTTP layer batches chunks and writes them from one
    worker thread after another). Any error leaves the caller to :meth:`abort`.
    """

    def __init__(self, upload: BlobUpload, *, max_size: int, expected_sha256: str | None = None):
        self._upload = upload
        self._hash = hashlib.sha256()
        self.max_size = max_size
        self.expected_sha256 = expected_sha256
        self.size = 0
        self.sha256: str | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise file_too_large(self.max_size)
        self._hash.update(data)
        self._upload.write(data)

    def finish(self) -> str:
        """Verify the checksum, make the bytes durable, and return the sha256 hex digest."""
        digest = self._hash.hexdigest()
        if self.expected_sha256 is not None and not hmac.compare_digest(digest, self.expected_sha256):
            raise ChecksumMismatch(
                "The uploaded bytes do not match X-File-Checksum; nothing was stored",
                details={"expected": f"sha256:{self.expected_sha256}", "actual": f"sha256:{digest}",
                         "size_bytes": self.size},
            )
        self._upload.finish()
        self.sha256 = digest
        return digest

    @property
    def upload(self) -> BlobUpload:
        return self._upload

    def abort(self) -> None:
        self._upload.abort()
