"""The scanner the server uses: each scan is a child process with a time and a memory cap.

Where the bytes come from: the scan reads a local file once the upload is finished (hashed,
checksum verified) and before anything is committed. The local folder store's temporary file
is that file already (no copy). For S3 and GridFS, :class:`SpooledTempBlob` writes each batch to a
local temporary file as well as to the store while the upload streams — a sequential local
write beside the network one, rather than a second download of the object afterwards — and
removes it when the upload is done with. Memory stays flat either way: the server never reads
the file; the child reads it in small steps and skips tensor payloads.

The child runs from a worker thread (the registry's calls are), so the event loop is never
blocked; at most ``concurrency`` children run at once per server process, which bounds the
memory scans can take to ``concurrency × memory_limit``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..domain.errors import Unavailable
from ..domain.ports import TempBlob
from ..domain.scanning import (
    DANGEROUS,
    NO_PICKLE_FOUND,
    SCAN_FAILED,
    SCAN_MEMORY_LIMIT,
    SCAN_TIMEOUT,
    SUSPICIOUS,
    UNREADABLE,
    FoundGlobal,
    LocalFile,
    ScanResult,
    Verdict,
    safety_of,
)
from . import child

log = logging.getLogger(__name__)

# The joblib array wrapper is part of the joblib format, which the scanner reads itself (it steps
# over the array bytes that follow it): not a reason for suspicion.
BUILT_IN_ALLOWED = ("joblib.numpy_pickle:NumpyArrayWrapper",)
MAX_REPORTED = 50  # imports stored with a version (dangerous ones first); the detail gives the count
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---- allowed imports --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Allowed:
    """Imports that do not make a file suspicious: ``module`` (any name in it), ``module.*`` (it
    and its submodules) or ``module:name``. Never overrides picklescan's dangerous verdict."""

    exact: frozenset[tuple[str, str]]
    modules: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Allowed:
        exact, modules, prefixes = set(), set(), []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            if ":" in entry:
                module, _, name = entry.partition(":")
                exact.add((module.strip(), name.strip()))
            elif entry.endswith(".*"):
                prefixes.append(entry[:-2])
            else:
                modules.add(entry)
        return cls(frozenset(exact), frozenset(modules), tuple(prefixes))

    def __contains__(self, found: tuple[str, str]) -> bool:
        module = found[0]
        return (found in self.exact or module in self.modules
                or any(module == prefix or module.startswith(prefix + ".") for prefix in self.prefixes))


# ---- the local copy -------------------------------------------------------------------------------------

class SpooledTempBlob:
    """A :class:`TempBlob` to a remote store that also writes its bytes to a local file for the scan."""

    def __init__(self, inner: TempBlob, directory: Path | None):
        self._inner = inner
        try:
            fd, name = tempfile.mkstemp(prefix="scan-", suffix=".part", dir=directory)
        except OSError as exc:
            raise _spool_error(exc, "starting") from exc
        self._fd: int | None = fd
        self._path = Path(name)

    @property
    def local_path(self) -> Path:
        return self._path

    def write(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            raise ValueError("write to an upload that is finished or aborted")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            raise _spool_error(exc, "writing") from exc
        self._inner.write(data)

    def finish(self) -> None:
        self._inner.finish()
        self._close()

    def commit(self, key: str) -> bool:
        return self._inner.commit(key)

    def abort(self) -> None:
        try:
            self._inner.abort()
        finally:
            self._close()
            self._path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _spool_error(exc: OSError, action: str) -> Unavailable:
    return Unavailable(f"Could not keep a local copy of the upload for the model scan ({action}): "
                       f"{exc.strerror or exc}; see SCAN_TEMP_DIR", code="scan_spool_error")


# ---- running a scan ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    """What the child said, or why it said nothing (``failure``: a reason code and words)."""

    report: dict[str, Any] | None
    failure: tuple[str, str] | None = None


def run_child(path: Path, kind: str, *, timeout: float, memory_limit: int, python: str = sys.executable,
              extra_args: Sequence[str] = ()) -> Outcome:
    """Run ``child.py`` on ``path``; killed (with its process group) past ``timeout`` seconds."""
    command = [python, "-s", "-m", "model_service.scanner.child", kind, str(path), "--memory", str(memory_limit),
               "--cpu", str(math.ceil(timeout) + 1), *extra_args]
    environment = {"PYTHONPATH": _PACKAGE_ROOT, "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.defpath,
                   "LC_ALL": "C.UTF-8"}
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=environment, close_fds=True, start_new_session=True)
    except OSError as exc:
        return Outcome(None, (SCAN_FAILED, f"Could not start the scanner: {exc.strerror or exc}"))
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return Outcome(None, (SCAN_TIMEOUT, f"The scan took longer than {timeout:g} s (SCAN_TIMEOUT) and was stopped"))
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode == child.MEMORY_ERROR_STATUS:
        return Outcome(None, (SCAN_MEMORY_LIMIT,
                              f"The scan needed more than {memory_limit} bytes (SCAN_MEMORY_LIMIT) and was stopped"))
    if process.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {process.returncode}"]
        if process.returncode < 0:
            tail = [f"stopped by signal {-process.returncode}"]
        log.warning("The model scanner failed on %s: %s", path, tail[0][:300])
        return Outcome(None, (SCAN_FAILED, f"The scanner failed: {tail[0][:200]}"))
    try:
        report = json.loads(out)
    except ValueError:
        return Outcome(None, (SCAN_FAILED, "The scanner's report could not be read"))
    return Outcome(report)


class PickleScanner:
    """:class:`~model_service.domain.scanning.ModelScanner` with picklescan's rules, each scan in a
    child process capped at ``timeout`` seconds and ``memory_limit`` bytes of address space."""

    name = child.SCANNER

    def __init__(self, *, timeout: float = 60.0, memory_limit: int = 512 << 20, concurrency: int = 2,
                 allowed: Sequence[str] = (), temp_dir: Path | None = None,
                 clock: Callable[[], datetime] = utcnow, run: Callable[..., Outcome] = run_child):
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.allowed = Allowed.parse([*BUILT_IN_ALLOWED, *allowed])
        self.temp_dir = temp_dir
        self.clock = clock
        self._run = run
        self._slots = threading.BoundedSemaphore(concurrency)
        self.version = child.scanner_version()

    def prepare(self, temp: TempBlob) -> TempBlob:
        if isinstance(temp, LocalFile):
            return temp
        return SpooledTempBlob(temp, self.temp_dir)

    def scan(self, path: Path, kind: str) -> ScanResult:
        with self._slots:
            started = time.perf_counter()
            outcome = self._run(path, kind, timeout=self.timeout, memory_limit=self.memory_limit)
            log.debug("Scanned %s as %s in %.3f s", path, kind, time.perf_counter() - started)
        return self.result(outcome)

    def result(self, outcome: Outcome) -> ScanResult:
        now = self.clock()
        report = outcome.report or {}
        version = self.version
        found = [FoundGlobal(_printable(module), _printable(name), safety_of(level))
                 for module, name, level in report.get("globals") or ()
                 if level == DANGEROUS or (level == SUSPICIOUS and (module, name) not in self.allowed)]
        found.sort(key=lambda g: g.safety != DANGEROUS)  # dangerous first, each kind in order of appearance
        dangerous = [g for g in found if g.safety == DANGEROUS]
        kept = tuple(found[:MAX_REPORTED])

        def made(verdict: Verdict, reason: str | None = None, detail: str | None = None) -> ScanResult:
            if len(found) > MAX_REPORTED:
                detail = f"{detail} ({len(found)} imports, the first {MAX_REPORTED} listed)"
            return ScanResult(verdict, True, now, self.name, version, kept, reason, detail)

        failure = outcome.failure or ((UNREADABLE, f"The file could not be read to the end: {report['error']}")
                                      if report.get("error") else None)
        if failure is not None:
            reason, detail = failure
            if dangerous:
                return made(Verdict.UNSAFE, reason, f"{_imports(dangerous)} found before the scan stopped. {detail}")
            return made(Verdict.UNSCANNED, reason, detail)
        if not report.get("pickles"):
            return made(Verdict.UNSCANNED, NO_PICKLE_FOUND, "No pickle data was found in the file")
        if dangerous:
            return made(Verdict.UNSAFE, None, f"Loading this file would import {_imports(dangerous)}, which can "
                                              "run code or reach the system")
        if found:
            return made(Verdict.SUSPICIOUS, None, f"Loading this file would import {_imports(found)}, which "
                                                  "the scanner does not know to be harmless")
        return made(Verdict.SAFE, None, "Every import is known to be harmless")


def _printable(value: Any, limit: int = 200) -> str:
    """A name from the file as safe to store and show: non-printable characters escaped, bounded."""
    text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text[:limit]


def _imports(found: Sequence[FoundGlobal], limit: int = 5) -> str:
    names = [f"{g.module}.{g.name}" for g in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return ", ".join(names) + more


def build_scanner(settings: Any) -> PickleScanner | None:
    """The scanner the settings ask for (None with ``SCAN_MODELS=false``)."""
    if not settings.scan_models:
        return None
    return PickleScanner(timeout=settings.scan_timeout, memory_limit=settings.scan_memory_limit,
                         concurrency=settings.scan_concurrency, allowed=settings.scan_allowed_globals,
                         temp_dir=settings.scan_temp_dir)
