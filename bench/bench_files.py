#!/usr/bin/env python3
"""Model files through the service vs. the machine's own ceiling, measured in the same run.

Download: nginx (``sendfile on``) serving the file to ``curl -o /dev/null`` on loopback, beside
``GET /api/v1/models/{id}/download`` to curl the same way; both files in the page cache.
Target: >= 0.7x nginx.

Upload: ``dd if=/dev/zero of=<same filesystem> bs=1M conv=fdatasync`` beside a raw-body upload
with ``curl -X POST -T file -H 'Content-Type: application/octet-stream'`` (the streaming form of
``--data-binary @file``, which curl cannot do for 1 GiB; timed by curl's time_total, which includes the service's
fsync, commit and response). Target: >= 0.5x dd. A multipart upload (``curl -F file=@...``) is
reported as an extra row against the same dd figure.

Each measurement is repeated ``--runs`` times (default 3), sides interleaved, and the median is
reported. Usage::

    .venv/bin/python bench/bench_files.py [--size 1GiB] [--runs 3] [--env KEY=VALUE ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    BenchError,
    MiB,
    Nginx,
    Service,
    http_client,
    human_bytes,
    install_signal_handlers,
    log,
    median,
    parse_size,
    print_environment,
    require_tool,
    run,
    run_main,
    temp_dir,
)
from _results import Row, judge_below, judge_ratio, render_runs, render_table, write_json

DOWNLOAD_TARGET = 0.7
UPLOAD_TARGET = 0.5
CURL_FORMAT = "%{http_code} %{size_download} %{size_upload} %{time_total}"


def make_file(path: Path, size: int) -> None:
    """Incompressible content, written once (it then stays in the page cache)."""
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            piece = os.urandom(min(16 * MiB, remaining))
            out.write(piece)
            remaining -= len(piece)
    os.chmod(path, 0o644)


def warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(8 * MiB):
            pass


def curl(curl_bin: str, args: list[str], *, timeout: float) -> tuple[int, int, int, float]:
    result = run([curl_bin, "-sS", "--noproxy", "*", "-w", CURL_FORMAT, *args], timeout=timeout)
    code, down, up, total = result.stdout.strip().split()[-4:]
    return int(code), int(float(down)), int(float(up)), float(total)


def curl_download(curl_bin: str, url: str, size: int, timeout: float) -> float:
    code, down, _, total = curl(curl_bin, ["-o", "/dev/null", url], timeout=timeout)
    if code != 200 or down != size:
        raise BenchError(f"GET {url}: HTTP {code}, {down} of {size} bytes")
    return size / total / MiB


def register(client, name: str) -> str:
    response = client.post("/api/v1/models", json={
        "name": name, "algorithm": "random_forest", "format": "pickle",
        "metrics": {"accuracy": 0.95}, "hyperparameters": {"n_estimators": 100},
    })
    if response.status_code != 201:
        raise BenchError(f"registering {name}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()["model_id"]


def upload(curl_bin: str, url: str, source: Path, size: int, mode: str, work: Path, timeout: float) -> float:
    out = work / "upload-response.json"
    if mode == "raw":
        # `--data-binary @file` would read the whole file into curl's memory first (and curl 7.88
        # refuses 1 GiB: "out of memory"); `-T file -X POST` sends the same raw body, streamed.
        args = ["-T", str(source), "-X", "POST", "-H", "Content-Type: application/octet-stream",
                f"{url}?filename=model.bin"]
    else:
        args = ["-F", f"file=@{source};type=application/octet-stream"]
        args.append(url)
    code, _, sent, total = curl(curl_bin, ["-o", str(out), *args], timeout=timeout)
    if code != 201:
        body = out.read_text(errors="replace")[:500] if out.exists() else ""
        raise BenchError(f"{mode} upload: HTTP {code} {body}")
    if sent < size:
        raise BenchError(f"{mode} upload: curl sent {sent} of {size} bytes")
    return size / total / MiB


def dd_write(dd_bin: str, target: Path, size: int, timeout: float) -> float:
    os.sync()
    started = time.perf_counter()
    run([dd_bin, "if=/dev/zero", f"of={target}", "bs=1M", f"count={size}", "iflag=count_bytes",
         "conv=fdatasync", "status=none"], timeout=timeout)
    elapsed = time.perf_counter() - started
    target.unlink()
    return size / elapsed / MiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1GiB", help="file size (default 1GiB; units are powers of 1024)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions per measurement; the median is reported")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra service setting, e.g. --env WORKERS=2 (repeatable)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    install_signal_handlers()

    size = parse_size(args.size)
    runs = max(1, args.runs)
    curl_bin = require_tool("curl", "/usr/bin/curl", hint="apt-get install curl")
    dd_bin = require_tool("dd", "/usr/bin/dd", hint="apt-get install coreutils")
    require_tool("nginx", "/usr/sbin/nginx")
    extra_env = dict(item.split("=", 1) for item in args.env)
    # a transfer slower than 20 MiB/s is broken, not slow
    timeout = 120 + size / (20 * MiB)

    with contextlib.ExitStack() as stack:
        work = stack.enter_context(temp_dir("tf-bench-files-"))
        free = os.statvfs(work).f_bavail * os.statvfs(work).f_frsize
        if free < 3.5 * size:
            raise BenchError(f"need about {human_bytes(3.5 * size)} free under {work.parent}, "
                             f"have {human_bytes(free)}: use a smaller --size")
        www = work / "www"
        www.mkdir(mode=0o755)
        source = www / "model.bin"
        log(f"writing a {human_bytes(size)} test file")
        make_file(source, size)

        service = Service(work, {"MAX_FILE_SIZE": str(size + 64 * MiB), **extra_env})
        log(f"starting model-service on {service.url} (DATA_DIR={service.data_dir})")
        stack.enter_context(service)
        start_mem = service.memory()
        nginx = Nginx(work, www)
        log(f"starting nginx on {nginx.url} (sendfile on, config in {nginx.prefix})")
        stack.enter_context(nginx.start("/model.bin"))
        client = stack.enter_context(http_client(service.url))
        print_environment({"file": human_bytes(size), "runs": runs, "service": service.settings.get("WORKERS", "1")
                           + " worker(s)", "tmp": str(work.parent)})

        # ---- uploads: dd vs raw body vs multipart, interleaved ----
        dd_runs, raw_runs, form_runs = [], [], []
        download_id = None
        for i in range(runs):
            dd_runs.append(dd_write(dd_bin, work / "dd.bin", size, timeout))
            log(f"upload run {i + 1}/{runs}: dd {dd_runs[-1]:.0f} MiB/s")
            model_id = register(client, "bench-upload-raw")
            os.sync()
            raw_runs.append(upload(curl_bin, f"{service.url}/api/v1/models/{model_id}/upload", source, size, "raw",
                                   work, timeout))
            download_id = download_id or model_id
            log(f"upload run {i + 1}/{runs}: raw body {raw_runs[-1]:.0f} MiB/s")
            model_id = register(client, "bench-upload-multipart")
            os.sync()
            form_runs.append(upload(curl_bin, f"{service.url}/api/v1/models/{model_id}/upload", source, size,
                                    "multipart", work, timeout))
            log(f"upload run {i + 1}/{runs}: multipart {form_runs[-1]:.0f} MiB/s")

        # ---- downloads: nginx vs ours, page cache warm on both sides ----
        os.sync()
        warm(source)
        ours_url = f"{service.url}/api/v1/models/{download_id}/download"
        nginx_url = f"{nginx.url}/model.bin"
        curl_download(curl_bin, nginx_url, size, timeout)  # warm-up, not counted
        curl_download(curl_bin, ours_url, size, timeout)
        nginx_runs, get_runs = [], []
        for i in range(runs):
            nginx_runs.append(curl_download(curl_bin, nginx_url, size, timeout))
            get_runs.append(curl_download(curl_bin, ours_url, size, timeout))
            log(f"download run {i + 1}/{runs}: nginx {nginx_runs[-1]:.0f} MiB/s, ours {get_runs[-1]:.0f} MiB/s")

        time.sleep(1.0)
        end_mem = service.memory()

    label = human_bytes(size)
    rows = [
        judge_ratio(Row(f"download {label} (GET .../download -> curl)", "MiB/s", median(get_runs), median(nginx_runs),
                        "nginx sendfile", runs=get_runs, baseline_runs=nginx_runs), DOWNLOAD_TARGET),
        judge_ratio(Row(f"upload {label}, raw body (curl -T, POST)", "MiB/s", median(raw_runs), median(dd_runs),
                        "dd fdatasync", runs=raw_runs, baseline_runs=dd_runs), UPLOAD_TARGET),
        Row(f"upload {label}, multipart (curl -F) [extra]", "MiB/s", median(form_runs), median(dd_runs),
            "dd fdatasync", runs=form_runs, baseline_runs=dd_runs),
        judge_below(Row("server peak RSS growth over the transfers", "MB",
                        (end_mem["hwm"] - start_mem["rss"]) / 1e6,
                        note=f"start-up RSS {start_mem['rss'] / 1e6:.1f} MB, peak {end_mem['hwm'] / 1e6:.1f} MB"),
                    100, "< +100 MB"),
    ]
    print()
    print(render_table(f"bench_files: {label} through the service vs. nginx and dd "
                       f"(median of {runs}; MiB/s = 2^20 bytes/s)", rows))
    if render_runs(rows):
        print("runs:\n" + render_runs(rows))
    print(f"memory: start-up RSS {start_mem['rss'] / 1e6:.1f} MB; "
          f"after the transfers RSS {end_mem['rss'] / 1e6:.1f} MB, "
          f"peak {end_mem['hwm'] / 1e6:.1f} MB ({end_mem['processes']} process(es))")
    write_json(args.json, "bench_files", rows, {"size": size, "runs": runs, "memory": {"start": start_mem,
                                                                                       "end": end_mem}})
    return 0


if __name__ == "__main__":
    run_main("bench_files", main)
