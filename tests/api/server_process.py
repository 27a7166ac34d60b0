"""Running the real server (`python -m fhir_server serve`) as a subprocess on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, data_dir: Path, port: int, workers: int = 1, log: Path | None = None):
        """`log`: where the server's output goes (appended), else nowhere."""
        self.data_dir, self.port, self.workers, self.log = data_dir, port, workers, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/demo"

    def start(self, *, wait: bool = True) -> None:
        """Start it and, with `wait`, return once it answers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
        output = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fhir_server",
                "serve",
                "--demo",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        if not isinstance(output, int):
            output.close()  # the child has its own copy
        if not wait:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler runs."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
