#!/usr/bin/env python3
"""The earlier benchmarks' workloads on each pair of backends, beside the embedded default.

For each pair — embedded (SQLite + folder, the baseline), PostgreSQL + folder, SQLite + S3,
PostgreSQL + S3, and MongoDB + GridFS when ``MONGODB_URL`` points at a real server — one
``model-service serve`` is started on fresh stores and measured the same way:

* files: a ``--size`` (default 1 GiB) raw upload (``curl -T``) and download (``curl``), MiB/s,
  and the server's peak RSS growth over both (target for S3: < 100 MB). Transfers through S3
  are compared with boto3 alone moving the same file to and from the same S3 server;
* search: ``--versions`` (default 20,000) versions loaded through the store's own schema, then
  p50/p99 over one keep-alive connection of bench/search.py's searches and statistics;
* get-by-id p50 and one-client registration p50 (``--runs`` requests each).

Every other figure is printed beside the embedded pair's figure from the same run (ratio = ours
÷ baseline; for latencies, how many times slower). PostgreSQL is the machine's server at
127.0.0.1:5432 (a fresh database per run, dropped afterwards; ``--postgres-url`` to change);
S3 is moto's server on 127.0.0.1 (an in-process Python S3: it measures our S3 code path, not
what a real object store would do). Usage::

    .venv/bin/python bench/backends.py [--size 1GiB] [--versions 20000] [--runs 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics as stats
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    BenchError,
    Service,
    free_port,
    http_client,
    install_signal_handlers,
    log,
    parse_size,
    print_environment,
    require_tool,
    run_main,
    temp_dir,
)
from _results import Row, judge_below, render_table, write_json
from bench_files import curl_download, make_file, register, upload
from search import load, measure, p99, workload

S3_KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
RSS_TARGET_MB = 100.0


@dataclass
class Pair:
    label: str
    env: dict[str, str]
    database_url: str | None = None  # None: SQLite in the service's DATA_DIR
    results: dict[str, float] = field(default_factory=dict)


class MotoServer:
    """moto's S3 server on 127.0.0.1 (the ``moto_server`` command from moto[server])."""

    def __init__(self, work: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(work / "moto.log", "wb")  # noqa: SIM115 - the server's output until stop() closes it
        binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        import boto3

        self.client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise BenchError("moto_server did not start") from None
                time.sleep(0.2)

    def direct(self, source: Path, size: int) -> tuple[float, float]:
        """MiB/s of boto3 itself uploading ``source`` to a new bucket and reading it back: what
        this S3 server allows, the baseline of our S3 transfers."""
        bucket = self.bucket()
        started = time.perf_counter()
        self.client.upload_file(str(source), bucket, "direct.bin")
        up = size / (time.perf_counter() - started) / (1 << 20)
        started = time.perf_counter()
        body = self.client.get_object(Bucket=bucket, Key="direct.bin")["Body"]
        while body.read(4 << 20):
            pass
        down = size / (time.perf_counter() - started) / (1 << 20)
        self.client.delete_object(Bucket=bucket, Key="direct.bin")
        return up, down

    def bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()
        self.log.close()


class Postgres:
    """A fresh database on the PostgreSQL server, dropped afterwards."""

    def __init__(self, admin_url: str):
        import psycopg

        self.admin_url = admin_url
        self.name = f"ms_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        base, _, _ = admin_url.rpartition("/")
        self.url = f"{base}/{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def measure_pair(pair: Pair, work: Path, source: Path, size: int, versions: int, runs: int) -> None:
    """Every workload on one pair; figures go to ``pair.results``."""
    curl_bin = require_tool("curl")
    service = Service(work, env={"MAX_FILE_SIZE": str(size + (1 << 20)), **pair.env})
    database_url = pair.database_url or f"sqlite:///{service.data_dir / 'registry.db'}"
    ids = load(database_url, versions)  # also creates the schema, before the service starts
    with service, http_client(service.url, timeout=120) as client:
        log(f"{pair.label}: serving on {service.url}")
        start_rss = service.memory()["rss"]
        model_id = register(client, "bench_file")
        pair.results["upload"] = upload(curl_bin, f"{service.url}/api/v1/models/{model_id}/upload", source, size,
                                        "raw", work, timeout=900)
        pair.results["download"] = curl_download(curl_bin, f"{service.url}/api/v1/models/{model_id}/download", size,
                                                 timeout=900)
        pair.results["rss_growth"] = (service.memory()["hwm"] - start_rss) / 1e6
        log(f"{pair.label}: upload {pair.results['upload']:,.0f} MiB/s, download {pair.results['download']:,.0f} "
            f"MiB/s, peak RSS growth {pair.results['rss_growth']:.1f} MB")

        rng = random.Random(11)
        lookups = measure(client, runs, lambda c: c.get(f"/api/v1/models/{rng.choice(ids)}"))
        pair.results["get-by-id p50"] = stats.median(lookups)
        registrations = measure(client, runs, _register)
        pair.results["registration p50"] = stats.median(registrations)
        cases, statistics_cases = workload(rng)
        for label, request in cases + statistics_cases:
            latencies = measure(client, runs if label.startswith("search") else max(10, runs // 5), request)
            pair.results[f"{label} p50"] = stats.median(latencies)
            pair.results[f"{label} p99"] = p99(latencies)
        log(f"{pair.label}: " + ", ".join(f"{k} {v:.1f}" for k, v in pair.results.items() if "search" in k))


def _register(client):
    response = client.post("/api/v1/models", json={"name": "bench_registrations", "algorithm": "xgboost",
                                                   "metrics": {"accuracy": 0.9}, "tags": ["bench"]})
    if response.status_code == 201:
        response.status_code = 200  # measure() wants 200 for every answer
    return response


UNITS = {"upload": "MiB/s", "download": "MiB/s", "rss_growth": "MB"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--versions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mongodb-url", default=None, help="a real MongoDB for the MongoDB + GridFS pair")
    parser.add_argument("--json")
    args = parser.parse_args()
    install_signal_handlers()
    size = parse_size(args.size)
    print_environment({"size": args.size, "versions": args.versions, "runs": args.runs})

    with temp_dir("tf-bench-backends-") as work:
        source = work / "model.bin"
        make_file(source, size)
        moto = MotoServer(work)
        databases: list[Postgres] = []
        try:
            def s3_env() -> dict[str, str]:
                return {"BLOB_STORE_URL": f"s3://{moto.bucket()}/registry", "S3_ENDPOINT_URL": moto.url, **S3_KEYS}

            def postgres() -> Postgres:
                databases.append(Postgres(args.postgres_url))
                return databases[-1]

            pg_local, pg_s3 = postgres(), postgres()
            pairs = [
                Pair("embedded (SQLite + folder)", {}),
                Pair("PostgreSQL + folder", {"DATABASE_URL": pg_local.url}, pg_local.url),
                Pair("SQLite + S3", s3_env()),
                Pair("PostgreSQL + S3", {"DATABASE_URL": pg_s3.url, **s3_env()}, pg_s3.url),
            ]
            if args.mongodb_url:
                database = f"ms_bench_{uuid.uuid4().hex[:10]}"
                pairs.append(Pair("MongoDB + GridFS", {"MONGODB_URL": args.mongodb_url, "MONGODB_DB": database,
                                                       "BLOB_STORE_URL": "gridfs://"}, None))
            direct_up, direct_down = moto.direct(source, size)
            log(f"S3 server alone (boto3): upload {direct_up:,.0f} MiB/s, download {direct_down:,.0f} MiB/s")
            for index, pair in enumerate(pairs):
                folder = work / f"pair{index}"
                folder.mkdir()
                if pair.label.startswith("MongoDB"):
                    log("MongoDB + GridFS: the search load goes through the SQL schema; skipped for MongoDB")
                    continue
                measure_pair(pair, folder, source, size, args.versions, args.runs)
        finally:
            moto.stop()
            for database in databases:
                with contextlib.suppress(Exception):
                    database.drop()

    rows = _rows(pairs, {"upload": direct_up, "download": direct_down})
    print()
    print(render_table(f"backends: {args.size} file, {args.versions:,} versions, {args.runs} requests per latency",
                       rows))
    write_json(args.json, "backends", rows, {"size": size, "versions": args.versions, "runs": args.runs})
    return 0


def _rows(pairs: list[Pair], direct: dict[str, float]) -> list[Row]:
    """Every pair's figures against the first pair's (embedded), transfers through S3 against S3
    itself (``direct``: boto3 alone)."""
    baseline = pairs[0]
    rows: list[Row] = []
    for key in baseline.results:
        unit = UNITS.get(key, "ms")
        rows.append(Row(f"{baseline.label}: {key}", unit, baseline.results[key]))
        if key in direct:
            rows.append(Row(f"S3 server alone (boto3 <-> moto): {key}", unit, direct[key]))
        for pair in pairs[1:]:
            if key not in pair.results:
                continue
            if key in direct and "S3" in pair.label:  # a transfer through S3: against S3 itself
                row = Row(f"{pair.label}: {key}", unit, pair.results[key], direct[key], "boto3 alone")
            else:
                row = Row(f"{pair.label}: {key}", unit, pair.results[key], baseline.results[key], "embedded")
            if key == "rss_growth" and "S3" in pair.label:
                row = judge_below(row, RSS_TARGET_MB, f"< {RSS_TARGET_MB:.0f} MB")
            rows.append(row)
    return rows


if __name__ == "__main__":
    run_main("backends", main)
