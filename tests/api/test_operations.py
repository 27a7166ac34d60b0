"""$validate, $meta, $meta-add, $meta-delete and Patient $everything
(http://hl7.org/fhir/R4/operations.html)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhir_server.interactions import meta_ops
from tests.api.bundle_helpers import count
from tests.api.resources import FHIR_JSON, observation, patient


def issues(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return list(body["issue"])


async def test_validate_reports_findings_without_storing(client: httpx.AsyncClient) -> None:
    ok = await client.post("Patient/$validate", json=patient(), headers=FHIR_JSON)
    assert ok.status_code == 200
    assert [i["severity"] for i in issues(ok)] == ["information"]
    bad = await client.post("Patient/$validate", json={"resourceType": "Patient", "fmily": "x"})
    assert bad.status_code == 200
    assert issues(bad)[0]["severity"] == "error" and issues(bad)[0]["expression"] == [
        "Patient.fmily"
    ]
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient()},
            {"name": "mode", "valueCode": "update"},
            {"name": "profile", "valueUri": "http://example.org/StructureDefinition/p"},
        ],
    }
    update = await client.post("Patient/$validate", json=wrapped)
    found = {(i["severity"], i["code"]) for i in issues(update)}
    assert ("error", "required") in found  # an update needs the id
    assert ("warning", "not-supported") in found  # profiles are not checked, and it says so
    wrong_type = await client.post("Observation/$validate", json=patient())
    assert issues(wrong_type)[0]["severity"] == "error"
    assert await count(client, "Patient") == 0


async def test_validate_modes_and_refusals(client: httpx.AsyncClient) -> None:
    created = await client.post("Patient", json=patient(), headers=FHIR_JSON)
    pid = created.json()["id"]
    delete = await client.get(f"Patient/{pid}/$validate", params={"mode": "delete"})
    assert delete.status_code == 200 and issues(delete)[0]["severity"] == "information"
    body = patient(id="different")
    mismatch = await client.post(f"Patient/{pid}/$validate", json=body, params={"mode": "update"})
    assert any("different" in i["diagnostics"] for i in issues(mismatch))
    assert (
        await client.post("Patient/$validate", params={"mode": "sideways"}, json=patient())
    ).status_code == 400
    assert (await client.get("Patient/$validate")).status_code == 400  # nothing to validate
    assert (await client.get("Patient/$frobnicate")).status_code == 404


async def test_meta_add_and_delete_change_meta_in_place(client: httpx.AsyncClient) -> None:
    created = await client.post("Patient", json=patient(), headers=FHIR_JSON)
    pid = created.json()["id"]
    await client.put(f"Patient/{pid}", json=patient("Second", id=pid), headers=FHIR_JSON)
    tag = {"system": "http://example.org/tags", "code": "vip"}
    add = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "meta",
                "valueMeta": {
                    "tag": [tag, {**tag, "display": "duplicate of the first"}],
                    "profile": ["http://example.org/StructureDefinition/p"],
                },
            }
        ],
    }
    response = await client.post(f"Patient/{pid}/$meta-add", json=add)
    assert response.status_code == 200, response.text
    meta = response.json()["parameter"][0]["valueMeta"]
    assert meta["tag"] == [tag] and meta["versionId"] == "2"
    current = (await client.get(f"Patient/{pid}")).json()
    assert current["meta"]["versionId"] == "2" and current["meta"]["tag"] == [tag]
    assert current["name"][0]["family"] == "Second"
    # no new version, and the tag is searchable at once
    assert len((await client.get(f"Patient/{pid}/_history")).json()["entry"]) == 2
    assert await count(client, "Patient", _tag="http://example.org/tags|vip") == 1
    # a historical version can be tagged too, without disturbing the current one
    old = await client.post(f"Patient/{pid}/_history/1/$meta-add", json=add)
    assert old.status_code == 200
    version_one = (await client.get(f"Patient/{pid}/_history/1")).json()
    assert version_one["meta"]["tag"] == [tag] and version_one["name"][0]["family"] == "Chalmers"
    remove = {
        "resourceType": "Parameters",
        "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}],
    }
    removed = await client.post(f"Patient/{pid}/$meta-delete", json=remove)
    assert "tag" not in removed.json()["parameter"][0]["valueMeta"]
    read = await client.get(f"Patient/{pid}/$meta")
    assert read.json()["parameter"][0]["valueMeta"]["profile"] == [
        "http://example.org/StructureDefinition/p"
    ]
    assert await count(client, "Patient", _tag="http://example.org/tags|vip") == 0


async def test_meta_refusals(client: httpx.AsyncClient) -> None:
    assert (await client.get("Patient/nobody/$meta")).status_code == 404
    assert (await client.get("Patient/$meta")).status_code == 400  # type level: not offered
    pid = (await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()["id"]
    no_meta = await client.post(f"Patient/{pid}/$meta-add", json={"resourceType": "Parameters"})
    assert no_meta.status_code == 400
    bad = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": "x"}}]}
    assert (await client.post(f"Patient/{pid}/$meta-add", json=bad)).status_code == 400
    assert (await client.get(f"Patient/{pid}")).json()["meta"].get("tag") is None
    huge = "99999999999999999999999"
    assert (await client.get(f"Patient/{pid}/_history/{huge}/$meta")).status_code == 404


async def _practitioner(client: httpx.AsyncClient, family: str) -> str:
    doctor = {"resourceType": "Practitioner", "name": [{"family": family}]}
    return str((await client.post("Practitioner", json=doctor, headers=FHIR_JSON)).json()["id"])


async def _record(client: httpx.AsyncClient, family: str, practitioner: str) -> str:
    pid = (await client.post("Patient", json=patient(family), headers=FHIR_JSON)).json()["id"]
    for n in range(3):
        performer = [{"reference": f"Practitioner/{practitioner}"}]
        made = observation(f"Patient/{pid}", f"obs {n}", performer=performer)
        await client.post("Observation", json=made, headers=FHIR_JSON)
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
    }
    await client.post("Encounter", json=encounter, headers=FHIR_JSON)
    return str(pid)


async def test_everything_returns_the_compartment_and_what_it_refers_to(
    client: httpx.AsyncClient,
) -> None:
    practitioner = await _practitioner(client, "House")
    mine = await _record(client, "Mine", practitioner)
    await _record(client, "Other", practitioner)
    result = (await client.get(f"Patient/{mine}/$everything")).json()
    assert result["type"] == "searchset"
    matches = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in result["entry"]]
    assert matches.count(("Patient", "match")) == 1
    assert matches.count(("Observation", "match")) == 3
    assert matches.count(("Encounter", "match")) == 1
    assert ("Practitioner", "include") in matches
    for item in result["entry"]:
        resource = item["resource"]
        if resource["resourceType"] in ("Observation", "Encounter"):
            assert resource["subject"]["reference"] == f"Patient/{mine}"
    only = (await client.get(f"Patient/{mine}/$everything", params={"_type": "Encounter"})).json()
    assert [e["resource"]["resourceType"] for e in only["entry"]] == ["Encounter"]
    future = await client.get(
        f"Patient/{mine}/$everything", params={"_since": "2999-01-01T00:00:00Z"}
    )
    assert future.json().get("entry") is None


async def test_everything_pages_through_every_resource_once(client: httpx.AsyncClient) -> None:
    practitioner = await _practitioner(client, "Grey")
    first = await _record(client, "A", practitioner)
    await _record(client, "B", practitioner)
    seen: list[str] = []
    url: str | None = "Patient/$everything?_count=3"
    pages = 0
    while url:
        page = (await client.get(url)).json()
        pages += 1
        seen += [
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in page.get("entry", [])
            if e["search"]["mode"] == "match"
        ]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert pages >= 4 and len(seen) == len(set(seen)) == 10  # 2 x (Patient + 3 obs + 1 enc)
    assert f"Patient/{first}" in seen
    assert (await client.get("Patient/nobody/$everything")).status_code == 404
    refused = await client.get(f"Patient/{first}/$everything", params={"start": "2020"})
    assert refused.status_code == 400 and "start" in issues(refused)[0]["diagnostics"]


async def test_everything_by_post_keeps_its_parameters_on_every_page(
    client: httpx.AsyncClient,
) -> None:
    practitioner = await _practitioner(client, "Grey")
    pid = await _record(client, "A", practitioner)
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_count", "valueInteger": 2},
            {"name": "_type", "valueString": "Observation"},
        ],
    }
    page = (await client.post(f"Patient/{pid}/$everything", json=parameters)).json()
    seen: list[str] = []
    while True:
        seen += [
            e["resource"]["id"] for e in page.get("entry", []) if e["search"]["mode"] == "match"
        ]
        assert all(
            e["resource"]["resourceType"] == "Observation"
            for e in page.get("entry", [])
            if e["search"]["mode"] == "match"
        )
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        if url is None:
            break
        assert "_count=2" in url and "_type=Observation" in url
        page = (await client.get(url)).json()
    assert len(seen) == len(set(seen)) == 3


async def test_the_capability_statement_claims_these_and_no_more(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    rest = statement["rest"][0]
    assert {"transaction", "batch"} <= {i["code"] for i in rest["interaction"]}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert "patch" in {i["code"] for i in by_type["Observation"]["interaction"]}
    patient_ops = {o["name"]: o["definition"] for o in by_type["Patient"]["operation"]}
    assert patient_ops == {
        "validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
        "meta": "http://hl7.org/fhir/OperationDefinition/Resource-meta",
        "meta-add": "http://hl7.org/fhir/OperationDefinition/Resource-meta-add",
        "meta-delete": "http://hl7.org/fhir/OperationDefinition/Resource-meta-delete",
        "everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    }
    assert "everything" not in {o["name"] for o in by_type["Observation"]["operation"]}
    assert (await client.get("Observation/$everything")).status_code == 400


async def test_meta_add_racing_an_update_lands_on_the_new_current_version(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update committed between `$meta-add`'s read and its write: the tag is merged
    into what is current then, not written onto the version that stopped being current."""
    pid = (await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()["id"]
    read_target = meta_ops._target
    racing = [patient("Racer", id=pid)]

    async def then_update(ctx: Any) -> Any:
        found = await read_target(ctx)
        while racing:
            await client.put(f"Patient/{pid}", json=racing.pop(), headers=FHIR_JSON)
        return found

    monkeypatch.setattr(meta_ops, "_target", then_update)
    tag = {"system": "http://example.org/tags", "code": "raced"}
    add = {
        "resourceType": "Parameters",
        "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}],
    }
    response = await client.post(f"Patient/{pid}/$meta-add", json=add)
    assert response.status_code == 200, response.text
    current = (await client.get(f"Patient/{pid}")).json()
    assert current["meta"]["versionId"] == "2" and current["meta"]["tag"] == [tag]
    assert current["name"][0]["family"] == "Racer"
    found = (await client.get("Patient", params={"_tag": "http://example.org/tags|raced"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [pid]


async def test_everything_links_no_empty_last_page(client: httpx.AsyncClient) -> None:
    """A page that ends full at the end of the last type holding anything has no `next`:
    following one led to a page of nothing."""
    pid = (await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()["id"]
    await client.post("Observation", json=observation(f"Patient/{pid}"), headers=FHIR_JSON)
    page = (await client.get(f"Patient/{pid}/$everything", params={"_count": "2"})).json()
    assert len([e for e in page["entry"] if e["search"]["mode"] == "match"]) == 2
    assert [link["relation"] for link in page["link"]] == ["self"]
    first = (await client.get(f"Patient/{pid}/$everything", params={"_count": "1"})).json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = (await client.get(following)).json()
    assert [e["resource"]["resourceType"] for e in second["entry"]] == ["Observation"]
    assert [link["relation"] for link in second["link"]] == ["self"]
