"""Rate limits counted in Redis: shared by replicas (two apps here), atomic under concurrency,
stored as hashes with expiries; and what a request gets when Redis does not answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest
import redis

from model_service.config import Settings
from model_service.rates import Rate
from model_service.server.ratelimit import Client, FallbackCounter, MemoryCounter, RateLimiter, RedisCounter
from tests.api.helpers import MODELS, assert_error
from tests.api.ratelimit_helpers import Clock, LimitedApps, limits_of
from tests.ports import closed_port


def test_two_replicas_share_the_counts(limited: LimitedApps, clock: Clock, redis_url: str, redis_prefix: str):
    one = limited(rate_limit_search="3/minute", redis_url=redis_url, redis_prefix=redis_prefix)
    two = limited(rate_limit_search="3/minute", redis_url=redis_url, redis_prefix=redis_prefix)
    assert limits_of(one.get(MODELS))[:2] == (3, 2)
    assert limits_of(two.get(MODELS))[:2] == (3, 1)
    assert limits_of(one.get(MODELS))[:2] == (3, 0)
    refused = two.get(MODELS)
    assert_error(refused, 429, "rate_limited")
    _, _, reset = limits_of(refused)
    assert int(refused.headers["retry-after"]) == reset - int(clock.now)
    assert one.get(MODELS).status_code == 429
    # another client has counts of its own
    assert two.get(MODELS, headers={"X-Test-Peer": "198.51.100.9"}).status_code == 200
    # and the window ends for both replicas at once
    clock.now = reset
    assert limits_of(two.get(MODELS))[:2] == (3, 2)
    assert limits_of(one.get(MODELS))[:2] == (3, 1)


def test_counts_are_hashes_that_expire(limited: LimitedApps, redis_url: str, redis_prefix: str,
                                       redis_client: redis.Redis):
    secret = "tfk_0123456789ab_" + "s" * 43
    client = limited(rate_limit_default="100/hour", rate_limit_download="10/minute", trust_keys=True,
                     redis_url=redis_url, redis_prefix=redis_prefix)
    client.get(MODELS, headers={"X-API-Key": secret})
    client.get(MODELS, headers={"Authorization": f"Bearer {secret}"})
    client.get(f"{MODELS}/0123456789abcdef01234567", headers={"X-Test-Peer": "198.51.100.4"})
    keys = sorted(redis_client.scan_iter(match=redis_prefix + "*"))
    digest = hashlib.sha256(secret.encode()).hexdigest()[:32]
    assert [key.rsplit(":", 1)[0] for key in keys] == [
        f"{redis_prefix}default:ip:198.51.100.4", f"{redis_prefix}default:key:{digest}"]
    assert [redis_client.get(key) for key in keys] == ["1", "2"]
    for key in keys:
        assert secret not in key
        assert 0 < redis_client.pttl(key) <= 3601 * 1000


def test_replicas_never_count_past_each_other(redis_url: str, redis_prefix: str):
    """Forty concurrent requests through two limiters (two replicas) for a limit of 15."""
    clock = Clock()

    async def scenario() -> list[bool]:
        limiters = [RateLimiter({"write": ("write", Rate(15, 60))}, RedisCounter(redis_url, prefix=redis_prefix),
                                clock=clock) for _ in range(2)]
        try:
            decisions = await asyncio.gather(*(limiters[n % 2].check("write", Client(key="ip:198.51.100.1"))
                                               for n in range(40)))
        finally:
            for limiter in limiters:
                await limiter.aclose()
        return [decision.allowed for decision in decisions]

    allowed = asyncio.run(scenario())
    assert allowed.count(True) == 15


def test_redis_down_counts_in_each_process(limited: LimitedApps, caplog):
    """Nothing listens at the Redis URL: requests are answered (never a 500), counted in this
    process instead, a warning is logged once and the fallback is counted in the metrics."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with caplog.at_level(logging.WARNING, logger="model_service.ratelimit"):
        client = limited(rate_limit_search="2/minute", redis_url=url)
        statuses = [client.get(MODELS) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert [limits_of(r)[:2] for r in statuses] == [(2, 1), (2, 0), (2, 0)]
    warnings = [r.getMessage() for r in caplog.records if r.name == "model_service.ratelimit"]
    assert len(warnings) == 1 and "Redis did not answer" in warnings[0], warnings
    assert "rate_limit_fallbacks_total 3.0" in client.get("/metrics").text


def test_redis_comes_back(redis_url: str, redis_prefix: str, redis_client: redis.Redis):
    """After the retry delay, the counts are Redis's again."""
    clock = Clock()
    down = f"redis://127.0.0.1:{closed_port()}/0"

    async def scenario() -> None:
        shared = FallbackCounter(RedisCounter(down, prefix=redis_prefix), MemoryCounter(), retry_after=5.0)
        limiter = RateLimiter({"read": ("read", Rate(5, 3600))}, shared, clock=clock)
        client = Client(key="ip:198.51.100.1")
        assert (await limiter.check("read", client)).remaining == 4  # in memory
        shared.primary = RedisCounter(redis_url, prefix=redis_prefix)  # Redis is back
        clock.advance(1)
        assert (await limiter.check("read", client)).remaining == 3  # still in memory: not retried yet
        clock.advance(5)
        assert (await limiter.check("read", client)).remaining == 4  # Redis's own count
        await limiter.aclose()

    asyncio.run(scenario())
    assert len(list(redis_client.scan_iter(match=redis_prefix + "*"))) == 1


def test_a_malformed_redis_url_fails_at_start_up(tmp_path: Path):
    with pytest.raises(ValueError):
        RedisCounter("redis://127.0.0.1:notaport/0")
    assert Settings(data_dir=tmp_path, redis_url="unix:///run/redis.sock").redis_url == "unix:///run/redis.sock"
