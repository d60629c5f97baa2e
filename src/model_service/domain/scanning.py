"""Unsafe-model scanning: what a scan concludes, and which files are scanned.

Loading a pickle-family file (pickle, joblib, cloudpickle, PyTorch ``.pt``/``.pth``/``.bin``)
can run any code its author chose, so every such upload is read statically, opcode by opcode,
for the imports ("globals") it would make — never loaded. The scan itself runs outside the
server process (``model_service.scanner``); this module holds the rules around it:

* :class:`ScanResult` is stored with the file (``FileInfo.scan``) and shown in its metadata, in
  the ``X-Model-Scan`` download header and by ``/info``.
* :func:`plan` decides from the format (declared, or implied by the file name) and the file's
  first bytes what to do: scan it as a pickle, call it non-executable (safetensors, ONNX: the
  format holds tensors and graphs, loading it runs no Python), or leave it ``unscanned`` (any
  other format: the scanner does not know how to judge it).

Verdicts: ``safe`` (every import is known to be harmless, or the format cannot run code),
``suspicious`` (imports the scanner does not know to be harmless, e.g. any scikit-learn class),
``unsafe`` (an import known to run code or touch the system: ``os.system``, ``builtins.eval``,
…) and ``unscanned`` (not scanned, or the scan failed: a truncated file, a time-out, the memory
cap). A failed scan is never ``safe``; one that found a dangerous import before failing is
``unsafe``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .ports import TempBlob


class Verdict(enum.StrEnum):
    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    UNSAFE = "unsafe"
    UNSCANNED = "unscanned"


# Formats whose loading unpickles (``torchscript`` archives hold pickles too).
PICKLE_FAMILY = frozenset({"pickle", "joblib", "cloudpickle", "pytorch", "torchscript"})
# Formats that hold data only: loading them runs no Python code.
NON_EXECUTABLE = frozenset({"safetensors", "onnx"})

Safety = Literal["dangerous", "suspicious"]
"""How dangerous an import found in a pickle is."""
DANGEROUS: Final = "dangerous"
SUSPICIOUS: Final = "suspicious"


def safety_of(value: object) -> Safety:
    """A safety level read back (a stored scan, the scanner's report); ValueError for anything else."""
    if value == DANGEROUS:
        return DANGEROUS
    if value == SUSPICIOUS:
        return SUSPICIOUS
    raise ValueError(f"{str(value)[:40]!r} is not a safety level")

# ``ScanResult.reason`` codes
FORMAT_NOT_SCANNED = "format_not_scanned"
SCANNING_DISABLED = "scanning_disabled"
NOT_RECORDED = "not_recorded"
NO_LOCAL_COPY = "no_local_copy"
NON_EXECUTABLE_FORMAT = "non_executable_format"
NO_PICKLE_FOUND = "no_pickle_found"
SCAN_TIMEOUT = "scan_timeout"
SCAN_MEMORY_LIMIT = "scan_memory_limit"
SCAN_FAILED = "scan_failed"
UNREADABLE = "unreadable"  # not a well-formed pickle / archive (truncated, corrupt)


@dataclass(frozen=True, slots=True)
class FoundGlobal:
    """An import a pickle would make when loaded: ``module.name``, and how dangerous it is."""

    module: str
    name: str
    safety: Safety

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "name": self.name, "safety": self.safety}


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What is known of a file's safety to load.

    ``executable``: whether loading the format can run code (True for the pickle family, False
    for safetensors and ONNX, None when the format is not known to be either). ``globals``: the
    dangerous and suspicious imports found (harmless ones are not listed). ``reason``: a machine
    code saying why the verdict is what it is when that is not obvious (always set for
    ``unscanned``); ``detail``: the same in words.
    """

    verdict: Verdict
    executable: bool | None
    scanned_at: datetime | None = None
    scanner: str | None = None
    scanner_version: str | None = None
    globals: tuple[FoundGlobal, ...] = ()
    reason: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As stored (a JSON document on every backend) and as the API shows it."""
        return {
            "verdict": self.verdict.value,
            "executable": self.executable,
            "globals": [found.to_json() for found in self.globals],
            "scanner": self.scanner,
            "scanner_version": self.scanner_version,
            "scanned_at": None if self.scanned_at is None else self.scanned_at.isoformat(),
            "reason": self.reason,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ScanResult:
        scanned_at = document.get("scanned_at")
        return cls(
            verdict=Verdict(document["verdict"]),
            executable=document.get("executable"),
            scanned_at=None if scanned_at is None else datetime.fromisoformat(scanned_at),
            scanner=document.get("scanner"),
            scanner_version=document.get("scanner_version"),
            globals=tuple(FoundGlobal(g["module"], g["name"], safety_of(g["safety"]))
                          for g in document.get("globals") or ()),
            reason=document.get("reason"),
            detail=document.get("detail"),
        )


def unscanned(reason: str, detail: str, *, executable: bool | None = None, at: datetime | None = None,
              scanner: str | None = None, scanner_version: str | None = None,
              found: tuple[FoundGlobal, ...] = ()) -> ScanResult:
    return ScanResult(Verdict.UNSCANNED, executable, at, scanner, scanner_version, found, reason, detail)


NOT_RECORDED_RESULT = unscanned(NOT_RECORDED, "Uploaded before model files were scanned")
"""What a file without a stored result (uploaded before scanning existed) is shown as."""


# ---- what to do with a file ----------------------------------------------------------------------

class Plan(enum.Enum):
    SCAN = "scan"  # read it as the pickle family
    NON_EXECUTABLE = "non_executable"
    NOT_SCANNED = "not_scanned"


@dataclass(frozen=True, slots=True)
class ScanPlan:
    plan: Plan
    kind: str = ""  # for SCAN: pickle | pytorch | zip (what the scanner reads the bytes as)
    note: str = ""


HEAD_SIZE = 16
_PICKLE_PROTOCOLS = range(6)
_ZIP = b"PK\x03\x04"


def looks_like_pickle(head: bytes) -> bool:
    """Protocol 2+ pickles start with PROTO (0x80) and the protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS


def looks_like_zip(head: bytes) -> bool:
    return head.startswith(_ZIP)


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """8-byte little-endian header length, then the JSON header."""
    if len(head) < 9:
        return False
    header = int.from_bytes(head[:8], "little")
    return 2 <= header <= size - 8 and head[8:9] == b"{"


def looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto is a protocol buffer whose first field is ``ir_version`` (field 1, a
    varint: tag 0x08), written first by every serializer. No pickle starts so."""
    return len(head) >= 2 and head[0] == 0x08 and 0 < head[1] < 0x80


def _valid_non_executable(fmt: str, head: bytes, size: int) -> bool:
    return looks_like_safetensors(head, size) if fmt == "safetensors" else looks_like_onnx(head)


def plan(fmt: str | None, head: bytes, size: int) -> ScanPlan:
    """What to do with a file of format ``fmt`` (None: unknown) that starts with ``head``.

    The declared format is not taken on trust where it would skip the scan: a "safetensors"
    file that is not one, or a file of another or no format whose bytes are a pickle or a zip
    archive (a PyTorch file under another name), is scanned.
    """
    if fmt in PICKLE_FAMILY:
        kind = {"pytorch": "pytorch", "torchscript": "zip"}.get(fmt, "pickle")
        return ScanPlan(Plan.SCAN, kind)
    if fmt in NON_EXECUTABLE and _valid_non_executable(fmt, head, size):
        return ScanPlan(Plan.NON_EXECUTABLE)
    if looks_like_zip(head):
        return ScanPlan(Plan.SCAN, "zip", note=f"declared {fmt or 'no format'}, but the file is a zip archive")
    if looks_like_pickle(head):
        return ScanPlan(Plan.SCAN, "pickle", note=f"declared {fmt or 'no format'}, but the file is a pickle")
    if fmt in NON_EXECUTABLE:
        return ScanPlan(Plan.NOT_SCANNED, note=f"the file does not look like {fmt}")
    return ScanPlan(Plan.NOT_SCANNED)


# ---- the scanner port ------------------------------------------------------------------------------

@runtime_checkable
class LocalFile(Protocol):
    """A temporary blob whose finished bytes can be read from a local file (``local_path``, once
    :meth:`TempBlob.finish` has run) — the local folder store's own temporary file, or a
    copy spooled while the bytes streamed to a remote store."""

    @property
    def local_path(self) -> Path | None: ...


class ModelScanner(Protocol):
    """Reads a file for the imports it would make when unpickled, without loading it."""

    @property
    def version(self) -> str | None:
        """What every result it gives says in ``scanner_version``: a result stored with another
        is stale (:mod:`.rescanning`)."""

    def prepare(self, temp: TempBlob) -> TempBlob:
        """Where an upload writes its bytes: ``temp`` itself if it is a :class:`LocalFile`, else
        one that also keeps a local copy for the scan (removed by ``abort``)."""

    def scan(self, path: Path, kind: str) -> ScanResult:
        """Scan the file at ``path`` read as ``kind`` (see :class:`ScanPlan`). Never raises for
        a bad file: a scan that cannot finish (unreadable, time-out, memory cap) is
        ``unscanned``, or ``unsafe`` if it found a dangerous import before failing."""



# ---- the decision ------------------------------------------------------------------------------------

def executable_format(fmt: str | None) -> bool | None:
    return True if fmt in PICKLE_FAMILY else False if fmt in NON_EXECUTABLE else None


def read_head(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(HEAD_SIZE)


def assess(scanner: ModelScanner | None, path: Path | None, fmt: str | None, size: int, now: datetime) -> ScanResult:
    """The scan result of a finished upload of format ``fmt`` whose bytes are at ``path``."""
    if scanner is None:
        return unscanned(SCANNING_DISABLED, "Model file scanning is off (SCAN_MODELS=false)",
                         executable=executable_format(fmt), at=now)
    if path is None:
        return unscanned(NO_LOCAL_COPY, "The upload's bytes were not available to the scanner",
                         executable=executable_format(fmt), at=now)
    try:
        head = read_head(path)
    except OSError as exc:
        return unscanned(SCAN_FAILED, f"Could not read the upload: {exc.strerror or exc}",
                         executable=executable_format(fmt), at=now)
    decided = plan(fmt, head, size)
    if decided.plan is Plan.NON_EXECUTABLE:
        return ScanResult(Verdict.SAFE, False, now, reason=NON_EXECUTABLE_FORMAT,
                          detail=f"{fmt} holds data only: loading it runs no code")
    if decided.plan is Plan.NOT_SCANNED:
        what = f"the {fmt} format" if fmt else "a file of unknown format"
        detail = f"Not scanned: {what} is not one the scanner reads (it scans the pickle family)"
        if decided.note:
            detail += f"; {decided.note}"
        return unscanned(FORMAT_NOT_SCANNED, detail, executable=None, at=now)
    result = scanner.scan(path, decided.kind)
    if decided.note and fmt not in PICKLE_FAMILY:
        if result.reason == NO_PICKLE_FOUND:  # an archive of some other kind: not ours to judge
            return unscanned(FORMAT_NOT_SCANNED, f"Not scanned: {decided.note}, with no pickle in it",
                             executable=None, at=result.scanned_at or now, scanner=result.scanner,
                             scanner_version=result.scanner_version)
        detail = f"{decided.note}; {result.detail}" if result.detail else decided.note
        result = ScanResult(result.verdict, result.executable, result.scanned_at, result.scanner,
                            result.scanner_version, result.globals, result.reason, detail)
    return result
