"""Benchmark of the REST core against a bare Starlette endpoint, in one run.

    python bench/rest_core.py [--seconds 15] [--connections 24] [--workers 2]

Starts, on loopback, (1) the bare baseline app and (2) `fhir-server serve`, each under
uvicorn with the same worker count and process model (on Linux a listening socket per
worker), and drives each with wrk (Debian package `wrk`):
read-by-id of a ~2 KB Patient, create of that Patient, and its conditional create on a new
identifier each time (`If-None-Exist`, as partners deduplicate). Prints requests/s, p50/p99 and
the ratios against the baseline, and the CPU the server's processes spent per request
(wrk shares the cores: the steadiest figure to compare two versions by). Targets
(issue 2): read >= 50 %, create >= 15 % with p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from writer_floor import writer_floor_ms

from fhir_server.web.workers import can_balance

HERE = Path(__file__).resolve().parent
PATIENT = HERE / "patient_2kb.json"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_s: float = 0.0  # CPU the server's processes spent during the run


def _cpu_seconds(group: int) -> float:
    """User + system CPU of every live process of a process group (the server and its
    workers: started with their own session), from /proc."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _measured(group: int, run: Callable[[], Result]) -> Result:
    before = _cpu_seconds(group)
    result = run()
    result.cpu_s = _cpu_seconds(group) - before
    return result


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group()), re.sub(r"[\d.]+", "", text)  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> Result:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "error" in out.lower():
        sys.exit(f"wrk saw failures against {url}:\n{out}")
    return Result(rps, p50, p99, requests)


def _post_script(tmp: Path) -> Path:
    # The body is read from the file: Lua string literals have no \\u escapes.
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = io.open("{PATIENT}", "rb")\n'
        'wrk.body = f:read("*all")\n'
        "f:close()\n"
        'wrk.headers["Content-Type"] = "application/fhir+json"\n'
        'wrk.headers["Prefer"] = "return=minimal"\n'
    )
    return script


def _conditional_post_script(tmp: Path) -> Path:
    """Conditional creates as partners send them (`If-None-Exist: identifier=system|value`),
    each with an identifier of its own, so that every one creates."""
    script = tmp / "conditional_post.lua"
    script.write_text(
        f'local f = io.open("{PATIENT}", "rb")\n'
        'local template = f:read("*all")\n'
        "f:close()\n"
        "local counter = 0\n"
        'local prefix = ""\n'
        "init = function(args)\n"
        # each wrk thread has a Lua state of its own: a table's address tells them apart
        '  prefix = string.gsub(tostring({}), "table: ", "")\n'
        "end\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        '  local value = "bench-" .. prefix .. "-" .. counter\n'
        "  local body = string.gsub(template, '\"12345\"', '\"' .. value .. '\"', 1)\n"
        "  local headers = {}\n"
        '  headers["Content-Type"] = "application/fhir+json"\n'
        '  headers["Prefer"] = "return=minimal"\n'
        '  headers["If-None-Exist"] = "identifier=urn:oid:1.2.36.146.595.217.0.1|" .. value\n'
        '  return wrk.format("POST", nil, headers, body)\n'
        "end\n"
    )
    return script


def _bare_command(port: int, workers: int) -> list[str]:
    """The baseline under the same process model as `fhir-server serve`: uvicorn, and on
    Linux a listening socket per worker (fhir_server.web.workers), else uvicorn's own."""
    if workers > 1 and can_balance():
        config = {"app": "bare_app:app", "log_level": "warning", "access_log": False}
        code = (
            "from fhir_server.web.workers import serve_balanced; "
            f"serve_balanced({config!r}, '127.0.0.1', {port}, {workers})"
        )
        return [sys.executable, "-c", code]
    return [
        *(sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)),
        *("--workers", str(workers), "--log-level", "warning", "--no-access-log"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-rest-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    env["BENCH_PATIENT_FILE"] = str(PATIENT)
    env["PYTHONPATH"] = str(HERE)

    bare_port, fhir_port = 18081, 18082
    bare = _start(_bare_command(bare_port, args.workers), env)
    fhir = _start(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "serve",
            "--demo",
            "--data-dir",
            str(tmp / "data"),
            "--port",
            str(fhir_port),
            "--workers",
            str(args.workers),
        ],
        env,
    )
    try:
        _wait(f"http://127.0.0.1:{bare_port}/fhir/demo/Patient/x")
        _wait(f"http://127.0.0.1:{fhir_port}/healthz")
        base = f"http://127.0.0.1:{fhir_port}/fhir/demo"
        body = json.loads(PATIENT.read_text())
        body["id"] = "bench"
        created = httpx.put(
            f"{base}/Patient/bench", json=body, headers={"Content-Type": "application/fhir+json"}
        )
        created.raise_for_status()
        size = len(httpx.get(f"{base}/Patient/bench").content)
        print(
            f"Patient read body: {size} bytes; {args.workers} workers each; "
            f"{args.connections} connections; {args.seconds} s per run"
        )
        post = _post_script(tmp)
        conditional = _conditional_post_script(tmp)
        results = {
            "bare read": _wrk(
                f"http://127.0.0.1:{bare_port}/fhir/demo/Patient/bench",
                args.seconds,
                args.connections,
            ),
            "fhir read": _measured(
                fhir.pid, lambda: _wrk(f"{base}/Patient/bench", args.seconds, args.connections)
            ),
            "bare create": _wrk(
                f"http://127.0.0.1:{bare_port}/fhir/demo/Patient",
                args.seconds,
                args.connections,
                post,
            ),
            "fhir create": _measured(
                fhir.pid,
                lambda: _wrk(f"{base}/Patient", args.seconds, args.connections, post),
            ),
            "fhir cond.": _measured(
                fhir.pid,
                lambda: _wrk(f"{base}/Patient", args.seconds, args.connections, conditional),
            ),
        }
        # every conditional create made a Patient: none was taken for a duplicate (wrk
        # counts answers; up to a request per connection was still in flight at each end)
        counted = httpx.get(f"{base}/Patient", params={"_summary": "count"}).json()["total"]
        answered = 1 + results["fhir create"].requests + results["fhir cond."].requests
        if not answered <= counted <= answered + 2 * args.connections:
            sys.exit(f"{answered} creates were answered, but the server counts {counted}")
    finally:
        _stop(bare)
        _stop(fhir)
        shutil.rmtree(tmp, ignore_errors=True)
    for name, r in results.items():
        cpu = f"   server CPU {1000 * r.cpu_s / r.requests:.3f} ms/req" if r.cpu_s else ""
        print(
            f"{name:12s} {r.rps:9.0f} req/s   p50 {r.p50_ms:6.2f} ms   p99 {r.p99_ms:6.2f} ms{cpu}"
        )
    read_ratio = results["fhir read"].rps / results["bare read"].rps
    create_ratio = results["fhir create"].rps / results["bare read"].rps
    print(f"read   / bare read: {read_ratio:6.1%}  (target >= 50%)")
    print(
        f"create / bare read: {create_ratio:6.1%}  (target >= 15%, p99 < 50 ms: "
        f"{results['fhir create'].p99_ms:.1f} ms)"
    )
    conditional_ratio = results["fhir cond."].rps / results["fhir create"].rps
    print(f"conditional create (If-None-Exist on identifier) / create: {conditional_ratio:6.1%}")
    # The create target as a CPU budget: all the cores, wrk's share included (so an upper
    # bound), spread over 15 % of the bare endpoint's requests; beside it, what SQLite
    # alone spends on a create (writer_floor.py), before any HTTP, validation or indexing.
    cores = os.cpu_count() or 1
    budget = 1000 * cores / (0.15 * results["bare read"].rps)
    print(
        f"create target as CPU: at most {budget:.3f} ms per create ({cores} cores); "
        f"the SQLite writer alone spends {writer_floor_ms():.3f} ms"
    )


if __name__ == "__main__":
    main()
