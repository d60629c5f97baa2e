"""Content-addressed blobs in an S3 bucket (AWS, MinIO, Ceph, … through boto3).

``BLOB_STORE_URL=s3://bucket/prefix``; ``S3_ENDPOINT_URL`` for a non-AWS endpoint. Credentials
and region come from boto3's usual chain (``AWS_*`` variables, ``~/.aws``, an instance role).
The bucket must exist: the store refuses to start without it rather than create one with
default (possibly public, unencrypted, unversioned) settings.

Layout under ``<prefix>/``: ``sha256/ab/cd/<hex digest>`` for committed blobs and ``tmp/<uuid>``
for uploads in flight.

Uploads. The content address is known only after the last byte, but an S3 multipart upload
names its key when it starts, so a blob cannot be streamed straight to its final key. Each upload
therefore streams to its own temporary key: bytes are buffered up to one part (8 MiB), each full
part is sent as it fills, and :meth:`S3Upload.finish` completes the multipart upload (a file
smaller than one part is sent by a single PUT instead). :meth:`S3Upload.commit` then makes the
blob visible with a server-side copy to the content key — one atomic CopyObject up to 5 GiB,
boto3's managed multipart copy above that — so no byte passes through the service twice and a
reader sees either no object or the whole one. If the content key exists already, nothing is
copied and commit returns False. The temporary object stays until :meth:`S3Upload.abort`
deletes it (and aborts the multipart upload if it never completed), so a commit can be
repeated after its blob was deleted. Commits of one key are serialised by the metadata store,
and two copies of one key would carry the same bytes anyway.

Memory: one part per upload (the part size doubles every 1,000 parts, keeping S3's limit of
10,000 parts out of reach: 8 MiB parts up to 7.8 GiB, 16 MiB up to 23 GiB, …) and one read
chunk per download (a ranged GET streamed from the response body).

A crash mid-upload can leave a temporary object or an unfinished multipart upload (or, above
5 GiB, an unfinished multipart copy to a content key): ``model-service gc`` removes those older
than a threshold (:meth:`S3BlobStore.leftovers`), or give the bucket a lifecycle rule that
expires ``<prefix>/tmp/`` objects and aborts incomplete multipart uploads after a day.

botocore errors are translated here: a missing key is :class:`NotFound`; everything else
(unreachable endpoint, missing or refused credentials, a missing bucket, throttling) is
:class:`Unavailable` with a message that names the problem, never the credentials.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from ..domain.errors import Invalid, NotFound, TooLarge, Unavailable
from ..domain.ports import Health, Leftover, StoredBlob

if TYPE_CHECKING:  # boto3-stubs[s3], installed with the lint extra; boto3 itself has no types
    from mypy_boto3_s3 import S3Client, type_defs

log = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")
MiB = 1 << 20
PART_SIZE = 8 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 << 30
MAX_PARTS = 10_000
PARTS_PER_SIZE = 1_000  # the part size doubles after every this many parts
MAX_COPY_OBJECT = 5 << 30  # the largest object one CopyObject request copies
COPY_PART_SIZE = 256 * MiB

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_ACCESS = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
           "InvalidToken", "AccountProblem", "AllAccessDisabled"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise Invalid("Blob keys are lowercase sha256 hex digests", code="invalid_blob_key")
    return key


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` → ``("bucket", "some/prefix")``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise Invalid(f"BLOB_STORE_URL '{url}' is not of the form s3://bucket/prefix", code="invalid_setting",
                      details={"setting": "BLOB_STORE_URL"})
    return parts.netloc, parts.path.strip("/")


class S3BlobStore:
    """Blobs under ``prefix`` in ``bucket``, through ``client`` (a boto3 S3 client, which is
    thread-safe: one per store, shared by every request)."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE,
                 copy_threshold: int = MAX_COPY_OBJECT, endpoint_url: str | None = None):
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self.copy_threshold = min(copy_threshold, MAX_COPY_OBJECT)
        self.endpoint_url = endpoint_url or getattr(getattr(client, "meta", None), "endpoint_url", None)

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None, **options: Any) -> S3BlobStore:
        """Build the store of ``s3://bucket/prefix`` and check that its bucket is there."""
        bucket, prefix = parse_s3_url(url)
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=60,
                        max_pool_connections=64)  # each download in flight holds one connection
        if endpoint_url:
            # S3-compatible servers: path-style URLs; checksums only where S3 needs them (many lack boto3's newer ones)
            config = config.merge(Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                         response_checksum_validation="when_required"))
        try:
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:
            raise Invalid(f"Cannot use S3 endpoint {endpoint_url or '(AWS)'}: {exc}", code="invalid_setting",
                          details={"setting": "S3_ENDPOINT_URL"}) from None
        store = cls(client, bucket, prefix, endpoint_url=endpoint_url, **options)
        try:
            store.verify_bucket()
        except BaseException:
            store.close()
            raise
        return store

    # ---- keys and errors ------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        return self._full(f"sha256/{key[:2]}/{key[2:4]}/{_check_key(key)}")

    def temp_key(self, name: str) -> str:
        return self._full(f"tmp/{name}")

    def _full(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def translate(self, exc: Exception, action: str) -> Unavailable:
        """Any botocore failure as :class:`Unavailable`, in words an operator can act on."""
        where = f"S3 bucket '{self.bucket}'"
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            reason = "no usable S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        elif isinstance(exc, ClientError):
            code = _error_code(exc)
            if code == "NoSuchBucket":
                reason = f"{where} does not exist"
            elif code in _ACCESS:
                reason = f"access to {where} was refused ({code}): check the credentials and the bucket policy"
            else:
                message = exc.response.get("Error", {}).get("Message") or ""
                reason = f"{where} answered {code or 'an error'}{': ' + message if message else ''}"
        elif isinstance(exc, BotoCoreError):
            reason = f"cannot reach S3 at {self.endpoint_url or 'AWS'}: {exc}"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return Unavailable(f"Blob store failed while {action}: {reason}", code="storage_error",
                           details={"backend": "s3"})

    def verify_bucket(self) -> None:
        """Fail with a clear message unless the bucket exists and these credentials may use it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise Invalid(f"S3 bucket '{self.bucket}' does not exist (BLOB_STORE_URL={self.location}, endpoint "
                              f"{self.endpoint_url or 'AWS'}): create it first, the service does not create buckets",
                              code="invalid_setting", details={"setting": "BLOB_STORE_URL"}) from None
            raise self.translate(exc, "checking the bucket") from None
        except BotoCoreError as exc:
            raise self.translate(exc, "checking the bucket") from None

    # ---- the BlobStore protocol -------------------------------------------------------------

    def begin_upload(self) -> S3Upload:
        return S3Upload(self)

    def open(self, key: str, offset: int = 0) -> S3Reader:
        name = self.object_key(key)
        if offset < 0:
            raise Invalid("A read offset cannot be negative", code="invalid_offset")
        try:
            if offset == 0:  # no Range: an empty object has no satisfiable range
                response = self.client.get_object(Bucket=self.bucket, Key=name)
                return S3Reader(self, response["Body"], int(response["ContentLength"]))
            response = self.client.get_object(Bucket=self.bucket, Key=name, Range=f"bytes={offset}-")
            total = response.get("ContentRange", "").rpartition("/")[2]
            size = int(total) if total.isdigit() else offset + int(response["ContentLength"])
            return S3Reader(self, response["Body"], size)
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NOT_FOUND:
                raise _missing(key) from None
            if code == "InvalidRange":  # at or past the end: nothing left to read
                whole = self.size(key)
                if whole is None:
                    raise _missing(key) from None
                return S3Reader(self, None, whole)
            raise self.translate(exc, "opening a blob") from None
        except BotoCoreError as exc:
            raise self.translate(exc, "opening a blob") from None

    def size(self, key: str) -> int | None:
        name = self.object_key(key)
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=name)["ContentLength"])
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise self.translate(exc, "reading a blob's size") from None
        except BotoCoreError as exc:
            raise self.translate(exc, "reading a blob's size") from None

    def delete(self, key: str) -> None:
        name = self.object_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)  # S3 answers 204 for a missing key too
        except (BotoCoreError, ClientError) as exc:
            raise self.translate(exc, "deleting a blob") from None

    def check(self) -> Health:
        """Write and delete a small probe object under ``tmp/``."""
        info = {"backend": "s3", "bucket": self.bucket, "prefix": self.prefix, "endpoint": self.endpoint_url or "AWS"}
        probe = self.temp_key(f"health-{uuid.uuid4().hex}")
        started = time.perf_counter()
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except (BotoCoreError, ClientError) as exc:
            return Health(False, f"unhealthy: {self.translate(exc, 'writing a probe').message}", info)
        info["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return Health(True, info=info)

    # ---- maintenance: listing blobs and what uploads left behind ------------------------------

    def list_blobs(self) -> Iterator[StoredBlob]:
        """ListObjectsV2 under ``<prefix>/sha256/``: S3 lists keys in byte order, which for
        ``sha256/ab/cd/<key>`` is the order of the keys themselves. 1,000 per page."""
        base = self._full("sha256/")
        for item in self._objects(base, "listing blobs"):
            name = item["Key"][len(base):]
            key = name.rpartition("/")[2]
            if _KEY.fullmatch(key) and name == f"{key[:2]}/{key[2:4]}/{key}":
                yield StoredBlob(key, int(item["Size"]), _utc(item["LastModified"]))

    def leftovers(self, older_than: datetime) -> Iterator[Leftover]:
        """Objects under ``tmp/`` last written before ``older_than``; multipart uploads under
        ``tmp/`` (an upload's) or ``sha256/`` (a multipart copy's) whose last part (or, with
        none, whose start) is older than it."""
        for item in self._objects(self._full("tmp/"), "listing temporary uploads"):
            modified = _utc(item["LastModified"])
            if modified < older_than:
                yield Leftover("object", item["Key"], int(item["Size"]), modified)
        for prefix in (self._full("tmp/"), self._full("sha256/")):
            for upload in self._multipart_uploads(prefix):
                if _utc(upload["Initiated"]) >= older_than:
                    continue
                size, written = self._parts(upload["Key"], upload["UploadId"])
                last = max(_utc(upload["Initiated"]), written) if written else _utc(upload["Initiated"])
                if last < older_than:  # an upload in flight sends a part at least every few seconds
                    yield Leftover("multipart", f"{upload['Key']}?uploadId={upload['UploadId']}", size, last)

    def remove_leftover(self, leftover: Leftover) -> int:
        try:
            if leftover.kind == "object" and leftover.name.startswith(self._full("tmp/")):
                try:
                    size = int(self.client.head_object(Bucket=self.bucket, Key=leftover.name)["ContentLength"])
                except ClientError as exc:
                    if _error_code(exc) in _NOT_FOUND:
                        return 0
                    raise
                self.client.delete_object(Bucket=self.bucket, Key=leftover.name)
                return size
            key, _, upload_id = leftover.name.partition("?uploadId=")
            ours = key.startswith((self._full("tmp/"), self._full("sha256/")))
            if leftover.kind == "multipart" and upload_id and ours:
                try:
                    size = self._parts(key, upload_id)[0]
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                except ClientError as exc:
                    if _error_code(exc) in ("NoSuchUpload", *_NOT_FOUND):
                        return 0
                    raise
                return size
        except (BotoCoreError, ClientError) as exc:
            raise self.translate(exc, "removing a temporary upload") from None
        raise Invalid(f"Not a temporary upload of this store: {leftover.kind} {leftover.name!r}",
                      code="invalid_temp_upload")

    def _objects(self, prefix: str, action: str) -> Iterator[type_defs.ObjectTypeDef]:
        request: type_defs.ListObjectsV2RequestTypeDef = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                page = self.client.list_objects_v2(**request)
            except (BotoCoreError, ClientError) as exc:
                raise self.translate(exc, action) from None
            yield from page.get("Contents", [])
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    def _multipart_uploads(self, prefix: str) -> Iterator[type_defs.MultipartUploadTypeDef]:
        request: type_defs.ListMultipartUploadsRequestTypeDef = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                page = self.client.list_multipart_uploads(**request)
            except (BotoCoreError, ClientError) as exc:
                raise self.translate(exc, "listing multipart uploads") from None
            yield from page.get("Uploads", [])
            if not page.get("IsTruncated"):
                return
            request["KeyMarker"] = page.get("NextKeyMarker", "")
            request["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def _parts(self, key: str, upload_id: str) -> tuple[int, datetime | None]:
        """The bytes an unfinished multipart upload holds and when its last part came (0 and
        None if it is gone or has no part)."""
        total, last, marker = 0, None, 0
        while True:
            try:
                page = self.client.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            except ClientError as exc:
                if _error_code(exc) in ("NoSuchUpload", *_NOT_FOUND):
                    return total, last
                raise self.translate(exc, "listing an upload's parts") from None
            except BotoCoreError as exc:
                raise self.translate(exc, "listing an upload's parts") from None
            for part in page.get("Parts", []):
                total += int(part["Size"])
                if part.get("LastModified") is not None:
                    last = max(filter(None, (last, _utc(part["LastModified"]))))
            if not page.get("IsTruncated"):
                return total, last
            marker = int(page.get("NextPartNumberMarker", 0))

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"S3BlobStore({self.location!r}, endpoint={self.endpoint_url or 'AWS'!r})"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _missing(key: str) -> NotFound:
    return NotFound(f"Blob {key} is missing from the blob store", code="blob_missing", details={"sha256": key})


def part_size_for(part_number: int, base: int) -> int:
    """The size of part ``part_number`` (1-based): ``base``, doubled after every 1,000 parts."""
    return min(base << ((part_number - 1) // PARTS_PER_SIZE), MAX_PART_SIZE)


class S3Upload:
    """One upload: a multipart upload to ``tmp/<uuid>`` started once a full part is buffered."""

    def __init__(self, store: S3BlobStore):
        self._store = store
        self._client = store.client
        self.temp_key = store.temp_key(f"upload-{uuid.uuid4().hex}")
        self._buffer = bytearray()
        self._upload_id: str | None = None  # of the multipart upload, until completed or aborted
        self._parts: list[type_defs.CompletedPartTypeDef] = []
        self.size = 0
        self._finished = False
        self._released = False
        self._sent = False  # whether anything may exist on the server

    def write(self, data: bytes) -> None:
        if self._finished or self._released:
            raise RuntimeError("write() after finish() or abort()")
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= (part := part_size_for(len(self._parts) + 1, self._store.part_size)):
            self._send_part(part)

    def _send_part(self, length: int) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise TooLarge(f"File exceeds what the S3 blob store takes in {MAX_PARTS} parts", code="file_too_large")
        store = self._store
        self._sent = True
        try:
            if self._upload_id is None:
                created = self._client.create_multipart_upload(Bucket=store.bucket, Key=self.temp_key,
                                                               ContentType="application/octet-stream")
                self._upload_id = created["UploadId"]
            with memoryview(self._buffer) as view, view[:length] as part:
                body = bytes(part)
            del self._buffer[:length]
            sent = self._client.upload_part(Bucket=store.bucket, Key=self.temp_key, UploadId=self._upload_id,
                                            PartNumber=number, Body=body)
        except (BotoCoreError, ClientError) as exc:
            raise store.translate(exc, "writing an upload") from None
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def finish(self) -> None:
        """Send what is buffered and complete the temporary object."""
        if self._finished:
            return
        store = self._store
        self._sent = True
        try:
            if self._upload_id is None:  # smaller than one part: one PUT
                self._client.put_object(Bucket=store.bucket, Key=self.temp_key, Body=bytes(self._buffer),
                                        ContentType="application/octet-stream")
            else:
                if self._buffer:
                    self._send_part(len(self._buffer))
                self._client.complete_multipart_upload(Bucket=store.bucket, Key=self.temp_key,
                                                       UploadId=self._upload_id,
                                                       MultipartUpload={"Parts": self._parts})
                self._upload_id = None
        except (BotoCoreError, ClientError) as exc:
            raise store.translate(exc, "completing an upload") from None
        self._buffer = bytearray()
        self._finished = True

    def commit(self, key: str) -> bool:
        store = self._store
        final = store.object_key(key)
        if not self._finished or self._released:
            raise RuntimeError("commit() needs a finished upload that was not aborted")
        if store.size(key) is not None:
            return False
        source: type_defs.CopySourceTypeDef = {"Bucket": store.bucket, "Key": self.temp_key}
        try:
            if self.size <= store.copy_threshold:
                self._client.copy_object(Bucket=store.bucket, Key=final, CopySource=source,
                                         ContentType="application/octet-stream", MetadataDirective="REPLACE",
                                         Metadata={"sha256": key})
            else:  # CopyObject stops at 5 GiB: a multipart copy, part by part on the server
                config = TransferConfig(multipart_threshold=store.copy_threshold,
                                        multipart_chunksize=max(COPY_PART_SIZE, -(-self.size // MAX_PARTS)))
                self._client.copy(source, store.bucket, final, Config=config,
                                  ExtraArgs={"ContentType": "application/octet-stream", "Metadata": {"sha256": key}})
        except (BotoCoreError, ClientError) as exc:
            raise store.translate(exc, "committing an upload") from None
        return True

    def abort(self) -> None:
        """Abort the multipart upload and delete the temporary object. A failure is logged, not
        raised (this runs in cleanup paths): the bucket's lifecycle rule removes what is left."""
        if self._released:
            return
        self._released = True
        self._buffer = bytearray()
        if not self._sent:
            return
        store = self._store
        upload_id, self._upload_id = self._upload_id, None
        steps = [] if upload_id is None else [lambda: self._client.abort_multipart_upload(
            Bucket=store.bucket, Key=self.temp_key, UploadId=upload_id)]
        # also when finish() failed: its PUT or completion may have taken effect all the same
        steps.append(lambda: self._client.delete_object(Bucket=store.bucket, Key=self.temp_key))
        for step in steps:
            try:
                step()
            except (BotoCoreError, ClientError) as exc:
                log.warning("Could not remove the temporary upload %s: %s", self.temp_key,
                            store.translate(exc, "removing an upload").message)


class S3Reader:
    """A GET response body, read as the client drains it; ``body`` None for an empty remainder."""

    def __init__(self, store: S3BlobStore, body: Any, size: int):
        self._store = store
        self._body = body
        self.size = size

    def read(self, n: int) -> bytes:
        if self._body is None:
            return b""
        try:
            return self._body.read(n) or b""
        except (BotoCoreError, ClientError) as exc:
            raise self._store.translate(exc, "reading a blob") from None
        except OSError as exc:  # urllib3's connection errors surface as OSError subclasses too
            raise Unavailable(f"Blob store failed while reading a blob: {exc}", code="storage_error",
                              details={"backend": "s3"}) from None

    def close(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()
