"""Files in: a download that survives a broken connection and never leaves a bad file behind.

The bytes stream into a temporary file in the destination's folder while they are hashed. If the
connection breaks, the download goes on from where it stopped (``Range: bytes=<n>-`` with
``If-Range: <ETag>``, so a file that changed in between is fetched whole again instead of
spliced). When the last byte is in, its sha256 must equal the server's ``X-File-Checksum``: only
then does the file move into place (``os.replace``, atomic on one file system). On a mismatch,
or any other failure, the temporary file is deleted and the destination is left as it was.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

import httpx

from .errors import ChecksumMismatch, TransportError, unexpected_answer
from .session import Session

log = logging.getLogger("model_service.client")

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_CHECKSUM = re.compile(r"sha256:([0-9a-f]{64})")

Progress = Callable[[int, int | None], None]


@dataclass
class _Target:
    """Where the file goes: a given file path, or a folder where the server's filename is used."""

    folder: Path
    name: str | None  # None: the server's Content-Disposition names it

    @classmethod
    def of(cls, output_path: str | os.PathLike[str] | None) -> _Target:
        if output_path is None:
            return cls(Path.cwd(), None)
        text = os.fspath(output_path)
        path = Path(text)
        if path.is_dir() or text.endswith((os.sep, "/")):
            return cls(path, None)
        return cls(path.parent, path.name)


class _Partial:
    """The temporary file and what is known of the bytes in it."""

    def __init__(self) -> None:
        self.file: IO[bytes] | None = None
        self.path: Path | None = None
        self.offset = 0
        self.digest = hashlib.sha256()
        self.etag: str | None = None
        self.checksum: str | None = None
        self.total: int | None = None

    def open(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        handle, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        self.file, self.path = os.fdopen(handle, "wb"), Path(path)

    def restart(self) -> None:
        """Throw away what was received (the file on the server is not the one we started)."""
        assert self.file is not None
        self.file.seek(0)
        self.file.truncate()
        self.offset, self.digest = 0, hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        assert self.file is not None
        self.file.write(chunk)
        self.digest.update(chunk)
        self.offset += len(chunk)

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def download_file(session: Session, path: str, output_path: str | os.PathLike[str] | None = None, *,
                  progress: Progress | None = None, overwrite: bool = True) -> Path:
    """GET ``path`` into ``output_path`` (a file, or a folder for the server's filename; default
    the current folder); streamed, resumed, verified. Returns the file's path."""
    target = _Target.of(output_path)
    if target.name is not None:
        _refuse_existing(target.folder / target.name, overwrite)
    partial = _Partial()
    policy = session.policy
    stalls = 0  # consecutive attempts that brought no byte
    done = False
    try:
        while True:
            headers = {"Accept": "*/*", "Accept-Encoding": "identity"}  # ranges count the file's own bytes
            if partial.offset:
                headers["Range"] = f"bytes={partial.offset}-"
                if partial.etag:
                    headers["If-Range"] = partial.etag
            response = session.send("GET", path, headers=headers, stream=True)
            before = partial.offset
            try:
                _start(response, partial, target, overwrite)
                for chunk in response.iter_raw():  # as they arrive: nothing held back when the line drops
                    partial.write(chunk)
                    if progress is not None:
                        progress(partial.offset, partial.total)
                if partial.total is not None and partial.offset < partial.total:
                    raise httpx.RemoteProtocolError("the body ended early", request=response.request)
            except httpx.TransportError as exc:
                stalls = 0 if partial.offset > before else stalls + 1
                if stalls > policy.retries:
                    raise _gave_up(exc, response, partial) from exc
                delay = policy.backoff_delay(stalls)
                log.info("Download of %s broke at byte %d of %s (%s); resuming in %.2f s", path, partial.offset,
                         partial.total, exc, delay)
                policy.sleep(delay)
                continue
            finally:
                response.close()
            break
        destination = _finish(partial, target, response)
        done = True
        return destination
    finally:
        if not done:
            partial.discard()


def _start(response: httpx.Response, partial: _Partial, target: _Target, overwrite: bool) -> None:
    """Check an answer's headers against what was asked and what is already in the file."""
    checksum = response.headers.get("X-File-Checksum")
    etag = response.headers.get("ETag")
    if partial.file is None:  # the first answer
        if response.status_code != 200:
            raise unexpected_answer(response, f"status {response.status_code} to a plain GET")
        if target.name is None:
            target.name = filename_from(response.headers.get("Content-Disposition")) or "model.bin"
            _refuse_existing(target.folder / target.name, overwrite)
        partial.open(target.folder, target.name)
    elif response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        same = (checksum == partial.checksum and (etag is None or partial.etag is None or etag == partial.etag))
        if match is None or int(match.group(1)) != partial.offset or not same:
            raise unexpected_answer(response, f"a range other than the bytes from {partial.offset} asked for")
        partial.total = int(match.group(3))
        return
    elif response.status_code == 200:  # the file changed (If-Range failed) or ranges are not served
        log.info("The server sent the whole file again; starting over")
        partial.restart()
    else:
        raise unexpected_answer(response, f"status {response.status_code} to a range request")
    partial.etag, partial.checksum = etag, checksum
    length = response.headers.get("Content-Length")
    partial.total = int(length) if length is not None and length.isdigit() else None


def _finish(partial: _Partial, target: _Target, response: httpx.Response) -> Path:
    """Verify, make durable, move into place."""
    assert partial.file is not None and partial.path is not None and target.name is not None
    actual = partial.digest.hexdigest()
    match = _CHECKSUM.fullmatch((partial.checksum or "").strip().lower())
    if partial.checksum is not None and (match is None or match.group(1) != actual):
        raise ChecksumMismatch(
            f"The downloaded file does not match its checksum: expected {partial.checksum}, got sha256:{actual}; "
            "it was not kept", code="checksum_mismatch",
            details={"expected": partial.checksum, "actual": f"sha256:{actual}", "size": partial.offset},
            request_id=response.headers.get("X-Request-ID"))
    partial.file.flush()
    os.fsync(partial.file.fileno())
    partial.file.close()
    destination = target.folder / target.name
    os.replace(partial.path, destination)
    return destination


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")


def _gave_up(exc: Exception, response: httpx.Response, partial: _Partial) -> Exception:
    return TransportError(f"The download broke at byte {partial.offset} of {partial.total} and could not be "
                          f"resumed: {exc}", request_id=response.headers.get("X-Request-ID"))


def filename_from(disposition: str | None) -> str | None:
    """The filename of a ``Content-Disposition`` (``filename*`` preferred, RFC 6266), reduced to a
    safe name: its last path component, without control characters or leading dots."""
    if not disposition:
        return None
    extended = re.search(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", disposition, re.IGNORECASE)
    if extended:
        name = unquote(extended.group(2).strip(), encoding=extended.group(1) or "utf-8", errors="replace")
    else:
        plain = re.search(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', disposition, re.IGNORECASE)
        if not plain:
            return None
        name = plain.group(1) if plain.group(1) is not None else plain.group(2).strip()
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    return name or None
