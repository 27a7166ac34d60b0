"""`fhir-server serve --workers N` on Linux: a listening socket per worker, so that the
kernel spreads connections across them; workers replaced when they die, gone with the
parent, and a second server on a taken port refused."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from fhir_server.web import workers as workers_module
from fhir_server.web.workers import can_balance
from tests.api.server_process import ServerProcess, free_port

pytestmark = pytest.mark.skipif(not can_balance(), reason="SO_REUSEPORT balancing is Linux's")

_LISTEN, _ESTABLISHED = "0A", "01"


def _parent(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def _workers(parent: int) -> list[int]:
    """The worker processes of `parent` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):  # not a process, or gone meanwhile
            continue
    return sorted(found)


def _sockets(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets on local `port` in `state` (/proc/net/tcp's hex codes)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def _held_by(pid: int, inodes: set[str]) -> int:
    """How many of `inodes` the process holds (sockets, not descriptors: a worker briefly
    holds a second descriptor of its listening socket while it checks it listens)."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held.add(target)
    return len(held)


def _wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan stays one where PID 1 does not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _both_listen(server: ServerProcess) -> None:
    """The first answer came from one worker; the other may still be starting."""
    _wait_for(lambda: len(_sockets(server.port, _LISTEN)) == 2)


def test_each_worker_listens_and_connections_are_spread(server: ServerProcess) -> None:
    workers = _workers(_parent(server))
    assert len(workers) == 2
    _both_listen(server)
    listening = _sockets(server.port, _LISTEN)
    assert len(listening) == 2  # two sockets, not one shared
    assert [_held_by(pid, listening) for pid in workers] == [1, 1]
    clients = [httpx.Client(base_url=server.base + "/", timeout=10) for _ in range(40)]
    try:
        for client in clients:  # kept alive: each holds its connection
            assert client.get("metadata").status_code == 200
        established = _sockets(server.port, _ESTABLISHED)
        held = [_held_by(pid, established) for pid in workers]
        assert sum(held) == 40
        assert min(held) >= 8, held  # hashed evenly: fewer than 8 of 40 is ~1 in 10^5
    finally:
        for client in clients:
            client.close()


def test_a_worker_that_dies_is_replaced(server: ServerProcess) -> None:
    parent = _parent(server)
    first, second = _workers(parent)
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: len(_workers(parent)) == 2 and first not in _workers(parent))
    _wait_for(lambda: len(_sockets(server.port, _LISTEN)) == 2)  # the new one has started
    for _ in range(20):  # fresh connections, spread over both workers
        assert httpx.get(server.base + "/metadata", timeout=10).status_code == 200
    assert second in _workers(parent)


def test_workers_go_with_a_parent_killed_outright(server: ServerProcess) -> None:
    parent = _parent(server)
    workers = _workers(parent)
    os.kill(parent, signal.SIGKILL)
    assert server.process is not None
    server.process.wait(timeout=10)
    _wait_for(lambda: not any(_alive(pid) for pid in workers))
    assert not _sockets(server.port, _LISTEN)  # nobody is left serving the port


@pytest.mark.parametrize("workers", [1, 2])  # uvicorn's own process, or ours
def test_a_second_server_on_a_taken_port_is_refused(
    server: ServerProcess, tmp_path: Path, workers: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    serve = ["serve", "--data-dir", str(tmp_path / "other"), "--port", str(server.port)]
    second = subprocess.run(
        [sys.executable, "-m", "fhir_server", *serve, "--workers", str(workers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    said = second.stderr.lower()
    assert "address already in use" in said or f"serves on port {server.port}" in said
    assert "Traceback" not in second.stderr
    assert httpx.get(server.base + "/metadata", timeout=10).status_code == 200


def _logged_server(tmp_path: Path) -> ServerProcess:
    return ServerProcess(tmp_path / "data", free_port(), workers=2, log=tmp_path / "server.log")


def _create(server: ServerProcess) -> str:
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        created = http.post(
            "Patient",
            json={"resourceType": "Patient", "gender": "other"},
            headers={"Content-Type": "application/fhir+json"},
        )
    assert created.status_code == 201
    return created.headers["Location"].split("/fhir/demo/", 1)[1]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_stop_lets_each_worker_shut_down(tmp_path: Path, how: str) -> None:
    # Ctrl-C reaches the whole foreground group; a service manager signals the parent.
    server = _logged_server(tmp_path)
    server.start()
    try:
        _both_listen(server)
        parent = _parent(server)
        workers = _workers(parent)
        location = _create(server)
        if how == "ctrl-c":
            os.killpg(parent, signal.SIGINT)
        else:
            os.kill(parent, signal.SIGTERM)
        assert server.process is not None
        assert server.process.wait(timeout=60) == 0
        assert not any(_alive(pid) for pid in workers)
        log = (tmp_path / "server.log").read_text()
        assert log.count("Application shutdown complete") == 2  # each ran its shutdown
        assert "Traceback" not in log
        server.process = None
        server.start()  # the port is free again, and the write is there
        assert httpx.get(f"{server.base}/{location}", timeout=10).status_code == 200
    finally:
        server.kill()


def test_a_hangup_replaces_each_worker_while_serving(tmp_path: Path) -> None:
    server = _logged_server(tmp_path)
    server.start()
    try:
        _both_listen(server)
        parent = _parent(server)
        before = set(_workers(parent))
        os.kill(parent, signal.SIGHUP)
        deadline = time.monotonic() + 60
        answered = reset = 0
        while time.monotonic() < deadline:
            try:  # fresh connections all along, whichever workers are there
                assert httpx.get(server.base + "/metadata", timeout=10).status_code == 200
                answered += 1
            except httpx.TransportError:  # queued on a leaving worker's socket (workers.py)
                reset += 1
            now = set(_workers(parent))
            if len(now) == 2 and not now & before and len(_sockets(server.port, _LISTEN)) == 2:
                break
        else:
            raise AssertionError("the workers were not replaced")
        assert answered > 1 and reset <= 2
        assert server.process is not None and server.process.poll() is None
    finally:
        server.kill()


def test_a_port_held_before_any_worker_listens_is_refused_to_others() -> None:
    # A server is starting: its parent holds the port, its workers do not listen yet.
    held = workers_module._hold_port(socket.AF_INET, "127.0.0.1", 0)
    port = held.getsockname()[1]
    claim = workers_module._claim(port)
    try:
        with pytest.raises(OSError, match="in use"):  # a second `fhir-server serve --workers 2`
            workers_module._claim(port)
        workers_module._sharing_socket(socket.AF_INET, ("127.0.0.1", port)).close()  # its own
    finally:
        claim.close()
        held.close()
    workers_module._claim(port).close()  # gone with its holder


def test_a_port_another_program_listens_on_is_refused() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError, match="in use"):
            workers_module._hold_port(socket.AF_INET, "127.0.0.1", other.getsockname()[1])


def test_a_restart_is_not_held_up_by_the_last_runs_connections(tmp_path: Path) -> None:
    # The server closes idle keep-alive connections at shutdown: those wait in TIME_WAIT.
    server = _logged_server(tmp_path)
    server.start()
    try:
        _both_listen(server)
        clients = [httpx.Client(base_url=server.base + "/", timeout=10) for _ in range(8)]
        for client in clients:
            assert client.get("metadata").status_code == 200
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        for client in clients:
            client.close()
        server.process = None
        server.start()
        assert httpx.get(server.base + "/metadata", timeout=10).status_code == 200
    finally:
        server.kill()


def test_a_server_that_loses_its_port_while_starting_stops(tmp_path: Path) -> None:
    # A program binding the port without SO_REUSEPORT (uvicorn alone does) between the
    # parent's hold and the workers' listen: the workers would run deaf, so they stop.
    server = _logged_server(tmp_path)
    server.start(wait=False)
    try:
        log = tmp_path / "server.log"
        # logged once the parent holds and claims the port, before any worker starts
        _wait_for(lambda: log.exists() and "Serving on" in log.read_text())
        with socket.socket() as taker:
            taker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taker.bind(("127.0.0.1", server.port))
            taker.listen()
            assert server.process is not None
            assert server.process.wait(timeout=60) == 3
        said = log.read_text()
        # the workers' bind fails, or (uvloop saying nothing) they find they do not listen
        assert "Another server took port" in said or "ERROR:    [Errno 98]" in said
    finally:
        server.kill()


@pytest.mark.parametrize("listening", [True, False])
def test_a_worker_serves_only_if_its_socket_listens(listening: bool) -> None:
    # uvloop does not report a `listen` that failed (the port taken meanwhile): the worker
    # checks its socket once its app has started, and stops as one that could not start.
    sock = workers_module._sharing_socket(socket.AF_INET, ("127.0.0.1", 0))
    if listening:
        sock.listen()
    server = SimpleNamespace(started=True, should_exit=False)
    ours, theirs = multiprocessing.Pipe(duplex=False)
    deaf = threading.Event()
    try:
        workers_module._tell_when_serving(server, sock.dup(), theirs, deaf)  # type: ignore[arg-type]
        assert ours.poll(0) is listening
        assert deaf.is_set() is not listening
        assert server.should_exit is not listening
    finally:
        sock.close()
        ours.close()
        theirs.close()
