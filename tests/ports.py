"""Ports on 127.0.0.1 for the tests, safe when several test processes (pytest-xdist workers) run at once.

- :func:`free_port`: a port the OS just handed out and released, for a server about to bind it. Another
  process may be handed the same one before that server binds it; :func:`listens_on` tells whether a
  given process is the one listening there (tests/system/conftest.py's ``start_server`` checks it).
- :func:`closed_port`: a port where nothing listens, ever: it stays bound (never listening, without
  ``SO_REUSEADDR``) by this process until it exits, so a connection is refused at once and no other
  process — another worker's server — can take it meanwhile.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

_held: list[socket.socket] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _held.append(sock)
    return sock.getsockname()[1]


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on TCP ``port`` (IPv4 or IPv6, Linux)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                listening.add(f"socket:[{inode}]")
    held = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:  # the process is gone
        return False
    for fd in fds:
        try:
            held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
    return bool(listening & held)
