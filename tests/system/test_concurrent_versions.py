"""Many clients registering one name at once, over real sockets: versions stay unique and gap-free."""

from __future__ import annotations

import itertools
import threading

import httpx

WRITERS = 12
EACH = 10


def test_concurrent_registrations_of_one_name(live_server):
    barrier = threading.Barrier(WRITERS)
    results: list[dict] = []
    failures: list[str] = []

    def writer(n: int) -> None:
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            barrier.wait()
            for i in range(EACH):
                response = client.post("/api/v1/models", json={"name": "shared_model", "algorithm": "xgboost",
                                                                "metrics": {"writer": n, "i": i}})
                if response.status_code != 201:
                    failures.append(response.text)
                else:
                    results.append(response.json())

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    versions = sorted(results, key=lambda r: int(r["version"].split(".")[1]))
    assert [r["version"] for r in versions] == [f"v1.{minor}" for minor in range(WRITERS * EACH)]
    for previous, current in itertools.pairwise(versions):
        assert current["parent_model_id"] == previous["model_id"]
    listed = httpx.get(f"{live_server.url}/api/v1/models", params={"limit": 100}).json()
    assert listed["pagination"]["total"] == WRITERS * EACH
