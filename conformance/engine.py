"""Running one TestScript: setup, tests, teardown (http://hl7.org/fhir/R4/testscript.html).

Execution order and what stops what, following testscript.html and testreport.html:

1. fixtures are loaded; those with `autocreate` are created on the server (reported as the
   first setup actions);
2. setup actions run in order; the first that fails or errors ends the setup, its
   remaining actions and every test are reported `skip`;
3. each test runs on its own: the first failed (non-warningOnly) assert or errored action
   ends that test, its remaining actions are reported `skip`, and the next test runs;
4. teardown always runs, every action of it whatever happened before, and then the
   fixtures with `autodelete` are deleted (reported as the last teardown actions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from conformance.asserts import AssertContext, evaluate_assert
from conformance.content import FHIR_JSON, Content, serialize
from conformance.fixtures import Fixture, FixtureError, FixtureStore, ServerId, load_fixtures
from conformance.loader import LoadedScript
from conformance.operations import execute, operation_code
from conformance.outcome import Outcome, said
from conformance.profiles import load_profiles
from conformance.transport import Transport
from conformance.variables import VariableScope

__all__ = ["Execution", "TestRun", "run_script"]


@dataclass
class TestRun:
    """The outcomes of one TestScript.test."""

    name: str | None
    description: str | None
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass
class Execution:
    """Everything a TestReport is built from."""

    script: LoadedScript
    server_url: str
    setup: list[Outcome] = field(default_factory=list)
    tests: list[TestRun] = field(default_factory=list)
    teardown: list[Outcome] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None


def run_script(
    script: LoadedScript, transport: Transport, variables: Mapping[str, str] | None = None
) -> Execution:
    """Run `script` against the server behind `transport`."""
    return _Runner(script, transport, variables or {}).run()


def _listed(value: Any) -> list[Any]:
    """A repeating element's items: a single item as one, nothing as none."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _actions(section: Any) -> list[Any]:
    """The actions of a setup, test or teardown (the items whatever their shape: a
    malformed one errors when it runs)."""
    if not isinstance(section, dict):
        return [] if section is None else [section]  # reported as a malformed action
    return _listed(section.get("action"))


def _shown(value: Any) -> str:
    return repr(value)[:80]


def _skip(action: Any, why: str) -> Outcome:
    if not isinstance(action, dict):
        return Outcome("operation", "skip", f"skipped, {why}")
    if "assert" in action:
        return Outcome("assert", "skip", said(action["assert"], "assert", f"skipped, {why}"))
    operation = action.get("operation") or {}
    name = operation_code(operation) or "operation"
    return Outcome("operation", "skip", said(operation, name, f"skipped, {why}"))


class _Runner:
    def __init__(
        self, script: LoadedScript, transport: Transport, variables: Mapping[str, str]
    ) -> None:
        self.script = script
        self.transport = transport
        resource = script.resource
        fixtures = load_fixtures(resource, script.directory, self._fetch)
        self.store = FixtureStore(fixtures)
        self.scope = VariableScope.of(resource, self.store, variables)
        profiles = load_profiles(resource, script.directory, transport)
        self.ctx = AssertContext(self.store, self.scope, profiles, transport.base_url)
        self.execution = Execution(script, transport.base_url)

    def _fetch(self, reference: str) -> Content:
        """Read a fixture given as `Type/id` or URL; relative ones from the server."""
        exchange = self.transport.send("GET", reference, {"accept": FHIR_JSON})
        if exchange.status != 200 or exchange.response_content is None:
            status = exchange.status if exchange.status is not None else exchange.error
            raise FixtureError(f"GET {exchange.url} answered {status}")
        return exchange.response_content

    def run(self) -> Execution:
        resource = self.script.resource
        execution = self.execution
        setup_actions = _actions(resource.get("setup"))
        ready = self._autocreate(execution.setup)
        if ready:
            ready = self._run_actions(setup_actions, execution.setup)
        else:
            execution.setup.extend(_skip(a, "autocreate failed") for a in setup_actions)
        for test in _listed(resource.get("test")):
            shaped = test if isinstance(test, dict) else {}
            run = TestRun(shaped.get("name"), shaped.get("description"))
            actions = _actions(test)
            if ready:
                self._run_actions(actions, run.outcomes)
            else:
                run.outcomes.extend(_skip(a, "the setup failed") for a in actions)
            execution.tests.append(run)
        for action in _actions(resource.get("teardown")):
            execution.teardown.append(self._run_action(action))
        self._autodelete(execution.teardown)
        execution.finished = datetime.now(UTC)
        return execution

    def _run_action(self, action: Any) -> Outcome:
        """One action's outcome. A malformed one (an operation or assert of the wrong
        shape) errors alone: the rest of the script, its teardown and autodelete run."""
        kind: Literal["operation", "assert"] = (
            "assert" if isinstance(action, dict) and "assert" in action else "operation"
        )
        if not isinstance(action, dict) or not isinstance(action.get(kind), dict):
            return Outcome(kind, "error", f"the action is not an {kind} object: {_shown(action)}")
        try:
            if kind == "operation":
                outcome, _ = execute(action["operation"], self.transport, self.store, self.scope)
                return outcome
            return evaluate_assert(action["assert"], self.ctx)
        except Exception as exc:  # a shape this engine did not foresee
            why = f"{type(exc).__name__}: {exc}"
            return Outcome(kind, "error", f"the engine could not run this {kind}: {why}"[:500])

    def _run_actions(self, actions: list[dict[str, Any]], out: list[Outcome]) -> bool:
        """Run actions until one fails; the rest are skipped. True if none failed."""
        for index, action in enumerate(actions):
            outcome = self._run_action(action)
            out.append(outcome)
            if not outcome.ok:
                out.extend(_skip(a, "an earlier action failed") for a in actions[index + 1 :])
                return False
        return True

    def _autocreate(self, out: list[Outcome]) -> bool:
        for fixture in self.store.fixtures.values():
            if fixture.autocreate:
                outcome = self._create(fixture)
                out.append(outcome)
                if not outcome.ok:
                    return False
        return True

    def _create(self, fixture: Fixture) -> Outcome:
        name = f"autocreate fixture '{fixture.id}'"
        content = fixture.content
        if content is None or content.resource_type is None:
            why = fixture.error or "it is not a resource"
            return Outcome("operation", "error", f"{name}: cannot be created: {why}")
        exchange = self.transport.send(
            "POST",
            content.resource_type,
            {"accept": FHIR_JSON, "content-type": FHIR_JSON},
            serialize(content.data, FHIR_JSON),
            content,
        )
        if exchange.status is not None and 200 <= exchange.status < 300:
            identity = ServerId.from_exchange(exchange)
            if identity is not None:
                self.store.place(fixture.id, identity)
            return Outcome("operation", "pass", f"{name}: {exchange.summary()}")
        if exchange.status is None:
            return Outcome("operation", "error", f"{name}: {exchange.summary()}")
        return Outcome("operation", "fail", f"{name}: {exchange.summary()}")

    def _autodelete(self, out: list[Outcome]) -> None:
        """Delete what this run put on the server from each `autodelete` fixture: every
        copy (autocreate and an explicit create both make one), and never a resource that
        was there before, at the id the fixture's file names (testscript.html: autodelete
        stands for the delete of the fixture the run created)."""
        for fixture in self.store.fixtures.values():
            if not fixture.autodelete:
                continue
            name = f"autodelete fixture '{fixture.id}'"
            placed = self.store.placed.get(fixture.id, [])
            if not placed:
                out.append(Outcome("operation", "skip", f"{name}: this run created nothing"))
            for identity in placed:
                url = f"{identity.resource_type}/{identity.id}"
                exchange = self.transport.send("DELETE", url, {"accept": FHIR_JSON})
                if exchange.status is None:
                    out.append(Outcome("operation", "error", f"{name}: {exchange.summary()}"))
                elif 200 <= exchange.status < 300:
                    out.append(Outcome("operation", "pass", f"{name}: {exchange.summary()}"))
                else:
                    # Already gone (a test may have deleted it): worth a note, not a failure.
                    out.append(Outcome("operation", "warning", f"{name}: {exchange.summary()}"))
