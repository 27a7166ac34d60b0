"""Worker processes that each listen on a socket of their own, so that the kernel spreads
connections evenly across them (Linux `SO_REUSEPORT`).

uvicorn's workers share one listening socket, and whichever is waiting in `accept` first
takes the next connection: under `bench/rest_core.py` one of two workers often held 16-20
of the 24 connections. Writes of one worker share a commit (group commit), and a commit
costs about as much CPU for one create as for ten, so a worker left with a few connections
pays for many small commits: balanced, two workers made 1,457-1,520 creates/s against
1,181-1,342 sharing the socket (A/B, same hour), at p99 27-29 ms against 35.

A worker binds its socket at once but listens only once its app has started (uvicorn
starts listening after the lifespan startup), so no connection is queued on a worker that
is not ready, and one that died takes none. The parent holds the port with a socket that
never listens: a second server started on the same port fails as it would with uvicorn's
own workers, instead of silently sharing the connections.

The parent restarts a worker that dies, stops them all when one cannot start (uvicorn's
exit status 3), and on SIGINT or SIGTERM stops them (SIGTERM) and waits. A worker dies with
the parent (`PR_SET_PDEATHSIG`), so none is left serving the port behind it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

__all__ = ["can_balance", "serve_balanced"]

_log = logging.getLogger("uvicorn.error")

# A worker that dies is started again, but not more often than this per slot: one that
# dies on every start must not spin the parent.
_RESTART_INTERVAL_S = 1.0
# How long the parent waits for its workers to finish their shutdown (writes queued at the
# signal are committed) before it kills them.
_SHUTDOWN_GRACE_S = 30.0
_PR_SET_PDEATHSIG = 1


def can_balance() -> bool:
    """Whether this platform spreads connections across sockets sharing a port (Linux)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def serve_balanced(config: dict[str, Any], host: str, port: int, workers: int) -> None:
    """Serve `config` (keyword arguments of `uvicorn.Config`) with `workers` processes,
    each listening on its own socket bound to (host, port). Returns once they stopped."""
    uvicorn.Config(**config)  # sets up uvicorn's logging, here as in the workers
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        held = _hold_port(family, host, port)
    except OSError as exc:  # the port is taken, or the address is not this host's
        _log.error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    address = held.getsockname()[:2]  # the port the kernel chose, for port 0
    _log.info("Serving on %s:%d with %d workers, one socket each", address[0], address[1], workers)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    spawn = multiprocessing.get_context("spawn")
    parent = os.getpid()

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(config, family, address, parent))
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    started = [time.monotonic()] * workers
    try:
        while not stopping.is_set():
            wait([p.sentinel for p in processes], timeout=0.5)
            for slot, process in enumerate(processes):
                if process.exitcode is None or stopping.is_set():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    _log.error("A worker could not start (see above); stopping")
                    stopping.set()
                    break
                _log.warning("Worker %s exited (%s); another starts", process.pid, process.exitcode)
                time.sleep(max(0.0, started[slot] + _RESTART_INTERVAL_S - time.monotonic()))
                processes[slot], started[slot] = start(), time.monotonic()
    finally:
        _stop(processes)
        held.close()
    if any(p.exitcode == STARTUP_FAILURE for p in processes):
        sys.exit(STARTUP_FAILURE)


def _hold_port(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    """A socket bound to the port, which never listens. A plain bind first: it fails if
    anything holds the port, a group of `SO_REUSEPORT` listeners included (a server
    already running there), which the sharing bind below would join."""
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    return _sharing_socket(family, (host, port))


def _sharing_socket(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _worker(
    config: dict[str, Any], family: socket.AddressFamily, address: tuple[str, int], parent: int
) -> None:
    """A worker process: its own socket, and uvicorn serving the app on it."""
    _die_with(parent)
    sock = _sharing_socket(family, address)
    uvicorn.Server(uvicorn.Config(**config)).run(sockets=[sock])


def _die_with(parent: int) -> None:
    """SIGTERM when the parent dies (a worker orphaned by `kill -9` would keep serving)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        sys.exit(0)


def _stop(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + _SHUTDOWN_GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            _log.error("Worker %s did not stop in time; killed", process.pid)
            process.kill()
            process.join()
