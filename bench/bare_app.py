"""The baseline: a bare Starlette endpoint that returns the same Patient bytes.

Served by the same uvicorn (same workers, same event loop and HTTP parser) as the server,
so the ratio measures what the FHIR server adds on top of the framework floor.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_BODY = Path(os.environ["BENCH_PATIENT_FILE"]).read_bytes()


async def patient(_: Request) -> Response:
    return Response(_BODY, media_type="application/fhir+json")


async def create(request: Request) -> Response:
    await request.body()
    return Response(_BODY, status_code=201, media_type="application/fhir+json")


app = Starlette(
    routes=[
        Route("/fhir/demo/Patient/{pid}", patient),
        Route("/fhir/demo/Patient", create, methods=["POST"]),
    ]
)
