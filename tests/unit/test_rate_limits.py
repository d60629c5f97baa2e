"""Rate limit parts on their own: limit strings, windows, the memory counter's bound, the Redis
fallback, who a request counts for, and refused keys counted against their address."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from model_service.config import SettingsError, load_settings
from model_service.rates import Rate, parse_rate
from model_service.server.ratelimit import (
    Client,
    FallbackCounter,
    MemoryCounter,
    RateLimiter,
    RateLimitMiddleware,
    limits_from_settings,
)
from model_service.server.ratelimit.limiter import CounterUnavailable, window_of
from model_service.server.ratelimit.middleware import client_address, identify

# ---- limit strings ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("100 per hour", Rate(100, 3600)), ("100/hour", Rate(100, 3600)), ("10/minute", Rate(10, 60)),
    ("10 per minute", Rate(10, 60)), ("5/s", Rate(5, 1)), ("30 per 5 minutes", Rate(30, 300)),
    (" 7 / 2 h ", Rate(7, 7200)), ("1000 PER DAY", Rate(1000, 86400)), ("3/10sec", Rate(3, 10)),
])
def test_rates(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["off", "None", "UNLIMITED"])
def test_off(text):
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["100", "per hour", "100/fortnight", "1.5/hour", "-1/hour", "0/hour", "10/0 minutes",
                                  "100 hour", "100perhour", "10/minute;100/hour", "10/32 days", ""])
def test_bad_rates_are_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize("rate, text", [(Rate(100, 3600), "100 per hour"), (Rate(10, 120), "10 per 2 minutes"),
                                        (Rate(3, 90), "3 per 90 seconds"), (Rate(1, 86400), "1 per day")])
def test_rates_read_back(rate, text):
    assert str(rate) == text
    assert parse_rate(text) == rate


@pytest.mark.parametrize("name, value", [("RATE_LIMIT_DOWNLOAD", "10 per fortnight"), ("RATE_LIMIT_DEFAULT", "lots"),
                                         ("REDIS_URL", "http://127.0.0.1:6379")])
def test_bad_settings_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_limits_from_settings(monkeypatch):
    assert limits_from_settings(load_settings()) == {}
    monkeypatch.setenv("RATE_LIMIT_DEFAULT", "100 per hour")
    monkeypatch.setenv("RATE_LIMIT_DOWNLOAD", "10 per minute")
    monkeypatch.setenv("RATE_LIMIT_SEARCH", "off")
    assert limits_from_settings(load_settings()) == {
        "read": ("default", Rate(100, 3600)), "write": ("default", Rate(100, 3600)),
        "download": ("download", Rate(10, 60))}


# ---- windows ----------------------------------------------------------------------------------


def test_windows_hold_now_and_differ_between_clients():
    now = 1_700_000_123.25
    ends = set()
    for identity in ("ip:198.51.100.1", "ip:198.51.100.2", "key:abc", "key:abd"):
        index, end = window_of(identity, 3600, now)
        assert end - 3600 <= now < end and end == int(end)
        assert window_of(identity, 3600, end - 0.001) == (index, end)
        assert window_of(identity, 3600, end) == (index + 1, end + 3600)
        ends.add(end)
    assert len(ends) > 1  # clients do not all start again at once


# ---- the memory counter -----------------------------------------------------------------------


def test_memory_counter_counts_until_a_key_expires():
    counter = MemoryCounter()
    assert [counter.incr_now("a", 160.0, 100.0)[0] for _ in range(3)] == [1, 2, 3]
    assert counter.incr_now("b", 160.0, 100.0, peek="a") == (1, 3)
    assert counter.incr_now("a", 220.0, 160.0) == (1, 0)  # expired: a fresh count
    assert counter.incr_now("b", 220.0, 161.0, peek="missing") == (1, 0)


def test_memory_counter_is_bounded():
    counter = MemoryCounter(max_keys=100, sweep_every=60.0)
    for n in range(1000):
        counter.incr_now(f"client{n}", 1060.0, 1000.0)
        assert len(counter) <= 100
    # the most recent clients are still counted
    assert counter.incr_now("client999", 1060.0, 1001.0) == (2, 0)
    # ended windows are swept out as time passes, without a request of theirs
    counter.incr_now("late", 2000.0, 1100.0)
    assert len(counter) == 1


# ---- the Redis fallback -----------------------------------------------------------------------


class FlakyCounter:
    def __init__(self):
        self.down = True
        self.calls = 0

    async def incr(self, _key, _expires_at, _now, _peek=None):
        self.calls += 1
        if self.down:
            raise CounterUnavailable("Redis did not answer (ConnectionError: refused)")
        return 42, 0

    async def aclose(self):
        pass


def test_fallback_counts_in_memory_while_redis_is_down_and_retries_later(caplog):
    primary, local, fallbacks = FlakyCounter(), MemoryCounter(), []
    counter = FallbackCounter(primary, local, retry_after=5.0, on_fallback=lambda: fallbacks.append(1))

    async def scenario():
        results = [await counter.incr("k", 1060.0, 1000.0 + t) for t in (0, 1, 2)]
        assert results == [(1, 0), (2, 0), (3, 0)]  # counted here: limits still hold, per process
        assert primary.calls == 1  # not tried again before retry_after
        assert await counter.incr("k", 1060.0, 1005.0) == (4, 0)
        assert primary.calls == 2
        primary.down = False
        assert await counter.incr("k", 1060.0, 1010.0) == (42, 0)
        assert await counter.incr("k", 1060.0, 1011.0) == (42, 0)

    with caplog.at_level(logging.INFO, logger="model_service.ratelimit"):
        asyncio.run(scenario())
    assert len(fallbacks) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Rate limits: Redis did not answer (ConnectionError: refused); counting in this process "
                        "until it does"]
    assert any("answers again" in r.getMessage() for r in caplog.records)


# ---- who a request counts for -----------------------------------------------------------------


def scope_of(host: str | None = "198.51.100.1", headers: dict[str, str] | None = None, path: str = "/") -> dict:
    return {"type": "http", "client": (host, 1234) if host else None, "path": path,
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}


@pytest.mark.parametrize("host, address", [
    ("198.51.100.1", "198.51.100.1"), ("::ffff:198.51.100.1", "198.51.100.1"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"), ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
    ("testclient", "testclient"), (None, "unknown"),
])
def test_addresses(host, address):
    assert client_address(scope_of(host)) == address


def test_keys_are_hashed_never_kept():
    secret = "tfk_0123456789ab_" + "x" * 43
    digest = hashlib.sha256(secret.encode()).hexdigest()[:32]
    for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"},
                    {"authorization": f"bearer {secret}"}):
        client = identify(scope_of(headers=headers), trust_keys=True)
        assert client == Client(key=f"key:{digest}", guard="fail:198.51.100.1")
        assert secret not in repr(client)
    assert identify(scope_of(headers={"X-API-Key": secret}), trust_keys=False) == Client(key="ip:198.51.100.1")
    assert identify(scope_of(headers={"Authorization": "Bearer "}), trust_keys=True) == Client(key="ip:198.51.100.1")


def test_a_signed_in_browser_counts_as_its_key_on_the_ui_only():
    secret = "tfk_0123456789ab_" + "x" * 43
    digest = hashlib.sha256(secret.encode()).hexdigest()[:32]
    cookies = {"Cookie": f"ms_csrf=abc; ms_key={secret}; theme=dark"}
    assert identify(scope_of(headers=cookies, path="/ui/models"), trust_keys=True) == Client(
        key=f"key:{digest}", guard="fail:198.51.100.1")
    assert identify(scope_of(headers=cookies, path="/api/v1/models"), trust_keys=True) == Client(
        key="ip:198.51.100.1")  # the API never takes the cookie
    assert identify(scope_of(headers={"Cookie": "ms_key="}, path="/ui"), trust_keys=True) == Client(
        key="ip:198.51.100.1")


# ---- refused keys count against their address -------------------------------------------------


def test_an_address_that_sends_refused_keys_is_limited_whatever_key_it_makes_up():
    async def endpoint(request):
        key = request.headers.get("x-api-key", "")
        if key.startswith("bad"):
            return JSONResponse({"success": False, "code": "unauthenticated"}, status_code=401)
        return JSONResponse({"success": True})

    inner = Starlette(routes=[Route("/api/v1/models/{id}", endpoint)])
    limiter = RateLimiter({"read": ("read", Rate(3, 60))}, MemoryCounter(), clock=lambda: 1_700_000_000.0,
                          trust_keys=True)
    app = RateLimitMiddleware(inner, limiter=limiter, classify=lambda _scope: "read")

    def get(key: str):
        return client.get("/api/v1/models/x", headers={"X-API-Key": key})

    with TestClient(app, client=("198.51.100.1", 1234)) as client:
        assert [get(f"bad{n}").status_code for n in range(4)] == [401, 401, 401, 429]
        refused = get("good")
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "rate_limited" and "unknown API keys" in body["error"]
    with TestClient(app, client=("198.51.100.2", 1234)) as client:
        assert get("good").status_code == 200
