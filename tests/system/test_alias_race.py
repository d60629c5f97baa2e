"""Many clients moving one alias with compare-and-swap, over real sockets: every successful move is
recorded exactly once, in an unbroken chain, and every 409 changed nothing."""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

import httpx

CLIENTS = 8
LOCKSTEP_ROUNDS = 6  # everyone reads the same version, then everyone tries to move it: exactly one wins
FREE_ATTEMPTS = 15  # then each client reads and moves as fast as it can
VERSIONS = ("v1.0", "v1.1", "v1.2", "v1.3")
ALIAS_URL = "/api/v1/models/by-name/fraud/aliases/production"


@dataclass
class Outcomes:
    moves: list[tuple[str, str, str]] = field(default_factory=list)  # (actor, from, to) of each 200
    conflicts: int = 0
    by_phase: Counter = field(default_factory=Counter)  # (phase, status) → responses
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def current_version(client: httpx.Client) -> str:
    response = client.get(ALIAS_URL)
    assert response.status_code == 200, response.text
    return response.json()["version"]


def move_from_seen(client: httpx.Client, actor: str, seen: str, rng: random.Random, outcomes: Outcomes,
                   phase: str) -> None:
    """Move the alias elsewhere on condition that it still points at ``seen``."""
    target = rng.choice([v for v in VERSIONS if v != seen])
    response = client.put(ALIAS_URL, json={"version": target, "expected_version": seen}, headers={"X-Actor": actor})
    with outcomes.lock:
        outcomes.by_phase[phase, response.status_code] += 1
        if response.status_code == 200:
            body = response.json()
            if (body["previous_version"], body["version"]) != (seen, target):
                outcomes.failures.append(f"200 for {seen}->{target} answered {body}")
            outcomes.moves.append((actor, seen, target))
        elif response.status_code == 409 and response.json().get("code") == "alias_conflict":
            outcomes.conflicts += 1
        else:
            outcomes.failures.append(f"{response.status_code} {response.text}")


def test_concurrent_compare_and_swap_moves_of_one_alias(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        for _ in VERSIONS:
            assert client.post("/api/v1/models", json={"name": "fraud", "algorithm": "xgboost"}).status_code == 201
        first = client.put(ALIAS_URL, json={"version": "v1.0", "expected_version": None}, headers={"X-Actor": "setup"})
        assert first.status_code == 200, first.text

    outcomes = Outcomes()
    barrier = threading.Barrier(CLIENTS)

    def mover(n: int) -> None:
        actor, rng = f"mover-{n}", random.Random(n)
        try:
            with httpx.Client(base_url=live_server.url, timeout=30) as client:
                for _ in range(LOCKSTEP_ROUNDS):
                    seen = current_version(client)
                    barrier.wait()  # every client has read the same version; nobody has moved it yet
                    move_from_seen(client, actor, seen, rng, outcomes, "lockstep")
                    barrier.wait()  # every move of this round is done before the next reads
                for _ in range(FREE_ATTEMPTS):  # read, then move from what was read
                    move_from_seen(client, actor, current_version(client), rng, outcomes, "free")
        except Exception as exc:
            barrier.abort()
            with outcomes.lock:
                outcomes.failures.append(f"{actor}: {exc!r}")

    threads = [threading.Thread(target=mover, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.failures == []
    assert len(outcomes.moves) + outcomes.conflicts == CLIENTS * (LOCKSTEP_ROUNDS + FREE_ATTEMPTS)
    assert outcomes.by_phase["lockstep", 200] == LOCKSTEP_ROUNDS  # exactly one winner per round
    assert outcomes.by_phase["lockstep", 409] == LOCKSTEP_ROUNDS * (CLIENTS - 1)

    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        response = client.get("/api/v1/models/by-name/fraud/history", params={"kind": "alias", "alias": "production"})
        assert response.status_code == 200, response.text
        events = response.json()["events"]
        final = current_version(client)

    chain = [(e["data"]["from_version"], e["data"]["to_version"]) for e in events]
    assert chain[0] == (None, "v1.0")
    for previous, current in itertools.pairwise(chain):
        assert current[0] == previous[1], chain  # unbroken: each move starts where the last ended
    assert len(events) == 1 + len(outcomes.moves)  # every 200 recorded once, every 409 nothing
    assert Counter((e["actor"], *pair) for e, pair in zip(events[1:], chain[1:], strict=True)) == Counter(
        outcomes.moves)
    assert final == chain[-1][1]
