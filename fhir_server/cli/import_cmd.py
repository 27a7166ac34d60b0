"""`fhir-server import --tenant T PATH...`: load Bundle and NDJSON files into a tenant.

PATH is a file, a folder (searched recursively for *.json and *.ndjson) or a glob. Files
go through the same pipeline as HTTP requests (validation, indexing, conditional
references; transactions all or nothing), without the HTTP hop, several at a time so that
their commits share the store's group commits. Batch and NDJSON files load before
transaction files, which may refer to them with conditional references (Synthea's
hospital and practitioner files). A progress bar follows the bytes read; the summary gives
resources/s and every error with its file and entry (or line). Reruns never duplicate
(see `import_files`); the exit status is 1 when anything failed.
"""

from __future__ import annotations

import asyncio
import glob
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import orjson

from fhir_server.cli.common import settings_from_flags
from fhir_server.cli.import_files import Unit, collect_paths, is_transaction_file, read_units
from fhir_server.errors import FhirError
from fhir_server.exchange import FhirRequest, Interaction
from fhir_server.web.app import FhirApp
from tenancy import InvalidTenantName, TenantId, parse_tenant_id

__all__ = ["import_command"]

# Files in flight at once: enough to share group commits, few enough to bound memory.
FILES_AT_ONCE = 4
_BASE = "urn:fhir-server:import"  # the base the pipeline sees; never shown to clients


@dataclass(slots=True)
class Summary:
    resources: int = 0
    created_without_id: int = 0
    files: int = 0
    errors: list[str] = field(default_factory=list)


@click.command("import")
@click.option("--tenant", "tenant_name", required=True, help="Tenant to load into")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded store [./data]")
@click.option("--storage", type=click.Choice(["sqlite", "mongodb"]), help="Backend [sqlite]")
@click.option("--mongodb-uri", help="MongoDB URI (with --storage mongodb)")
@click.argument("paths", nargs=-1, required=True)
def import_command(
    tenant_name: str,
    data_dir: Path | None,
    storage: str | None,
    mongodb_uri: str | None,
    paths: tuple[str, ...],
) -> None:
    """Load Bundle (.json) and NDJSON (.ndjson) files from PATHS into TENANT."""
    settings = settings_from_flags(data_dir=data_dir, storage=storage, mongodb_uri=mongodb_uri)
    try:
        tenant = parse_tenant_id(tenant_name)
    except InvalidTenantName as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from exc
    missing = [p for p in paths if not Path(p).exists() and not glob.glob(p, recursive=True)]
    if missing:  # a mistyped path among good ones would load the rest and say nothing
        raise click.ClickException(f"nothing at {', '.join(missing)}")
    files = collect_paths(list(paths))
    if not files:
        raise click.ClickException("no .json or .ndjson file found at the given paths")
    app = FhirApp(settings)
    if app.stores.tenants.get(tenant) is None:
        app.close()
        raise click.ClickException(
            f"no tenant {tenant}; create it with `fhir-server tenant create`"
        )
    started = time.perf_counter()
    total = sum(f.stat().st_size for f in files)
    with click.progressbar(length=total, label=f"importing into {tenant}") as bar:
        summary = asyncio.run(_import(app, tenant, files, bar.update))
    elapsed = time.perf_counter() - started
    _report(summary, elapsed)
    if summary.errors:
        raise SystemExit(1)


async def _import(app: FhirApp, tenant: TenantId, files: list[Path], advance: Any) -> Summary:
    summary = Summary(files=len(files))
    gate = asyncio.Semaphore(FILES_AT_ONCE)

    async def load(path: Path) -> None:
        async with gate:
            try:
                for unit in read_units(path):
                    await _load_unit(app, tenant, unit, summary)
                    advance(unit.size)
            except Exception as exc:  # one file's surprise must not stop the others
                summary.errors.append(f"{path}: not imported: {type(exc).__name__}: {exc}")

    await app.stores.start()
    try:
        # Transactions may refer to what the other files hold: they wait for them. Every
        # load finishes (return_exceptions) before the stores close under them.
        transactions = [f for f in files if is_transaction_file(f)]
        await asyncio.gather(
            *(load(f) for f in files if f not in transactions), return_exceptions=True
        )
        await asyncio.gather(*(load(f) for f in transactions), return_exceptions=True)
    finally:
        await app.aclose()
    return summary


async def _load_unit(app: FhirApp, tenant: TenantId, unit: Unit, summary: Summary) -> None:
    name = str(unit.path)  # the path as given: two folders may hold files of one name
    summary.errors += [f"{name}: {problem}" for problem in unit.problems]
    entries = unit.bundle.get("entry") or []
    if not entries:
        return
    interaction = Interaction.TRANSACTION if unit.kind == "transaction" else Interaction.BATCH
    request = FhirRequest(tenant, interaction, "POST", _BASE, body=unit.bundle)
    try:
        response = await app.pipeline.handle(request)
    except FhirError as error:
        # A transaction fails as a whole; its diagnostics name the entry (Bundle.entry[i]).
        summary.errors.append(f"{name}: {error.status} {error.diagnostics}")
        return
    assert response.body is not None
    results = orjson.loads(response.body).get("entry") or []
    for origin, result in zip(unit.origins, results, strict=False):
        status = str(result.get("response", {}).get("status", ""))
        if status[:1] in ("2", "3"):
            summary.resources += 1
        else:
            summary.errors.append(f"{name} {origin}: {status} {_diagnostics(result)}")
    summary.created_without_id += unit.created_without_id


def _diagnostics(result: dict[str, Any]) -> str:
    issues = result.get("response", {}).get("outcome", {}).get("issue") or [{}]
    return "; ".join(str(i.get("diagnostics", i.get("code", ""))) for i in issues[:3])


def _report(summary: Summary, elapsed: float) -> None:
    rate = summary.resources / elapsed if elapsed > 0 else 0.0
    click.echo(
        f"loaded {summary.resources} resources from {summary.files} files in {elapsed:.1f} s "
        f"({rate:,.0f} resources/s)"
    )
    if summary.created_without_id:
        click.echo(
            f"{summary.created_without_id} resources had no id and were created: loading "
            "them again would create them again"
        )
    if summary.errors:
        click.echo(f"{len(summary.errors)} errors:", err=True)
        for line in summary.errors[:200]:
            click.echo(f"  {line}", err=True)
        if len(summary.errors) > 200:
            click.echo(f"  ... and {len(summary.errors) - 200} more", err=True)
