"""`fhir-server conformance run|coverage`: TestScripts against any FHIR server.

    fhir-server conformance run --server URL [--auth 'Bearer TOKEN'] [--var NAME=VALUE]...
        [--report-dir DIR] [--post-to URL] [--coverage] [--must-pass FILE] SCRIPTS...
    fhir-server conformance coverage --server URL [--auth ...] [--var ...] SCRIPTS...

`run` exits 0 when every TestScript passed, 1 when one failed (or a TestReport could not be
posted, or with `--coverage` a claimed capability went unexercised), 2 when nothing ran.
With `--must-pass FILE` (an allow-list, see conformance/allowlist.py) only the scripts it
lists as must-pass decide the status; every script is still run and reported.
`coverage` runs the scripts only to see what they exercise, and exits 1 on a gap. The
engine and the coverage rule live in the `conformance` package (conformance/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from conformance import main_run
from conformance.allowlist import AllowListError, load_allowlist
from conformance.coverage_run import run_with_coverage
from conformance.loader import discover

__all__ = ["conformance"]

_SERVER = click.option("--server", required=True, help="FHIR base URL of the server to test")
_AUTH = click.option("--auth", help="Authorization header value to send, e.g. 'Bearer TOKEN'")
_VAR = click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Value of a TestScript variable that only has a hint (repeatable)",
)
_REPORTS = click.option("--report-dir", help="Write one TestReport (JSON) per script here")
_SCRIPTS = click.argument("scripts", nargs=-1, required=True, type=click.Path(exists=True))


def _parse_vars(values: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--var")
        parsed[name.strip()] = value
    return parsed


@click.group()
def conformance() -> None:
    """Run FHIR TestScripts (JSON or XML) and write TestReports."""


@conformance.command("run")
@_SERVER
@_AUTH
@_VAR
@_REPORTS
@click.option("--post-to", help="Also POST each TestReport to this FHIR base URL")
@click.option(
    "--coverage",
    is_flag=True,
    help="Also check the suite against the server's CapabilityStatement; fail on a gap",
)
@click.option(
    "--must-pass",
    "allowlist",
    type=click.Path(exists=True, dir_okay=False),
    help="Allow-list file: only the scripts it lists as must-pass decide the exit status",
)
@_SCRIPTS
def run(
    server: str,
    auth: str | None,
    variables: tuple[str, ...],
    report_dir: str | None,
    post_to: str | None,
    coverage: bool,
    allowlist: str | None,
    scripts: tuple[str, ...],
) -> None:
    """Run SCRIPTS (files, or folders searched for TestScripts) against --server."""
    values = _parse_vars(variables)
    must_pass = _must_pass(allowlist, scripts) if allowlist else None
    if coverage:
        status = run_with_coverage(
            server, auth, list(scripts), report_dir, post_to, values, must_pass=must_pass
        )
    else:
        status = main_run(
            server, auth, list(scripts), report_dir, post_to, values, must_pass=must_pass
        )
    sys.exit(status)


def _must_pass(allowlist: str, scripts: tuple[str, ...]) -> list[Path]:
    try:
        allow = load_allowlist(Path(allowlist))
    except AllowListError as exc:
        raise click.BadParameter(str(exc), param_hint="--must-pass") from exc
    roots = [Path(s) for s in scripts if Path(s).is_dir()]
    for script in allow.unlisted(roots, discover([Path(s) for s in scripts])):
        click.echo(f"note: {script} is neither must-pass nor excluded in {allowlist}")
    return allow.resolve(roots)


@conformance.command("coverage")
@_SERVER
@_AUTH
@_VAR
@_REPORTS
@_SCRIPTS
def coverage_command(
    server: str,
    auth: str | None,
    variables: tuple[str, ...],
    report_dir: str | None,
    scripts: tuple[str, ...],
) -> None:
    """List what the server's CapabilityStatement claims and SCRIPTS never exercise."""
    values = _parse_vars(variables)
    status = run_with_coverage(
        server, auth, list(scripts), report_dir, None, values, require_pass=False
    )
    sys.exit(status)
