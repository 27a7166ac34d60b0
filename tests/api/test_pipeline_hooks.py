"""The pipeline's hook points: one place where access control and audit attach, seeing the
tenant, the interaction, the resource and the outcome of every request."""

from __future__ import annotations

import httpx

from fhir_server.errors import Forbidden
from fhir_server.interactions.context import Context
from fhir_server.pipeline import Outcome
from fhir_server.web.app import FhirApp
from tests.api.resources import FHIR_JSON, patient


async def test_hooks_see_every_request_and_its_outcome(
    app: FhirApp, client: httpx.AsyncClient
) -> None:
    seen: list[tuple[str, str, str | None, int | None, str | None]] = []

    async def before(ctx: Context) -> None:
        seen.append(("before", ctx.request.tenant, ctx.request.interaction, None, None))

    async def after(ctx: Context, outcome: Outcome) -> None:
        status = outcome.response.status if outcome.response else outcome.error.status  # type: ignore[union-attr]
        rid = outcome.response.resource_id if outcome.response else None
        seen.append(("after", ctx.request.tenant, ctx.request.interaction, status, rid))

    app.pipeline.before_hooks.append(before)
    app.pipeline.after_hooks.append(after)
    created = (await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()
    await client.get(f"Patient/{created['id']}")
    await client.get("Patient/missing")
    assert seen == [
        ("before", "acme", "create", None, None),
        ("after", "acme", "create", 201, created["id"]),
        ("before", "acme", "read", None, None),
        ("after", "acme", "read", 200, created["id"]),
        ("before", "acme", "read", None, None),
        ("after", "acme", "read", 404, None),
    ]


async def test_a_before_hook_refusal_stops_the_storage_call(
    app: FhirApp, client: httpx.AsyncClient
) -> None:
    outcomes: list[int] = []

    async def deny_writes(ctx: Context) -> None:
        if ctx.request.method != "GET":
            assert ctx.request.body is not None and ctx.request.body["resourceType"] == "Patient"
            raise Forbidden("writes are not allowed for this test")

    async def after(ctx: Context, outcome: Outcome) -> None:
        outcomes.append(outcome.error.status if outcome.error else outcome.response.status)  # type: ignore[union-attr]

    app.pipeline.before_hooks.append(deny_writes)
    app.pipeline.after_hooks.append(after)
    refused = await client.put("Patient/blocked", json=patient(id="blocked"), headers=FHIR_JSON)
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert (await client.get("Patient/blocked")).status_code == 404
    assert outcomes == [403, 404]
