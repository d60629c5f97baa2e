#!/usr/bin/env python3
"""The JSON API under load vs. the load generator's ceiling on this machine, in the same run.

Against a service seeded with ``--models`` registrations (default 1,000), with wrk:

* get-by-id (``GET /api/v1/models/{id}``, ids rotated by a Lua script) on 1 keep-alive
  connection (``wrk -t1 -c1``) and on 16 (``wrk -t2 -c16``): requests/s, p50, p99.
  Targets: >= 1,250 req/s at 16 connections, p50 < 5 ms on one connection.
* registrations (``POST /api/v1/models`` JSON, a handful of names so versions accumulate) on 8
  connections (``wrk -t2 -c8``). Target: >= 700/s. The server's own count of new versions is
  printed beside wrk's to show that every response was a real registration.
* the server's resident memory (VmRSS of the server process and its children) after start-up
  and after the load. Target: < 150 MB.

Baseline: the same wrk command and Lua script against nginx serving a static JSON file of the
same size as a model record at the same paths -- the most this load generator can do here.

Usage::

    .venv/bin/python bench/bench_api.py [--models 1000] [--duration 10] [--env KEY=VALUE ...]
                                        [--profile] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    BenchError,
    Nginx,
    Service,
    http_client,
    install_signal_handlers,
    log,
    machine_cpu_busy,
    print_environment,
    require_tool,
    run,
    run_main,
    temp_dir,
    tree_cpu_seconds,
)
from _results import Row, judge_at_least, judge_below, render_table, write_json

GET_TARGET_RPS = 1250
GET_TARGET_P50_MS = 5.0
REG_TARGET_RPS = 700
RSS_TARGET_MB = 150
REG_NAMES = 5

# Printed by every wrk run: one machine-readable line.
DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def rotating_lua(items: str, stride: int, request: str) -> str:
    """A wrk script that cycles through ``items`` (a Lua table body), each wrk thread starting
    ``stride`` further along, and sends ``request`` (a Lua expression over ``items[i]``)."""
    return f"""
local items = {{{items}}}
local n = #items
local i = 0
local threads = 0
setup = function(thread)
  thread:set("start", threads * {stride})
  threads = threads + 1
end
init = function(args)
  i = (start or 0) % n
end
request = function()
  i = i % n + 1
  return {request}
end
""" + DONE_LUA


def record_body(i: int, name: str | None = None) -> dict:
    """A realistic model record: a few hyperparameters, metrics, dataset facts and tags."""
    return {
        "name": name or f"seed-model-{i % 100:03d}",
        "algorithm": ("random_forest", "xgboost", "logistic_regression", "resnet50")[i % 4],
        "hyperparameters": {"n_estimators": 100 + i % 50, "max_depth": 8, "learning_rate": 0.05},
        "metrics": {"accuracy": 0.9 + (i % 90) / 1000, "f1_score": 0.88, "auc": 0.93},
        "dataset_info": {"name": "customers-2024", "rows": 125000, "features": 42},
        "tags": ["benchmark", "tabular"],
        "description": "Seeded by bench_api.py",
        "format": "pickle",
    }


def seed(base_url: str, count: int) -> tuple[list[str], float]:
    def one(i: int) -> str:
        response = client.post("/api/v1/models", json=record_body(i))
        if response.status_code != 201:
            raise BenchError(f"seeding: HTTP {response.status_code} {response.text[:300]}")
        return response.json()["model_id"]

    started = time.perf_counter()
    with http_client(base_url) as client, ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(count)))
    return ids, count / (time.perf_counter() - started)


def write_scripts(work: Path, ids: list[str]) -> dict[str, Path]:
    id_table = ",".join(f'"{i}"' for i in ids)
    get_lua = work / "get_by_id.lua"
    get_lua.write_text(rotating_lua(id_table, 499, 'wrk.format("GET", "/api/v1/models/" .. items[i])'))
    bodies = ",".join(
        "[[" + json.dumps(record_body(k, name=f"bench-registration-{k}"), separators=(",", ":")) + "]]"
        for k in range(REG_NAMES)
    )
    post_lua = work / "register.lua"
    post_lua.write_text(rotating_lua(
        bodies, 2, 'wrk.format("POST", "/api/v1/models", {["Content-Type"] = "application/json"}, items[i])'))
    return {"get": get_lua, "post": post_lua}


def wrk(wrk_bin: str, url: str, script: Path, *, threads: int, connections: int, duration: float) -> dict:
    cmd = [wrk_bin, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s",
           "-s", str(script), url]
    result = run(cmd, timeout=duration + 60)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON "):])
            data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
            data["p50_ms"] = data["latency_us"]["p50"] / 1000
            data["p99_ms"] = data["latency_us"]["p99"] / 1000
            data["error_count"] = sum(data["errors"].values())
            data["command"] = " ".join(cmd)
            return data
    raise BenchError(f"no result from wrk:\n{result.stdout}\n{result.stderr}")


def total_models(base_url: str) -> int:
    with http_client(base_url) as client:
        response = client.get("/api/v1/models", params={"limit": 1})
        response.raise_for_status()
        return response.json()["pagination"]["total"]


def py_spy_binary() -> str | None:
    for path in (Path(sys.executable).parent / "py-spy", shutil.which("py-spy")):
        if path and os.path.isfile(path):
            return str(path)
    return None


def profile_during(py_spy: str, pid: int, work: Path, tag: str, duration: float, load) -> dict[str, Path]:
    """Sample the server with py-spy while ``load()`` runs (an extra run, not one of the measured ones).

    Two samplers at once: ``wall`` (every thread that is not idle: shows waits on SQLite locks and
    fsync too) and ``gil`` (only the thread holding the GIL: where the Python CPU time goes).
    """
    outputs, procs = {}, []
    for mode in ("gil", "wall"):
        out = work / f"profile-{tag}-{mode}.txt"
        cmd = [py_spy, "record", "-p", str(pid), "--subprocesses", "-r", "200", "-d", f"{int(duration)}",
               "-f", "raw", "-o", str(out), "--nonblocking", *(["--gil"] if mode == "gil" else [])]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        outputs[mode] = out
    try:
        load()
        errors = [proc.communicate(timeout=duration + 60)[1] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for (mode, out), err in zip(outputs.items(), errors, strict=True):
        if not out.exists():
            raise BenchError(f"py-spy ({mode}) wrote no profile: {err.strip()[-1000:]}")
    return outputs


# Frames that wrap everything (thread start-up, the CLI, the event loop): left out of "inclusive".
_WRAPPERS = ("Thread._bootstrap", "WorkerThread.run", "Command.", "Group.invoke", "Context.invoke", "<module>",
             "run (uvicorn", "Server.run", "Server.serve", "asyncio_run", "serve (model_service", "main (click",
             "Runner.run", "run (asyncio", "_main (click")

# Leaf frames of anyio's idle worker threads (waiting for work): not load, only noise.
_IDLE_LEAVES = {"Condition.wait (threading.py)", "Queue.get (queue.py)"}


def summarize_profile(path: Path, top: int = 15) -> str:
    """Self and inclusive sample shares by function, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = sampled = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = []
        for frame in stack.split(";"):
            if frame.startswith(("process ", "thread ")):
                continue
            func, _, where = frame.partition(" (")
            where = where.rstrip(")")
            file = where.rsplit(":", 1)[0]
            short = "/".join(file.split("/")[-2:]) if "site-packages" in file or "/src/" in file else file
            frames.append(f"{func} ({short})")
        if not frames or frames[-1] in _IDLE_LEAVES:
            continue
        sampled += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not sampled:
        return "  (no samples)"
    lines = [f"  {sampled} samples ({total - sampled} of idle pool threads left out); self time:"]
    lines += [f"    {100 * n / sampled:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive time:")
    wrapped = [(f, n) for f, n in inclusive.most_common() if not f.startswith(_WRAPPERS)]
    lines += [f"    {100 * n / sampled:5.1f}%  {f}" for f, n in wrapped[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000, help="models registered before measuring (default 1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra service setting, e.g. --env WORKERS=2 (repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="after the measured runs, sample the server with py-spy during one more get-by-id "
                             "and one more registration run, and print the top functions")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    install_signal_handlers()

    wrk_bin = require_tool("wrk", "/usr/bin/wrk")
    require_tool("nginx", "/usr/sbin/nginx")
    py_spy = py_spy_binary() if args.profile else None
    if args.profile and not py_spy:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    extra_env = dict(item.split("=", 1) for item in args.env)
    duration = args.duration
    profiles: dict[str, str] = {}

    with contextlib.ExitStack() as stack:
        work = stack.enter_context(temp_dir("tf-bench-api-"))
        service = Service(work, extra_env)
        log(f"starting model-service on {service.url} (DATA_DIR={service.data_dir})")
        stack.enter_context(service)
        time.sleep(1.0)
        mem_start = service.memory()
        print_environment({"models": args.models, "duration": f"{duration:g}s",
                           "service": service.settings.get("WORKERS", "1") + " worker(s)",
                           "settings": " ".join(f"{k}={v}" for k, v in sorted(extra_env.items())) or "defaults"})

        log(f"seeding {args.models} models")
        ids, seed_rate = seed(service.url, args.models)
        log(f"seeded at {seed_rate:.0f} registrations/s (8 threads, httpx)")
        with http_client(service.url) as client:
            record = client.get(f"/api/v1/models/{ids[0]}").content

        # nginx serves the same bytes at the same paths, so one Lua script drives both servers
        www = work / "www"
        models_dir = www / "api" / "v1" / "models"
        models_dir.mkdir(parents=True)
        template = www / "record.json"
        template.write_bytes(record)
        os.chmod(template, 0o644)
        for model_id in ids:
            os.link(template, models_dir / model_id)
        for folder in (www, www / "api", www / "api" / "v1", models_dir):
            os.chmod(folder, 0o755)
        nginx = Nginx(work, www)
        log(f"starting nginx on {nginx.url}")
        stack.enter_context(nginx.start(f"/api/v1/models/{ids[0]}"))
        scripts = write_scripts(work, ids)

        def go(target: str, script: str, threads: int, connections: int, seconds: float = duration) -> dict:
            url = service.url if target == "ours" else nginx.url
            pid = service.pid if target == "ours" else nginx.proc.pid
            cpu0, (busy0, all0), t0 = tree_cpu_seconds(pid), machine_cpu_busy(), time.perf_counter()
            result = wrk(wrk_bin, url, scripts[script], threads=threads, connections=connections, duration=seconds)
            cpu1, (busy1, all1), t1 = tree_cpu_seconds(pid), machine_cpu_busy(), time.perf_counter()
            result["server_cpu"] = (cpu1 - cpu0) / (t1 - t0)          # 1.0 = one core busy
            result["machine_cpu"] = (busy1 - busy0) / max(all1 - all0, 1)  # 1.0 = every core busy
            log(f"{target:5} {script:4} -c{connections:<2}: {result['rps']:8.0f} req/s  p50 {result['p50_ms']:.2f} ms"
                f"  p99 {result['p99_ms']:.2f} ms  errors {result['error_count']}  server CPU "
                f"{100 * result['server_cpu']:.0f}% of a core, machine {100 * result['machine_cpu']:.0f}% busy")
            return result

        log("warming up (not counted)")
        go("ours", "get", 2, 16, 2)
        go("nginx", "get", 2, 16, 1)

        results: dict[str, dict] = {}
        results["nginx_c1"] = go("nginx", "get", 1, 1)
        results["get_c1"] = go("ours", "get", 1, 1)
        results["nginx_c16"] = go("nginx", "get", 2, 16)
        results["get_c16"] = go("ours", "get", 2, 16)
        results["nginx_c8"] = go("nginx", "get", 2, 8)
        before = total_models(service.url)
        results["reg_c8"] = go("ours", "post", 2, 8)
        registered = total_models(service.url) - before

        time.sleep(2.0)
        mem_after = service.memory()

        if py_spy:
            log("profiling with py-spy (extra runs, not counted)")
            for tag, script, conns in (("get-by-id-c16", "get", 16), ("registrations-c8", "post", 8)):
                paths = profile_during(py_spy, service.pid, work, tag, duration,
                                       lambda script=script, conns=conns: go("ours", script, 2, conns))
                for mode, path in paths.items():
                    profiles[f"{tag}, {mode}"] = summarize_profile(path)

    r = results
    note_errors = {k: v["error_count"] for k, v in r.items() if v["error_count"]}
    rows = [
        Row("get-by-id, 1 connection: throughput", "req/s", r["get_c1"]["rps"], r["nginx_c1"]["rps"], "nginx static"),
        judge_below(Row("get-by-id, 1 connection: p50", "ms", r["get_c1"]["p50_ms"], r["nginx_c1"]["p50_ms"],
                        "nginx static"), GET_TARGET_P50_MS),
        Row("get-by-id, 1 connection: p99", "ms", r["get_c1"]["p99_ms"], r["nginx_c1"]["p99_ms"], "nginx static"),
        judge_at_least(Row("get-by-id, 16 connections: throughput", "req/s", r["get_c16"]["rps"],
                           r["nginx_c16"]["rps"], "nginx static"), GET_TARGET_RPS, f">= {GET_TARGET_RPS:,} req/s"),
        Row("get-by-id, 16 connections: p50", "ms", r["get_c16"]["p50_ms"], r["nginx_c16"]["p50_ms"], "nginx static"),
        Row("get-by-id, 16 connections: p99", "ms", r["get_c16"]["p99_ms"], r["nginx_c16"]["p99_ms"], "nginx static"),
        judge_at_least(Row("registrations, 8 connections", "reg/s", r["reg_c8"]["rps"], r["nginx_c8"]["rps"],
                           "nginx static GET"), REG_TARGET_RPS, f">= {REG_TARGET_RPS} reg/s"),
        Row("registrations, 8 connections: p50", "ms", r["reg_c8"]["p50_ms"], r["nginx_c8"]["p50_ms"],
            "nginx static GET"),
        Row("registrations, 8 connections: p99", "ms", r["reg_c8"]["p99_ms"], r["nginx_c8"]["p99_ms"],
            "nginx static GET"),
        judge_below(Row("idle RSS after start-up", "MB", mem_start["rss"] / 1e6), RSS_TARGET_MB),
        judge_below(Row("idle RSS after the load", "MB", mem_after["rss"] / 1e6), RSS_TARGET_MB),
    ]
    for key, row in (("get_c1", rows[0]), ("get_c16", rows[3]), ("reg_c8", rows[6])):
        if r[key]["error_count"] and row.status == "PASS":
            row.status = "MISS"  # errors make a throughput figure meaningless
    print()
    print(render_table(f"bench_api: JSON API vs. nginx static file of the same size ({len(record)} B), "
                       f"wrk {duration:g}s per run, {args.models} seeded models", rows))
    print(f"registrations counted by the server: {registered} in {r['reg_c8']['duration_us'] / 1e6:.1f}s "
          f"(wrk saw {r['reg_c8']['requests']} responses); seeding ran at {seed_rate:.0f}/s with 8 httpx threads")
    print(f"memory: after start-up {mem_start['rss'] / 1e6:.1f} MB in {mem_start['processes']} process(es); "
          f"after the load {mem_after['rss'] / 1e6:.1f} MB, peak {mem_after['hwm'] / 1e6:.1f} MB")
    print("errors (connect/read/write/status/timeout) per run: " + (json.dumps(
        {k: r[k]["errors"] for k in note_errors}) if note_errors else "none"))
    print("commands:")
    for key in ("nginx_c1", "get_c1", "nginx_c16", "get_c16", "nginx_c8", "reg_c8"):
        print(f"  {key:9} {r[key]['command']}")
    print("server CPU (100% = one core) / whole machine busy, per run: " + ", ".join(
        f"{k} {100 * v['server_cpu']:.0f}%/{100 * v['machine_cpu']:.0f}%" for k, v in r.items()))
    for tag, text in profiles.items():
        print(f"py-spy profile, {tag} (extra run, 200 Hz):\n{text}")
    write_json(args.json, "bench_api", rows, {"wrk": r, "memory": {"start": mem_start, "after": mem_after},
                                               "registered": registered, "seed_rate": seed_rate,
                                               "record_bytes": len(record), "profiles": profiles})
    return 0


if __name__ == "__main__":
    run_main("bench_api", main)
