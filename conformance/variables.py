"""TestScript variables and `${name}` substitution (testscript.html#variables).

A variable takes its value, at the moment it is used, from the first of: a value given by
the tester (for variables with only a `hint`, which Touchstone would prompt for), the
`headerField` of the exchange named by `sourceId` (or the last response), the FHIRPath
`expression` or the `path` evaluated against the `sourceId` body (or the last response
body), and finally `defaultValue`. Evaluating at use time is what lets a variable read the
Location of a create that ran after the script started.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.fixtures import FixtureError, FixtureStore
from conformance.paths import PathError, evaluate_expression, evaluate_path, to_text

__all__ = ["UnresolvedVariableError", "VariableScope"]

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class UnresolvedVariableError(LookupError):
    """A `${name}` with no value (undefined, or nothing to take one from yet)."""


@dataclass
class VariableScope:
    """The variables of one TestScript run, evaluated lazily against the fixture store."""

    definitions: Mapping[str, Mapping[str, Any]]
    store: FixtureStore
    overrides: Mapping[str, str]

    @classmethod
    def of(
        cls, script: Mapping[str, Any], store: FixtureStore, overrides: Mapping[str, str]
    ) -> VariableScope:
        definitions = {
            str(v["name"]): v
            for v in script.get("variable") or []
            if isinstance(v, dict) and v.get("name")
        }
        return cls(definitions, store, dict(overrides))

    def value(self, name: str) -> str | None:
        """The current value of variable `name`, or None when it has none."""
        if name in self.overrides:
            return self.overrides[name]
        definition = self.definitions.get(name)
        if definition is None:
            return None
        default = definition.get("defaultValue")
        found = self._evaluate(definition)
        if found is not None:
            return found
        return str(default) if default is not None else None

    def _evaluate(self, definition: Mapping[str, Any]) -> str | None:
        source_id = definition.get("sourceId")
        try:
            if definition.get("headerField"):
                headers = self.store.headers(source_id)
                return headers.get(str(definition["headerField"]).lower()) if headers else None
            expression, path = definition.get("expression"), definition.get("path")
            if not expression and not path:
                return None
            content = self.store.content(source_id)
            if content is None:
                return None
            if expression:
                values = [to_text(v) for v in evaluate_expression(str(expression), content)]
            else:
                values = evaluate_path(str(path), content)
        except FixtureError:
            return None  # the source does not exist yet (its operation has not run)
        except PathError as exc:
            raise UnresolvedVariableError(f"variable '{definition.get('name')}': {exc}") from exc
        return values[0] if values else None

    def substitute(self, text: str) -> str:
        """`text` with every `${name}` replaced; raises UnresolvedVariableError."""
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            found = self.value(name)
            if found is None:
                missing.append(name)
                return match.group(0)
            return found

        result = _PLACEHOLDER.sub(replace, text)
        if missing:
            raise UnresolvedVariableError("; ".join(self._why(name) for name in missing))
        return result

    def substitute_optional(self, text: Any) -> str | None:
        return None if text is None else self.substitute(str(text))

    def _why(self, name: str) -> str:
        definition = self.definitions.get(name)
        if definition is None:
            return f"variable '{name}' is not defined in the TestScript"
        hint = definition.get("hint")
        if hint:
            return f"variable '{name}' needs a value from the tester (hint: {hint})"
        source = definition.get("sourceId") or "the last response"
        return f"variable '{name}' has no value yet (nothing found in {source})"
