"""Shared plumbing for the benchmark scripts (standard library + httpx only).

Everything here is about running things safely on one machine: a free port, a temporary folder,
the service and nginx as child processes that are always stopped, time-bounded subprocesses,
resident memory of a process tree. The result table (our figure beside a baseline measured in
the same run) is _results.py's.

Nothing talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
INSTALL_HINT = "apt-get install nginx-light wrk"
MiB = 1 << 20
GiB = 1 << 30


class BenchError(Exception):
    """A benchmark cannot run (missing tool, server did not start, ...): printed without a traceback."""


# ---- small helpers ----------------------------------------------------------------------------

def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``1GiB``, ``1G``, ``512MiB``, ``100MB``, ``1048576`` -> bytes (units are powers of 1024)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 1GiB, 512MiB, 1048576)")
    unit = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[match.group(2).upper()]
    size = int(float(match.group(1)) * unit)
    if size <= 0:
        raise ValueError("size must be positive")
    return size


def human_bytes(n: float) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{int(n)} B"


def median(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it; bound to loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def require_tool(name: str, *candidates: str, hint: str = INSTALL_HINT) -> str:
    for path in (*candidates, shutil.which(name)):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise BenchError(f"'{name}' is not installed; install it with: {hint}")


def model_service_binary() -> str:
    for path in (Path(sys.executable).parent / "model-service", REPO / ".venv" / "bin" / "model-service"):
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("model-service")
    if found:
        return found
    raise BenchError("model-service is not installed: run `make serve` once (it creates .venv) or "
                     "`pip install -e .` in the project")


def _find_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _find_prctl()  # looked up here, in the parent: the forked child only makes the call


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this benchmark dies without cleaning up (Linux only).

    Popen has no option for PR_SET_PDEATHSIG, hence a preexec_fn, kept to the one system call:
    loading libc in the child (dlopen) could wait forever on a lock another thread held at fork."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run(cmd: list[str], *, timeout: float, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
    """A time-bounded subprocess; its output is captured as text."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                                preexec_fn=_die_with_parent, **kwargs)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from None
    if check and result.returncode != 0:
        raise BenchError(f"exit {result.returncode}: {' '.join(cmd)}\n{result.stderr.strip()[-2000:]}")
    return result


def http_client(base_url: str, timeout: float = 30.0) -> httpx.Client:
    """httpx without proxies from the environment: traffic stays on loopback."""
    return httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)


def install_signal_handlers() -> None:
    """SIGINT/SIGTERM/SIGHUP raise KeyboardInterrupt once, so every ``finally`` (and ExitStack)
    cleans up; further signals are ignored so they cannot cut the clean-up short (it is
    time-bounded itself)."""
    def handler(signum: int, _frame: Any) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


@contextlib.contextmanager
def temp_dir(prefix: str):
    """A temporary folder that is removed afterwards, readable by nginx's unprivileged workers."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _stop(proc: subprocess.Popen, first: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Stop a child we started (and its process group, which it leads), politely then firmly."""
    if proc.poll() is not None:
        return
    for sig, wait in ((first, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ---- memory ------------------------------------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by ``pid`` and its live descendants (all threads)."""
    ticks = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def tree_memory(pid: int) -> dict[str, Any]:
    """VmRSS (now) and VmHWM (peak) summed over ``pid`` and all its descendants, in bytes."""
    pids = process_tree(pid)
    return {
        "processes": len(pids),
        "rss": sum(_status_kb(p, "VmRSS") for p in pids) * 1024,
        "hwm": sum(_status_kb(p, "VmHWM") for p in pids) * 1024,
    }


# ---- the service -------------------------------------------------------------------------------

# Settings the service reads from the environment: a developer's shell must not redirect the
# benchmark to a real database or bucket.
_SERVICE_SETTINGS = {
    "PORT", "HOST", "DATA_DIR", "DATABASE_URL", "BLOB_STORE_URL", "MAX_FILE_SIZE", "MAX_REQUEST_SIZE",
    "MAX_PAGE_SIZE", "LOG_LEVEL", "ACCESS_LOG", "CORS_ORIGINS", "AUTO_MIGRATE", "SQLITE_SYNCHRONOUS",
    "WORKERS", "DOWNLOAD_CHUNK_SIZE", "MONGODB_URL", "MONGODB_DB", "GRIDFS_BUCKET", "REDIS_URL", "ENABLE_AUTH",
}


def _service_setting_names() -> set[str]:
    names = set(_SERVICE_SETTINGS)
    with contextlib.suppress(Exception):
        from model_service.config import Settings  # the real list, when the package is importable

        names |= {name.upper() for name in Settings.model_fields}
    return names


class Service:
    """``model-service serve`` on 127.0.0.1, a free port and a temporary DATA_DIR."""

    def __init__(self, work: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.data_dir = work / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "server.log"
        self.url = f"http://{LOOPBACK}:{self.port}"
        names = _service_setting_names()
        self.env = {k: v for k, v in os.environ.items() if k.upper() not in names}
        self.env.update({"PORT": str(self.port), "HOST": LOOPBACK, "DATA_DIR": str(self.data_dir)})
        self.env.update(env or {})
        self.settings = {k: v for k, v in self.env.items() if k.upper() in names}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Service:
        binary = model_service_binary()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - the server's output until stop() closes it
        self.proc = subprocess.Popen(
            [binary, "serve"], env=self.env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent)  # noqa: PLW1509 - one system call, no lock taken (see _die_with_parent)
        deadline = time.monotonic() + timeout
        with http_client(self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise BenchError(f"model-service exited with {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/health").status_code == 200:
                        return self
                time.sleep(0.1)
        raise BenchError(f"model-service did not answer /health within {timeout:.0f}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> dict[str, Any]:
        return tree_memory(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM, grace=35.0)  # uvicorn's graceful timeout is 30 s
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> Service:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---- nginx (the baseline) ------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ application/json json; application/octet-stream bin; }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        root {root};
        location / {{ }}
        location /api/ {{ default_type application/json; }}
    }}
}}
"""


class Nginx:
    """The Debian nginx binary with a private config, pid file and logs in a temporary folder
    (never the system service), serving ``root`` on 127.0.0.1 with ``sendfile on``."""

    def __init__(self, work: Path, root: Path):
        self.binary = require_tool("nginx", "/usr/sbin/nginx")
        self.prefix = work / "nginx"
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(prefix=self.prefix, host=LOOPBACK, port=self.port, root=root))
        self.proc: subprocess.Popen | None = None

    def start(self, probe_path: str = "/", timeout: float = 15.0) -> Nginx:
        cmd = [self.binary, "-p", f"{self.prefix}/", "-c", str(self.conf), "-e", str(self.prefix / "error.log")]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent)  # noqa: PLW1509 - one system call, no lock taken (see _die_with_parent)
        deadline = time.monotonic() + timeout
        with http_client(self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise BenchError(f"nginx exited with {self.proc.returncode}: {err.strip()}\n{self.error_log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.head(probe_path).status_code == 200:
                        return self
                time.sleep(0.1)
        raise BenchError(f"nginx did not serve {probe_path} within {timeout:.0f}s\n{self.error_log()}")

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.prefix / "error.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM, grace=10.0)
            if self.proc.stderr:
                self.proc.stderr.close()

    def __enter__(self) -> Nginx:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def print_environment(extra: dict[str, Any] | None = None) -> None:
    load = os.getloadavg()
    info = {"cpus": os.cpu_count(), "loadavg": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            "python": sys.version.split()[0], **(extra or {})}
    print("environment: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)


def run_main(name: str, main: Callable[[], int]) -> None:
    """Exit with ``main()``'s code; a BenchError is exit 2, Ctrl-C exit 130 (cleanup has run)."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
