"""Allow-lists: which of a folder of third-party TestScripts must pass, and why not the rest.

Public TestScripts are written for other servers and data, and some are defective; a CI
that ran them all as a gate would be red for reasons outside the server, and one that ran
none would hide regressions. An allow-list names, one per line, each script (a path
relative to the folder the scripts are given in) as either

    must-pass  TestScripts/search_testscript.json
    excluded   TestScripts/general_testscript.json: the reason, in words

A line starting with `#` is a comment. Every script is still run and reported; only the
`must-pass` ones decide the exit status (`fhir-server conformance run --must-pass FILE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AllowList", "AllowListError", "load_allowlist"]


class AllowListError(ValueError):
    """A line that is neither `must-pass PATH` nor `excluded PATH: reason`."""


@dataclass(frozen=True)
class AllowList:
    must_pass: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # path -> reason

    def resolve(self, roots: list[Path]) -> list[Path]:
        """The must-pass scripts as paths, each found under the first root holding it."""
        found: list[Path] = []
        for entry in self.must_pass:
            candidates = [root / entry for root in roots if root.is_dir()]
            existing = [c for c in candidates if c.is_file()]
            found.append(existing[0] if existing else Path(entry))
        return found

    def unlisted(self, roots: list[Path], scripts: list[Path]) -> list[Path]:
        """Scripts the list does not mention at all (a new public script, say)."""
        listed = {p.resolve() for p in self.resolve(roots)}
        for entry in self.excluded:
            listed |= {(root / entry).resolve() for root in roots if root.is_dir()}
        return [s for s in scripts if s.resolve() not in listed]


def load_allowlist(path: Path) -> AllowList:
    allow = AllowList()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(" ")
        rest = rest.strip()
        if kind == "must-pass" and rest:
            allow.must_pass.append(rest)
        elif kind == "excluded" and ":" in rest:
            script, _, reason = rest.partition(":")
            if not reason.strip():
                raise AllowListError(f"{path}:{number}: an excluded script needs a reason")
            allow.excluded[script.strip()] = reason.strip()
        else:
            raise AllowListError(
                f"{path}:{number}: expected 'must-pass PATH' or 'excluded PATH: reason'"
            )
    return allow
