"""`_include` and `_revinclude`, with `:iterate` (http://hl7.org/fhir/R4/search.html#include).

The store answers one step at a time; this module decides which steps run, when to stop,
and that nothing is listed twice: forward includes follow the page's references, reverse
includes find the resources referring to it, and `:iterate` repeats on what was just
added, within the limits below.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.interactions.canonical import canonical_includes
from fhir_server.interactions.context import Context
from fhir_server.search.plan import IncludeSpec
from fhir_server.search.query import expand_any_source
from fhir_server.storage.contracts import StoredVersion

__all__ = ["MAX_INCLUDED", "MAX_ROUNDS", "included"]

MAX_INCLUDED = 1000  # resources added to one page, whatever the include graph looks like
MAX_ROUNDS = 8  # iterations of `:iterate`


async def included(
    ctx: Context, specs: Sequence[IncludeSpec], matches: Sequence[StoredVersion]
) -> tuple[list[StoredVersion], bool]:
    """The resources `specs` add to `matches` (none of the matches repeated), and whether
    that is all of them: False when a limit above left some out. The tenant's registry
    expands `_include:iterate=*` for the types each round starts from."""
    seen = {(m.resource_type, m.id) for m in matches}
    result: list[StoredVersion] = []
    frontier = list(matches)
    complete = True
    for round_number in range(MAX_ROUNDS):
        new: list[StoredVersion] = []
        types = {version.resource_type for version in frontier}
        for spec in expand_any_source(specs, types, ctx.registry):
            if round_number > 0 and not spec.iterate:
                continue
            step = await ctx.store.include(spec, frontier)
            step += await canonical_includes(ctx, spec, frontier, MAX_INCLUDED)
            for version in step:
                key = (version.resource_type, version.id)
                if key in seen:
                    continue
                if len(result) + len(new) >= MAX_INCLUDED:
                    complete = False
                    break
                seen.add(key)
                new.append(version)
            if not complete:
                break  # nothing more can be added: no further step needs running
        if not complete:
            return result + new, False
        if not new:
            return result, complete
        result += new
        frontier = new
    # the last round added resources: an iterating include may have had more to add
    return result, complete and not any(spec.iterate for spec in specs)
