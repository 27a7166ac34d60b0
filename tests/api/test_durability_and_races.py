"""Against the real server process: acknowledged writes survive kill -9, and concurrent
updates with the same If-Match let exactly one win."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.resources import FHIR_JSON, patient
from tests.api.server_process import ServerProcess


def test_acknowledged_writes_survive_kill_9(server: ServerProcess) -> None:
    written: dict[str, str] = {}
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        for n in range(40):
            response = http.post("Patient", json=patient(f"Family{n}"), headers=FHIR_JSON)
            assert response.status_code == 201
            written[response.json()["id"]] = f"Family{n}"
        updated = http.put("Patient/fixed", json=patient("Fixed", id="fixed"), headers=FHIR_JSON)
        assert updated.status_code == 201
    server.kill()
    server.start()
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        for pid, family in written.items():
            response = http.get(f"Patient/{pid}")
            assert response.status_code == 200
            assert response.json()["name"][0]["family"] == family
        assert http.get("Patient/fixed").json()["name"][0]["family"] == "Fixed"
        assert http.get("Patient", params={"_summary": "count"}).json()["total"] == 41


def test_same_if_match_from_many_clients_one_wins(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        http.put("Patient/contested", json=patient("V1", id="contested"), headers=FHIR_JSON)

    def attempt(n: int) -> int:
        with httpx.Client(base_url=server.base + "/", timeout=10) as http:
            response = http.put(
                "Patient/contested",
                json=patient(f"Writer{n}", id="contested"),
                headers={**FHIR_JSON, "If-Match": 'W/"1"'},
            )
            return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert sorted(statuses) == [200] + [412] * 7
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        history = http.get("Patient/contested/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


def test_concurrent_updates_without_if_match_are_all_kept(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        http.put("Patient/busy", json=patient("V1", id="busy"), headers=FHIR_JSON)

    def update(n: int) -> str:
        with httpx.Client(base_url=server.base + "/", timeout=10) as http:
            response = http.put("Patient/busy", json=patient(f"W{n}", id="busy"), headers=FHIR_JSON)
            assert response.status_code == 200
            return str(response.json()["meta"]["versionId"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(update, range(12)))
    assert sorted(int(v) for v in versions) == list(range(2, 14))
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        history = http.get("Patient/busy/_history", params={"_count": 50}).json()
    families = {e["resource"]["name"][0]["family"] for e in history["entry"]}
    assert families == {"V1", *(f"W{n}" for n in range(12))}


def test_racing_conditional_creates_make_one_resource(server: ServerProcess) -> None:
    """Partners deduplicate by conditional create: eight at once, over two worker
    processes, must leave one Patient (the check runs under the database's write lock)."""
    mrn = "http://hospital.example/mrn|RACE-1"

    def attempt(n: int) -> tuple[int, str]:
        with httpx.Client(base_url=server.base + "/", timeout=10) as http:
            response = http.post(
                "Patient",
                json=patient(f"Racer{n}", mrn="RACE-1"),
                headers={**FHIR_JSON, "If-None-Exist": f"identifier={mrn}"},
            )
            return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({rid for _, rid in results}) == 1
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        assert http.get("Patient", params={"identifier": mrn}).json()["total"] == 1
