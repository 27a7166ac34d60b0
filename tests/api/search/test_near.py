"""Location?near=latitude|longitude|distance|units (location.html#positional)."""

from __future__ import annotations

import httpx

from tests.api.search.dataset import FHIR_JSON
from tests.api.search.helpers import id_set, outcome

PLACES = {
    "amsterdam": (52.3676, 4.9041),
    "haarlem": (52.3874, 4.6462),  # ~18 km west of Amsterdam
    "utrecht": (52.0907, 5.1214),  # ~35 km south-east
    "sydney": (-33.8688, 151.2093),
}


async def _places(client: httpx.AsyncClient) -> None:
    for pid, (lat, lon) in PLACES.items():
        body = {
            "resourceType": "Location",
            "id": pid,
            "name": pid,
            "position": {"latitude": lat, "longitude": lon},
        }
        assert (
            await client.put(f"Location/{pid}", json=body, headers=FHIR_JSON)
        ).status_code == 201
    await client.put(
        "Location/nowhere", json={"resourceType": "Location", "id": "nowhere"}, headers=FHIR_JSON
    )


async def test_near_finds_locations_within_the_distance(client: httpx.AsyncClient) -> None:
    await _places(client)
    centre = "52.3676|4.9041"
    assert await id_set(client, "Location", {"near": f"{centre}|5|km"}) == {"amsterdam"}
    assert await id_set(client, "Location", {"near": f"{centre}|25|km"}) == {"amsterdam", "haarlem"}
    assert await id_set(client, "Location", {"near": f"{centre}|50000|m"}) == {
        "amsterdam",
        "haarlem",
        "utrecht",
    }
    assert await id_set(client, "Location", {"near": f"{centre}|30|[mi_i]"}) == {
        "amsterdam",
        "haarlem",
        "utrecht",
    }
    assert await id_set(client, "Location", {"near": "-33.87|151.21"}) == {
        "sydney"
    }  # default 10 km


async def test_near_is_claimed_and_bad_values_are_400(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    location = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Location")
    assert {"name": "near", "type": "special"}.items() <= next(
        p for p in location["searchParam"] if p["name"] == "near"
    ).items()
    for bad in ("north|south", "52.3|4.9|ten|km", "52.3|4.9|10|furlong", "95|4.9"):
        body = await outcome(client, "Location", {"near": bad})
        assert body["issue"][0]["expression"] == ["near"]
