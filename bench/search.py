#!/usr/bin/env python3
"""Search and statistics over a large registry, against a plain lookup by id in the same run.

Loads ``--versions`` (default 100,000) model versions — spread over 2,000 names, 8 algorithms,
with metrics, nested hyperparameters, tags, files and a year of download events — straight into
the embedded store (SQLite, through the store's own schema and triggers), starts
``model-service serve`` on it, then measures over HTTP, one keep-alive connection, ``--runs``
requests each with varied literals:

* get-by-id (``GET /api/v1/models/{id}``): the baseline, a plain indexed lookup;
* filtered, sorted, paged searches: the issue's example filter sorted by a metric, the MLflow
  reference query (``name LIKE 'fraud%' AND tags = 'production'``), the seed's parameters
  (algorithm, tags, min_accuracy) on a later page, text search (``q``), nested hyperparameters;
* ``/api/v1/models/statistics`` and ``/api/v1/statistics``;
* the web UI's pages (issue 8): the models list sorted by a metric at any of its 5,000 pages and
  with the issue's filter, a version's page, a comparison of 3, the dashboard.

Targets (issue 3): p99 of a filtered sorted search < 50 ms; statistics < 200 ms. Issue 8: p99 of a
UI page < 100 ms, of the dashboard (the statistics plus 30 days of downloads) < 200 ms. Usage::

    .venv/bin/python bench/search.py [--versions 100000] [--runs 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Service, http_client, install_signal_handlers, log, print_environment, run_main, temp_dir
from _results import Row, judge_below, render_table, write_json

SEARCH_TARGET_MS = 50.0
STATS_TARGET_MS = 200.0
UI_TARGET_MS = 100.0  # a page: the same queries as its JSON counterpart, plus rendering
ALGORITHMS = ["xgboost", "random_forest", "logistic_regression", "svm", "lightgbm", "neural_network",
              "transformer", "catboost"]
TAGS = ["production", "staging", "fraud", "churn", "nlp", "vision", "experimental", "baseline", "eu", "us",
        "batch", "realtime"]
PREFIXES = ["fraud_detector", "churn_model", "sentiment", "ranker", "forecast", "recommender", "anomaly", "pricing"]
NAMES = 2000


def load(database_url: str, count: int, seed: int = 7) -> list[str]:
    """``count`` versions into the registry at ``database_url`` (SQLite or PostgreSQL, migrated
    first), through the store's own schema and triggers; returns their ids."""
    from sqlalchemy import insert

    from model_service.domain.ids import new_id
    from model_service.domain.naming import accuracy_of
    from model_service.stores.sql.schema import events, models
    from model_service.stores.sql.store import SqlMetadataStore

    rng = random.Random(seed)
    store = SqlMetadataStore.from_url(database_url)
    store.prepare(migrate=True)
    now = datetime.now(UTC)
    ids: list[str] = []
    minors = [0] * NAMES
    started = time.perf_counter()
    batch: list[dict] = []
    with store.engine.begin() as connection:
        for i in range(count):
            name_index = rng.randrange(NAMES)
            name = f"{PREFIXES[name_index % len(PREFIXES)]}_{name_index:04d}"
            created = now - timedelta(days=365 * (count - i) / count, seconds=rng.random())
            accuracy = round(rng.uniform(0.6, 0.995), 4)
            metrics = {"test_accuracy" if rng.random() < 0.7 else "accuracy": accuracy,
                       "f1_score": round(accuracy - rng.uniform(0, 0.05), 4),
                       "precision": round(rng.uniform(0.6, 1), 4), "recall": round(rng.uniform(0.6, 1), 4),
                       "auc": round(rng.uniform(0.7, 1), 4), "loss": round(rng.uniform(0.01, 0.8), 4)}
            params = {"max_depth": rng.randrange(2, 16), "n_estimators": rng.choice([50, 100, 200, 400]),
                      "learning_rate": rng.choice([0.01, 0.05, 0.1, 0.3]),
                      "optimizer": {"name": rng.choice(["adam", "sgd", "adamw"]), "momentum": 0.9}}
            model_id = new_id(created.timestamp())
            ids.append(model_id)
            has_file = rng.random() < 0.8
            batch.append({
                "id": model_id, "name": name, "version_major": 1, "version_minor": minors[name_index],
                "algorithm": ALGORITHMS[name_index % len(ALGORITHMS)], "hyperparameters": params, "metrics": metrics,
                "dataset_info": {"name": f"dataset_{name_index % 50}", "samples": rng.randrange(1000, 10**6)},
                "tags": rng.sample(TAGS, rng.randrange(0, 4)), "description": f"{name} trained on batch {i}",
                "created_by": f"engineer_{rng.randrange(40):02d}",
                "status": rng.choices(["active", "deprecated", "archived"], [85, 10, 5])[0],
                "parent_model_id": None, "format": "pickle",
                "file_sha256": f"{i:064x}" if has_file else None,
                "file_size": rng.randrange(10**5, 10**9) if has_file else None,
                "file_format": "pickle" if has_file else None, "file_name": "model.pkl" if has_file else None,
                "file_content_type": "application/octet-stream" if has_file else None,
                "file_uploaded_at": created if has_file else None, "created_at": created, "updated_at": created,
                "download_count": 0, "accuracy": accuracy_of(metrics),
            })
            minors[name_index] += 1
            if len(batch) == 5000:
                connection.execute(insert(models), batch)
                batch.clear()
        if batch:
            connection.execute(insert(models), batch)
        downloads = [{"model_id": rng.choice(ids), "model_name": "n", "kind": "downloaded", "actor": "load",
                      "at": now - timedelta(days=rng.uniform(0, 30)), "data": {}} for _ in range(count // 2)]
        connection.execute(insert(events), downloads)
    store.refresh_statistics()
    store.close()
    log(f"loaded {count:,} versions and {count // 2:,} download events in {time.perf_counter() - started:.1f}s")
    return ids


def workload(rng: random.Random) -> tuple[list, list]:
    """The searches (label, request) and the statistics requests, with literals drawn from ``rng``."""

    def search(params):
        return lambda client: client.get("/api/v1/models/search", params=params())

    cases = [
        ("search: issue example, sorted by metric", search(lambda: {
            "filter": f"metrics.f1_score >= {rng.uniform(0.85, 0.97):.3f} AND "
                      f"(algorithm = '{rng.choice(ALGORITHMS)}' OR tags = 'production')",
            "sort": "-metrics.f1_score", "limit": 20})),
        ("search: name LIKE + tag (MLflow ref.)", search(lambda: {
            "filter": f"name LIKE '{rng.choice(PREFIXES)}%' AND tags = 'production'", "sort": "-created_at"})),
        ("search: seed params, page 3, by accuracy", search(lambda: {
            "algorithm": rng.choice(ALGORITHMS), "tags": "production,staging",
            "min_accuracy": f"{rng.uniform(0.8, 0.95):.2f}", "sort": "-accuracy", "page": 3, "limit": 20})),
        ("search: text q, sorted by name", search(lambda: {
            "q": f"{rng.choice(PREFIXES)}_{rng.randrange(NAMES):04d}", "sort": "name"})),
        ("search: nested hyperparameters", search(lambda: {
            "filter": f"hyperparameters.max_depth >= {rng.randrange(8, 15)} AND "
                      f"hyperparameters.optimizer.name = '{rng.choice(['adam', 'sgd'])}'",
            "sort": "-metrics.auc"})),
    ]
    statistics_cases = [
        ("/api/v1/models/statistics", lambda client: client.get("/api/v1/models/statistics")),
        ("/api/v1/statistics", lambda client: client.get("/api/v1/statistics")),
    ]
    return cases, statistics_cases


def ui_workload(rng: random.Random, ids: list[str]) -> list:
    """The web UI's pages (issue 8) over the same registry: (label, request, p99 target in ms)."""

    def page(path, params=lambda: None):
        return lambda client: client.get(path() if callable(path) else path, params=params())

    return [
        ("ui: models list, by metric, any page", page("/ui/models", lambda: {
            "sort": "-metrics.f1_score", "page": rng.randrange(1, 5000)}), UI_TARGET_MS),
        ("ui: models list, issue example filter", page("/ui/models", lambda: {
            "filter": f"metrics.f1_score >= {rng.uniform(0.85, 0.97):.3f} AND "
                      f"(algorithm = '{rng.choice(ALGORITHMS)}' OR tags = 'production')",
            "sort": "-metrics.f1_score"}), UI_TARGET_MS),
        ("ui: a version's page", page(lambda: f"/ui/models/{rng.choice(ids)}"), UI_TARGET_MS),
        ("ui: compare 3 versions", page("/ui/compare", lambda: {"ids": ",".join(rng.sample(ids, 3))}),
         UI_TARGET_MS),
        ("ui: dashboard (figures reused 10 s)", page("/ui"), STATS_TARGET_MS),
    ]


def measure(client, runs: int, make_request) -> list[float]:
    """Latencies in ms of ``runs`` requests (after 5 unmeasured ones); every answer must be 200."""
    for _ in range(5):
        make_request(client)
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        response = make_request(client)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return latencies


def p99(values: list[float]) -> float:
    return stats.quantiles(values, n=100)[98]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json")
    args = parser.parse_args()
    install_signal_handlers()
    print_environment({"versions": args.versions, "runs": args.runs})
    rng = random.Random(11)

    cases, statistics_cases = workload(rng)

    with temp_dir("tf-bench-search-") as work:
        service = Service(work)
        ids = load(f"sqlite:///{service.data_dir / 'registry.db'}", args.versions)
        with service, http_client(service.url, timeout=60) as client:
            lookup = measure(client, args.runs, lambda c: c.get(f"/api/v1/models/{rng.choice(ids)}"))
            base_p50, base_p99 = stats.median(lookup), p99(lookup)
            log(f"get-by-id: p50 {base_p50:.2f} ms, p99 {base_p99:.2f} ms")
            rows = [Row("get-by-id (baseline): p50", "ms", base_p50), Row("get-by-id (baseline): p99", "ms", base_p99)]
            for label, request in cases + statistics_cases:
                latencies = measure(client, args.runs if label.startswith("search") else max(20, args.runs // 10),
                                    request)
                target = SEARCH_TARGET_MS if label.startswith("search") else STATS_TARGET_MS
                log(f"{label}: p50 {stats.median(latencies):.2f} ms, p99 {p99(latencies):.2f} ms")
                rows.append(Row(f"{label}: p50", "ms", stats.median(latencies), base_p50, "get-by-id p50"))
                rows.append(judge_below(Row(f"{label}: p99", "ms", p99(latencies), base_p99, "get-by-id p99"),
                                        target))
            for label, request, target in ui_workload(rng, ids):
                latencies = measure(client, max(20, args.runs // 4), request)
                log(f"{label}: p50 {stats.median(latencies):.2f} ms, p99 {p99(latencies):.2f} ms")
                rows.append(Row(f"{label}: p50", "ms", stats.median(latencies), base_p50, "get-by-id p50"))
                rows.append(judge_below(Row(f"{label}: p99", "ms", p99(latencies), base_p99, "get-by-id p99"),
                                        target))
            total = client.get("/api/v1/models", params={"limit": 1}).json()["pagination"]["total"]
    print()
    print(render_table(f"search: {total:,} versions, {args.runs} requests per search on one keep-alive connection",
                       rows))
    misses = sum(row.status == "MISS" for row in rows)
    print(f"targets: {sum(row.status == 'PASS' for row in rows)} PASS, {misses} MISS")
    write_json(args.json, "search", rows, {"versions": total, "runs": args.runs})
    return 0


if __name__ == "__main__":
    run_main("search", main)
