"""`fhir-server import`: Bundles and NDJSON into a tenant, errors with file and entry, and
reruns (after an interruption too) that never duplicate a resource."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from fhir_server.cli import cli, import_cmd
from fhir_server.settings import Settings
from fhir_server.web.app import create_app

NPI = "http://hl7.org/fhir/sid/us-npi"
PATIENT_ID = "742fc10a-c565-f636-3c05-5dcd28672194"


def _practitioners() -> dict[str, Any]:
    doctor = {
        "resourceType": "Practitioner",
        "id": "doc",
        "identifier": [{"system": NPI, "value": "9"}],
    }
    role = {"resourceType": "PractitionerRole", "id": "role-1", "active": True}
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "fullUrl": "urn:uuid:doc",
                "resource": doctor,
                "request": {
                    "method": "POST",
                    "url": "Practitioner",
                    "ifNoneExist": f"identifier={NPI}|9",
                },
            },
            {
                "fullUrl": "urn:uuid:role",
                "resource": role,
                "request": {"method": "POST", "url": "PractitionerRole"},
            },
        ],
    }


def _record() -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "name": [{"family": "Dickinson"}]}
    observation = {
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": f"urn:uuid:{PATIENT_ID}"},
        "performer": [{"reference": f"Practitioner?identifier={NPI}|9"}],
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{PATIENT_ID}",
                "resource": patient,
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:obs-1",
                "resource": observation,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


def _ndjson(count: int, start: int = 0) -> bytes:
    lines = [
        orjson.dumps(
            {
                "resourceType": "Observation",
                "id": f"nd-{n}",
                "status": "final",
                "code": {"text": f"n{n}"},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
            }
        )
        for n in range(start, start + count)
    ]
    return b"\n".join(lines) + b"\n"


def _run(data: Path, *paths: Path) -> Any:
    tenant = CliRunner().invoke(cli, ["tenant", "create", "acme", "--data-dir", str(data)])
    assert tenant.exit_code == 0, tenant.output
    args = ["import", "--tenant", "acme", "--data-dir", str(data), *map(str, paths)]
    return CliRunner().invoke(cli, args)


def _query(data: Path, *urls: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        app = create_app(Settings(data_dir=data))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/acme/") as http:
            found = [(await http.get(url)).json() for url in urls]
        await app.aclose()
        return found

    return asyncio.run(go())


def test_import_loads_bundles_and_ndjson_and_reruns_without_duplicates(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    # named so that the transaction sorts first: the import must still load the batch first
    (source / "a_record.json").write_bytes(orjson.dumps(_record()))
    (source / "z_practitioners.json").write_bytes(orjson.dumps(_practitioners()))
    (source / "observations.ndjson").write_bytes(_ndjson(3) + b"{broken\n")
    data = tmp_path / "data"
    for attempt in range(2):
        result = _run(data, source)
        assert result.exit_code == 1, result.output  # the broken line
        assert "loaded 7 resources from 3 files" in result.output
        assert "observations.ndjson: line 4: not valid JSON" in result.output
        counts = _query(
            data,
            "Patient?_summary=count",
            "Observation?_summary=count",
            "Practitioner?_summary=count",
            "PractitionerRole?_summary=count",
            "Observation/obs-1",
            "Practitioner?identifier=" + NPI + "|9",
        )
        assert [c["total"] for c in counts[:4]] == [1, 4, 1, 1], attempt
        observation, doctors = counts[4], counts[5]
        assert observation["subject"]["reference"] == f"Patient/{PATIENT_ID}"
        assert (
            observation["performer"][0]["reference"]
            == f"Practitioner/{doctors['entry'][0]['resource']['id']}"
        )


def test_import_reports_a_failed_transaction_with_its_entry(tmp_path: Path) -> None:
    record = _record()
    record["entry"][1]["resource"]["status"] = "bogus"
    path = tmp_path / "record.json"
    path.write_bytes(orjson.dumps(record))
    result = _run(tmp_path / "data", path)
    assert result.exit_code == 1
    assert "record.json: 400 Bundle.entry[1]" in result.output
    assert _query(tmp_path / "data", "Patient?_summary=count")[0]["total"] == 0


def test_a_malformed_bundle_is_reported_and_the_other_files_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "broken.json").write_bytes(b'{"resourceType":"Bundle","type":"batch","entry":5}')
    (folder / "sub" / "doctors.json").write_bytes(orjson.dumps(_practitioners()))
    surprise = folder / "sub" / "surprise.json"
    surprise.write_bytes(orjson.dumps(_practitioners()))
    real_read_units = import_cmd.read_units

    def read_units(path: Path) -> Any:
        if path.name == "surprise.json":
            raise RuntimeError("disk went away")
        return real_read_units(path)

    monkeypatch.setattr(import_cmd, "read_units", read_units)
    result = _run(tmp_path / "data", folder)
    assert result.exit_code == 1, result.output
    assert "broken.json: Bundle.entry is not a list" in result.output
    assert f"{surprise}: not imported: RuntimeError: disk went away" in result.output
    counted = _query(tmp_path / "data", "Practitioner?_summary=count")
    assert counted[0]["total"] == 1


def test_an_interrupted_import_can_be_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.ndjson"
    path.write_bytes(_ndjson(1200))  # three units of 500, 500 and 200 lines
    data = tmp_path / "data"
    original = import_cmd._load_unit
    loaded = 0

    async def interrupted(*args: Any) -> None:
        nonlocal loaded
        if loaded == 1:
            raise KeyboardInterrupt  # Ctrl-C after the first unit
        loaded += 1
        await original(*args)

    monkeypatch.setattr(import_cmd, "_load_unit", interrupted)
    assert _run(data, path).exit_code != 0
    assert _query(data, "Observation?_summary=count")[0]["total"] == 500
    monkeypatch.setattr(import_cmd, "_load_unit", original)
    result = _run(data, path)
    assert result.exit_code == 0, result.output
    assert _query(data, "Observation?_summary=count")[0]["total"] == 1200
