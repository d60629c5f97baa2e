"""S3: moto's server on 127.0.0.1, started once per session; each store made gets a bucket of its own.

The boto3 clients made here carry dummy credentials and the region explicitly, so no ``AWS_*``
variable is set for other tests. A separate process (the system tests' ``model-service serve``)
gets them in its own environment: :data:`S3_ENVIRONMENT`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

from model_service.stores.blob_s3 import S3BlobStore
from tests.ports import free_port

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing-secret", "region_name": "us-east-1"}
S3_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def s3_client(endpoint_url: str, **config: object):
    """A boto3 S3 client for ``endpoint_url`` with the test credentials (``config``: botocore Config options)."""
    options = {"s3": {"addressing_style": "path"}, "request_checksum_calculation": "when_required",
               "response_checksum_validation": "when_required", **config}
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=Config(**options), **CREDENTIALS)


@dataclass
class MotoS3:
    endpoint_url: str
    admin: object  # a boto3 client for creating and inspecting buckets

    def new_bucket(self) -> str:
        bucket = f"test-{secrets.token_hex(6)}"
        self.admin.create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str) -> list[str]:
        pages = self.admin.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def multipart_uploads(self, bucket: str) -> list[dict]:
        return self.admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint_url = f"http://127.0.0.1:{port}"
    admin = s3_client(endpoint_url)
    try:
        yield MotoS3(endpoint_url, admin)
    finally:
        admin.close()
        server.stop()


@pytest.fixture
def s3_blob_factory(moto_s3: MotoS3) -> Iterator:
    """Fresh stores on moto, each on a new bucket under a random prefix; closed afterwards."""
    made: list[S3BlobStore] = []

    def make(name: str = "main", **options) -> S3BlobStore:
        store = S3BlobStore(s3_client(moto_s3.endpoint_url), moto_s3.new_bucket(), f"{name}/{secrets.token_hex(3)}",
                            endpoint_url=moto_s3.endpoint_url, **options)
        store.verify_bucket()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
