"""Redis: the server of the rate limit tests, and a key prefix of its own for each test.

The server is ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). If it does not answer,
the Redis tests are skipped, unless ``CI=true``: there they fail, so that a missing server cannot
pass unnoticed. Each test's keys start with a prefix of its own and are deleted after it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {_redacted(url)} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: the Redis tests must run; set TEST_REDIS_URL)", pytrace=False)
        pytest.skip(message)
    finally:
        client.close()
    yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client of the test server, to look at what the service stored."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of the test's own; its keys are deleted afterwards."""
    prefix = f"ms_test:{secrets.token_hex(6)}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)
