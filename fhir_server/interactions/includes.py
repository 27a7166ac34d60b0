"""`_include` and `_revinclude`, with `:iterate` (http://hl7.org/fhir/R4/search.html#include).

The store answers one step at a time; this module decides which steps run, when to stop,
and that nothing is listed twice: forward includes follow the page's references, reverse
includes find the resources referring to it, and `:iterate` repeats on what was just
added, within the limits below.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.search.plan import IncludeSpec
from fhir_server.storage.contracts import ResourceStore, StoredVersion

__all__ = ["MAX_INCLUDED", "MAX_ROUNDS", "included"]

MAX_INCLUDED = 1000  # resources added to one page, whatever the include graph looks like
MAX_ROUNDS = 8  # iterations of `:iterate`


async def included(
    store: ResourceStore, specs: Sequence[IncludeSpec], matches: Sequence[StoredVersion]
) -> list[StoredVersion]:
    """The resources `specs` add to `matches` (none of the matches repeated)."""
    seen = {(m.resource_type, m.id) for m in matches}
    result: list[StoredVersion] = []
    frontier = list(matches)
    for round_number in range(MAX_ROUNDS):
        new: list[StoredVersion] = []
        for spec in specs:
            if round_number > 0 and not spec.iterate:
                continue
            for version in await store.include(spec, frontier):
                key = (version.resource_type, version.id)
                if key not in seen and len(result) + len(new) < MAX_INCLUDED:
                    seen.add(key)
                    new.append(version)
        if not new:
            break
        result += new
        frontier = new
    return result
