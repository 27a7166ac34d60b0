"""Canonical references (references.html#canonical) in _include, _revinclude, chains and
_has: the target is the resource whose `url` (and `version`) the canonical names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhir_server.interactions import canonical
from tests.api.search.dataset import put
from tests.api.search.helpers import id_set

FORM = "http://example.org/Questionnaire/intake"
OTHER = "http://example.org/Questionnaire/consent"


def _questionnaire(qid: str, url: str, status: str, version: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": qid,
        "url": url,
        "status": status,
    }
    if version is not None:
        found["version"] = version
    return found


def _response(rid: str, canonical: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "questionnaire": canonical,
        "status": status,
    }


@pytest.fixture
async def forms(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await put(client, _questionnaire("q2", FORM, "active", "2.0"))
    await put(client, _questionnaire("q3", FORM, "draft", "3.0"))
    await put(client, _questionnaire("c1", OTHER, "retired"))
    await put(client, _response("r1", f"{FORM}|2.0", "completed"))
    await put(client, _response("r2", FORM, "in-progress"))
    await put(client, _response("r3", OTHER, "completed"))
    await put(client, _response("r4", "http://elsewhere.example/Q|1", "completed"))
    return client


def _found(bundle: dict[str, Any]) -> dict[str, set[str]]:
    by_mode: dict[str, set[str]] = {}
    for entry in bundle["entry"]:
        by_mode.setdefault(entry["search"]["mode"], set()).add(entry["resource"]["id"])
    return by_mode


async def test_include_follows_a_canonical_to_its_url_and_version(
    forms: httpx.AsyncClient,
) -> None:
    include = "QuestionnaireResponse:questionnaire"
    versioned = await forms.get("QuestionnaireResponse", params={"_id": "r1", "_include": include})
    assert _found(versioned.json()) == {"match": {"r1"}, "include": {"q2"}}
    # no version named: the current one, the latest written with that url
    bare = await forms.get("QuestionnaireResponse", params={"_id": "r2", "_include": include})
    assert _found(bare.json()) == {"match": {"r2"}, "include": {"q3"}}
    await put(forms, _questionnaire("q2", FORM, "active", "2.0"))
    bare = await forms.get("QuestionnaireResponse", params={"_id": "r2", "_include": include})
    assert _found(bare.json()) == {"match": {"r2"}, "include": {"q2"}}
    star = await forms.get("QuestionnaireResponse", params={"_id": "r3", "_include": "*"})
    assert _found(star.json()) == {"match": {"r3"}, "include": {"c1"}}


async def test_revinclude_finds_the_canonicals_naming_a_resource(
    forms: httpx.AsyncClient,
) -> None:
    params = {"_id": "q3", "_revinclude": "QuestionnaireResponse:questionnaire"}
    bundle = (await forms.get("Questionnaire", params=params)).json()
    # r1 names version 2.0, not q3's 3.0; r2 names no version
    assert _found(bundle) == {"match": {"q3"}, "include": {"r2"}}


async def test_a_chain_through_a_canonical_reaches_its_target(forms: httpx.AsyncClient) -> None:
    retired = await id_set(forms, "QuestionnaireResponse", {"questionnaire.status": "retired"})
    assert retired == {"r3"}
    # q2 (active) is version 2.0, which r1 names; r2 names no version, so the latest
    # written of its url: q3 (draft)
    active = await id_set(forms, "QuestionnaireResponse", {"questionnaire.status": "active"})
    assert active == {"r1"}
    draft = await id_set(forms, "QuestionnaireResponse", {"questionnaire.status": "draft"})
    assert draft == {"r2"}
    await put(forms, _response("r9", f"{FORM}|9.9", "completed"))  # no such version
    assert await id_set(forms, "QuestionnaireResponse", {"questionnaire._id": "q2,q3"}) == {
        "r1",
        "r2",
    }
    assert (
        await id_set(forms, "QuestionnaireResponse", {"questionnaire.status": "unknown"}) == set()
    )


async def test_a_canonical_deeper_in_a_chain_is_followed(forms: httpx.AsyncClient) -> None:
    task = {"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order"}
    await put(forms, {**task, "focus": {"reference": "QuestionnaireResponse/r3"}})
    chain = {"focus:QuestionnaireResponse.questionnaire.status": "retired"}
    assert await id_set(forms, "Task", chain) == {"t1"}
    chain = {"focus:QuestionnaireResponse.questionnaire.status": "active"}
    assert await id_set(forms, "Task", chain) == set()


async def test_has_counts_distinct_canonicals_not_sources(
    forms: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # many responses to one form are the usual shape: one canonical to resolve
    monkeypatch.setattr(canonical, "MAX_RESOLVED", 1)
    await put(forms, _response("r5", f"{FORM}|2.0", "completed"))
    has = {"_has:QuestionnaireResponse:questionnaire:_id": "r1,r5"}
    assert await id_set(forms, "Questionnaire", has) == {"q2"}


async def test_has_through_a_canonical_reaches_the_resources_named(
    forms: httpx.AsyncClient,
) -> None:
    # r2 names no version: the latest written of its url, q3
    has = {"_has:QuestionnaireResponse:questionnaire:status": "in-progress"}
    assert await id_set(forms, "Questionnaire", has) == {"q3"}
    # r1 names version 2.0 (q2), r3 the only resource of its url, r4 nothing here
    has = {"_has:QuestionnaireResponse:questionnaire:status": "completed"}
    assert await id_set(forms, "Questionnaire", has) == {"q2", "c1"}


async def test_a_far_side_too_large_to_resolve_is_400(
    forms: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(canonical, "MAX_RESOLVED", 1)
    response = await forms.get("QuestionnaireResponse", params={"questionnaire.url:below": "http"})
    assert response.status_code == 400
    assert "narrow" in response.json()["issue"][0]["diagnostics"]


async def test_each_url_finds_its_own_latest(forms: httpx.AsyncClient) -> None:
    for n in range(3):
        await put(forms, _questionnaire(f"c-old-{n}", OTHER, "retired", f"0.{n}"))
    params = {"_id": "r2,r3", "_include": "QuestionnaireResponse:questionnaire"}
    bundle = (await forms.get("QuestionnaireResponse", params=params)).json()
    assert _found(bundle) == {"match": {"r2", "r3"}, "include": {"q3", "c-old-2"}}
