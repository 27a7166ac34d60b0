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
is not ready, and one that died takes none. Sockets that share a port must not let a second
server share it silently: the parent holds the port with a socket that never listens (a
program listening there without `SO_REUSEPORT` makes that bind fail), and claims it among
servers of this kind under an abstract Unix socket name (`\0fhir-server-port:N`, gone
with the process), which a second one cannot bind, running or still starting.

As uvicorn's own supervisor does, the parent restarts a worker that dies, stops them all
when one cannot start (exit status 3), replaces them one by one on SIGHUP (each once its
replacement serves), and on SIGINT or SIGTERM stops them (SIGTERM: each finishes its
requests and commits the writes it queued) and waits. A worker also dies with the parent
(`PR_SET_PDEATHSIG`), so none is left serving the port behind it. One difference remains:
a worker leaving on SIGHUP closes its own socket, and the kernel resets connections still
queued on it (not yet accepted), unless `net.ipv4.tcp_migrate_req` is 1 (Linux 5.14+).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

__all__ = ["can_balance", "serve_balanced"]

_log = logging.getLogger("uvicorn.error")

# A worker that dies is started again, but not more often than this per slot: one that
# dies on every start must not spin the parent.
_RESTART_INTERVAL_S = 1.0
# How long a replacement may take to start serving on SIGHUP before the old worker is kept.
_READY_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1

Address = tuple[str, int]


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
    try:
        claim = _claim(address[1])
    except OSError:
        held.close()
        _log.error("Another fhir-server serves on port %d, or is starting there", address[1])
        sys.exit(STARTUP_FAILURE)
    _log.info("Serving on %s:%d with %d workers, one socket each", address[0], address[1], workers)
    supervisor = _Supervisor(config, family, address)
    try:
        supervisor.run(workers)
    finally:
        held.close()
        claim.close()
    if supervisor.failed:
        sys.exit(STARTUP_FAILURE)


@dataclass
class _Worker:
    process: BaseProcess
    ready: Connection  # the worker writes to it once it serves
    started: float = field(default_factory=time.monotonic)

    def serving(self, timeout: float) -> bool:
        """Whether it says it serves within `timeout` (a worker that died says nothing;
        the parent asks once)."""
        try:
            return self.ready.poll(timeout) and self.ready.recv_bytes() == b"serving"
        except (OSError, EOFError):
            return False

    def stop(self) -> None:
        _stop([self.process])
        self.ready.close()

    def kill(self) -> None:
        """For a worker that never served: nothing of it to finish."""
        self.process.kill()
        self.process.join()
        self.ready.close()


class _Supervisor:
    def __init__(self, config: dict[str, Any], family: socket.AddressFamily, address: Address):
        self._args = (config, family, address, os.getpid())
        self._spawn = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._reloading = threading.Event()
        self.failed = False

    def run(self, count: int) -> None:
        signal.signal(signal.SIGINT, lambda *_: self._stopping.set())
        signal.signal(signal.SIGTERM, lambda *_: self._stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reloading.set())
        workers: list[_Worker] = []
        try:
            while len(workers) < count and not self._stopping.is_set():
                workers.append(self._start())
            while not self._stopping.is_set():
                wait([w.process.sentinel for w in workers], timeout=0.5)
                self._replace_exited(workers)
                if self._reloading.is_set():
                    self._reloading.clear()
                    self._replace_all(workers)
        finally:
            _stop([w.process for w in workers])
            for worker in workers:
                worker.ready.close()

    def _start(self) -> _Worker:
        ours, theirs = self._spawn.Pipe(duplex=False)
        try:
            process = self._spawn.Process(target=_worker, args=(*self._args, theirs))
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker has its own copy
        return _Worker(process, ours)

    def _replace_exited(self, workers: list[_Worker]) -> None:
        for slot, worker in enumerate(workers):
            code = worker.process.exitcode
            if code is None or self._stopping.is_set():
                continue
            if code == STARTUP_FAILURE:
                _log.error("A worker could not start (see above); stopping")
                self.failed = True
                self._stopping.set()
                return
            _log.warning("Worker %s exited (%s); another starts", worker.process.pid, code)
            worker.ready.close()
            time.sleep(max(0.0, worker.started + _RESTART_INTERVAL_S - time.monotonic()))
            workers[slot] = self._start()

    def _replace_all(self, workers: list[_Worker]) -> None:
        """SIGHUP: each worker in turn gives way to a new one once that one serves, so the
        port never goes without a listener (connections still queued on the old one's
        socket are reset, though: see above)."""
        for slot, old in enumerate(workers):
            new = self._start()
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while not new.serving(0.5):
                if self._stopping.is_set() or new.process.exitcode is not None:
                    new.kill()
                    return
                if time.monotonic() > deadline:
                    _log.error(
                        "Worker %s did not start serving; the old one stays", new.process.pid
                    )
                    new.kill()
                    return
            old.stop()
            workers[slot] = new


def _hold_port(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    """A socket bound to the port, which never listens. `SO_REUSEADDR` as uvicorn sets it:
    connections in TIME_WAIT from the last run do not block a restart."""
    return _sharing_socket(family, (host, port))


def _sharing_socket(family: socket.AddressFamily, address: Address) -> socket.socket:
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _claim(port: int) -> socket.socket:
    """The port, among servers sharing it this way: a name in Linux's abstract socket
    namespace, which only one process can bind and which goes with it. Per port, whatever
    the address: sockets on 0.0.0.0 and 127.0.0.1 could share a port too."""
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0fhir-server-port:{port}")
    except BaseException:
        claim.close()
        raise
    return claim


def _worker(
    config: dict[str, Any],
    family: socket.AddressFamily,
    address: Address,
    parent: int,
    ready: Connection,
) -> None:
    """A worker process: its own socket, and uvicorn serving the app on it."""
    _die_with(parent)
    server = uvicorn.Server(uvicorn.Config(**config))  # logging set up, for what follows
    try:
        sock = _sharing_socket(family, address)
    except OSError as exc:
        _log.error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    deaf = threading.Event()
    # uvloop takes `sock` over (its descriptor closed here); a copy of it is checked
    watch = (server, sock.dup(), ready, deaf)
    threading.Thread(target=_tell_when_serving, args=watch, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises a Ctrl-C again, once done
        server.run(sockets=[sock])
    if deaf.is_set():
        sys.exit(STARTUP_FAILURE)


def _tell_when_serving(
    server: uvicorn.Server, sock: socket.socket, ready: Connection, deaf: threading.Event
) -> None:
    """Tell the parent once the worker serves. A program that bound the port without
    `SO_REUSEPORT` while this server started (uvicorn alone binds so) makes `listen` fail,
    which uvloop does not report: the worker checks, and stops as one that could not start."""
    with sock:  # closed at once: a copy left open would keep a leaving worker listening
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if not server.started:
            return
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            port = sock.getsockname()[1]
            _log.error("Another server took port %d while this one started", port)
            deaf.set()
            server.should_exit = True
            return
    ready.send_bytes(b"serving")


def _die_with(parent: int) -> None:
    """SIGTERM when the parent dies (a worker orphaned by `kill -9` would keep serving)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        sys.exit(0)


def _stop(processes: list[BaseProcess]) -> None:
    """SIGTERM, and wait for as long as they take (as uvicorn does): each finishes the
    requests it has and commits what it queued."""
    for process in processes:
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join()
