"""Finding and reading TestScript files (JSON or XML).

XML goes through `fhir_server.xml_format.parse_xml`, the server's own XML reader (element
ids such as `<fixture id="...">` included). A directory given on the
command line is searched recursively for files whose root is a TestScript, so fixture
files next to the scripts are not mistaken for scripts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from conformance.content import BodyError, load_file

__all__ = ["LoadedScript", "ScriptLoadError", "discover", "load_script"]


class ScriptLoadError(ValueError):
    """A file that is not a readable TestScript."""


@dataclass(frozen=True)
class LoadedScript:
    """A TestScript resource and the file it came from (fixture paths are relative to it)."""

    path: Path
    resource: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        for key in ("title", "name", "id"):
            value = self.resource.get(key)
            if value:
                return str(value)
        return self.path.stem


def load_script(path: Path) -> LoadedScript:
    """Read one TestScript file; raises ScriptLoadError."""
    try:
        content = load_file(path)
    except BodyError as exc:
        raise ScriptLoadError(f"{path}: {exc}") from exc
    if content.resource_type != "TestScript":
        found = content.resource_type or type(content.data).__name__
        raise ScriptLoadError(f"{path}: expected a TestScript, found {found}")
    return LoadedScript(path, content.data)


def _is_testscript(path: Path) -> bool:
    """A cheap look at the root: JSON `resourceType`, or the XML document element."""
    try:
        if path.suffix.lower() == ".json":
            data = orjson.loads(path.read_bytes())
            return isinstance(data, dict) and data.get("resourceType") == "TestScript"
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        root = etree.parse(str(path), parser=parser).getroot()
        return bool(etree.QName(root).localname == "TestScript")
    except (OSError, orjson.JSONDecodeError, etree.XMLSyntaxError):
        return False


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files to run: named files as given, directories searched for TestScripts."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".xml")
            )
            found.extend(p for p in candidates if _is_testscript(p))
        else:
            found.append(path)
    return found
