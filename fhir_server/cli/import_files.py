"""What `fhir-server import` loads: files of Bundles and NDJSON, cut into units of work.

Each unit is one Bundle for the pipeline: a transaction file stays one transaction (all or
nothing, as its author meant); a batch file stays one batch; an NDJSON file (one resource
a line, the Bulk Data format) becomes batches of `CHUNK_LINES` lines; a lone resource is a
batch of one.

Reruns do not duplicate: every `POST` of a resource that carries an id (and no
`ifNoneExist`) becomes an update-as-create, `PUT Type/id`, so loading the same file twice
finds the resource already there and updates it in place (a new version, same content)
instead of creating a copy. References to the entry's `fullUrl` then resolve to `Type/id`.
Conditional creates (`ifNoneExist`) are already idempotent and are left alone. A resource
without an id has nothing to be recognised by: it is created, and counted as such.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhir_server.resource_json import load_json

__all__ = ["CHUNK_LINES", "Unit", "collect_paths", "is_transaction_file", "read_units"]

CHUNK_LINES = 500
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SUFFIXES = (".json", ".ndjson")
# Bundle.type is among the first keys of any Bundle written by a tool; peeking at it lets
# batches (which transactions refer to by conditional references) go first.
_TRANSACTION = re.compile(rb'"type"\s*:\s*"transaction"')


@dataclass(slots=True)
class Unit:
    """One Bundle to send, and where each of its entries came from (for error reports)."""

    path: Path
    bundle: dict[str, Any]
    origins: list[str]  # "entry 3" or "line 17", one per entry
    size: int  # bytes of the file this unit stands for (progress)
    created_without_id: int = 0
    problems: list[str] = field(default_factory=list)  # lines that could not be read

    @property
    def kind(self) -> str:
        return str(self.bundle.get("type"))


def collect_paths(arguments: list[str]) -> list[Path]:
    """Files named, found in folders (recursively) or matched by globs, batches first."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            found += sorted(Path(p) for p in glob.glob(argument, recursive=True))
    unique = list(dict.fromkeys(p.resolve() for p in found if p.is_file()))
    return sorted(unique, key=is_transaction_file)  # stable: the given order otherwise


def is_transaction_file(path: Path) -> bool:
    """Whether the file looks like a transaction Bundle (they load last)."""
    if path.suffix != ".json":
        return False
    with path.open("rb") as handle:
        return _TRANSACTION.search(handle.read(4096)) is not None


def read_units(path: Path) -> Iterator[Unit]:
    """The units of one file; a file that cannot be read yields one unit of problems."""
    size = path.stat().st_size
    if path.suffix == ".ndjson":
        yield from _ndjson_units(path, size)
        return
    try:
        content = load_json(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        yield _broken(path, size, f"not readable JSON: {exc}")
        return
    if not isinstance(content, dict) or not isinstance(content.get("resourceType"), str):
        yield _broken(path, size, "not a FHIR resource (no resourceType)")
        return
    if content["resourceType"] == "Bundle" and not isinstance(content.get("entry", []), list):
        yield _broken(path, size, "Bundle.entry is not a list")
        return
    if content["resourceType"] == "Bundle" and content.get("type") in ("transaction", "batch"):
        entries = [_idempotent(e) for e in content.get("entry") or []]
        bundle = {**content, "entry": entries}
        origins = [f"entry {i}" for i in range(len(entries))]
        yield Unit(path, bundle, origins, size, _without_id(entries))
        return
    if content["resourceType"] == "Bundle" and content.get("type") in ("collection", "searchset"):
        resources = [e.get("resource") for e in content.get("entry") or [] if isinstance(e, dict)]
        entries = [_resource_entry(r) for r in resources if isinstance(r, dict)]
        origins = [f"entry {i}" for i in range(len(entries))]
        yield Unit(path, _batch(entries), origins, size, _without_id(entries))
        return
    entry = _resource_entry(content)  # a lone resource (a document Bundle is one, too)
    yield Unit(path, _batch([entry]), ["resource"], size, _without_id([entry]))


def _ndjson_units(path: Path, size: int) -> Iterator[Unit]:
    entries: list[dict[str, Any]] = []
    origins: list[str] = []
    problems: list[str] = []
    consumed = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            consumed += len(line)
            if not line.strip():
                continue
            try:
                resource = load_json(line)
            except orjson.JSONDecodeError as exc:
                problems.append(f"line {number}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                problems.append(f"line {number}: not a FHIR resource (no resourceType)")
                continue
            entries.append(_resource_entry(resource))
            origins.append(f"line {number}")
            if len(entries) == CHUNK_LINES:
                yield Unit(path, _batch(entries), origins, consumed, _without_id(entries), problems)
                entries, origins, problems, consumed = [], [], [], 0
    if entries or problems or consumed:
        yield Unit(path, _batch(entries), origins, consumed, _without_id(entries), problems)


def _broken(path: Path, size: int, problem: str) -> Unit:
    return Unit(path, _batch([]), [], size, problems=[problem])


def _batch(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


def _resource_entry(resource: dict[str, Any]) -> dict[str, Any]:
    rtype, rid = resource["resourceType"], resource.get("id")
    if isinstance(rid, str) and _ID.fullmatch(rid):
        return {"resource": resource, "request": {"method": "PUT", "url": f"{rtype}/{rid}"}}
    return {"resource": resource, "request": {"method": "POST", "url": rtype}}


def _idempotent(entry: Any) -> Any:
    """`POST Type` of a resource with an id → `PUT Type/id` (see the module docstring)."""
    if not isinstance(entry, dict):
        return entry
    request, resource = entry.get("request"), entry.get("resource")
    if not isinstance(request, dict) or not isinstance(resource, dict):
        return entry
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if (
        request.get("method") == "POST"
        and not request.get("ifNoneExist")
        and request.get("url") == rtype
        and isinstance(rid, str)
        and _ID.fullmatch(rid)
    ):
        return {**entry, "request": {"method": "PUT", "url": f"{rtype}/{rid}"}}
    return entry


def _without_id(entries: list[Any]) -> int:
    return sum(
        1
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("request"), dict)
        and e["request"].get("method") == "POST"
        and not e["request"].get("ifNoneExist")
    )
