"""Versions planted with the verdict an older scanner gave (or none: uploaded before scanning),
for the re-scan tests. The files are built as bytes and only ever scanned, never loaded."""

from __future__ import annotations

import pickletools
from dataclasses import replace
from datetime import UTC, datetime

from model_service.domain.models import FileInfo, ModelVersion
from model_service.domain.ports import BlobStore, MetadataStore
from model_service.domain.scanning import NOT_RECORDED, ScanResult, Verdict, unscanned
from model_service.domain.uploads import Upload
from tests.contract.helpers import draft

OLD_VERSION = "0.0.1+before-the-fix"
"""The scanner version of the planted verdicts: not the running one, whatever that is."""
SCANNED_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

OLD_SAFE = ScanResult(Verdict.SAFE, True, SCANNED_AT, "picklescan", OLD_VERSION, (), None,
                      "Every import is known to be harmless")
"""What a blind older scanner said of a file: safe."""
NEVER_SCANNED = unscanned(NOT_RECORDED, "Uploaded before model files were scanned")


def runs_a_command() -> bytes:
    """Protocol 0, opcode by opcode: ``os.system("echo pwned")`` when unpickled (never here)."""
    data = b"cos\nsystem\n(S'echo pwned'\ntR."
    assert [op.name for op, _, _ in pickletools.genops(data)] == ["GLOBAL", "MARK", "STRING", "TUPLE", "REDUCE",
                                                                   "STOP"]
    return data


def plain_data(seed: int = 0) -> bytes:
    """Protocol 2, by hand: ``{"weights": [seed, 1]}`` — data only, nothing imported."""
    return (b"\x80\x02}q\x00X\x07\x00\x00\x00weightsq\x01]q\x02(K" + bytes([seed % 256]) + b"K\x01e" + b"s.")


def plant(metadata: MetadataStore, blobs: BlobStore, name: str, data: bytes, scan: ScanResult | None, *,
          fmt: str | None = "pickle", at: datetime = SCANNED_AT) -> ModelVersion:
    """A version of ``name`` whose file (``data``, committed to ``blobs``) carries the stored
    verdict ``scan`` (None: none, as for a file uploaded before scanning)."""
    upload = Upload(blobs.begin_upload(), max_size=len(data) + 1)
    try:
        upload.write(data)
        sha256 = upload.finish()
        upload.accept(FileInfo(sha256=sha256, size_bytes=len(data), format=fmt, filename="model.pkl",
                               content_type="application/octet-stream", uploaded_at=at, scan=scan))
        return metadata.create_version(draft(name, format=fmt, at=at), upload)
    finally:
        upload.abort()


def current(scan: ScanResult, version: str | None) -> ScanResult:
    """``scan`` as the running scanner (of ``version``) would have stamped it."""
    return replace(scan, scanner_version=version)
