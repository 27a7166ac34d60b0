"""The committed search tables agree with the generator run on the R4 definitions.

The definitions are not part of the project: point ``FHIR_SHARED_DIR`` at them
(``shared/fhir-r4``) to run this test. After changing the generator, regenerate with
``python scripts/generate_search_registry.py --shared ../shared/fhir-r4``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SHARED_DIR = os.environ.get("FHIR_SHARED_DIR")
GENERATOR = Path(__file__).resolve().parents[3] / "scripts" / "generate_search_registry.py"

pytestmark = pytest.mark.skipif(
    not SHARED_DIR,
    reason="FHIR_SHARED_DIR is not set (point it at the R4 definitions, shared/fhir-r4)",
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_search_registry", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed(name: str) -> Any:
    raw = resources.files("fhir_server.search.data").joinpath(name).read_bytes()
    return json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _generator()


def test_parameters_and_compartment_match_the_generator(generator: ModuleType) -> None:
    assert SHARED_DIR is not None
    table, compartment = generator.build_tables(Path(SHARED_DIR))
    assert _committed(generator.PARAMETERS_FILE) == table
    assert _committed(generator.COMPARTMENT_FILE) == compartment
    assert len(table["parameters"]) == 1378


def test_element_model_matches_the_generator(generator: ModuleType) -> None:
    assert SHARED_DIR is not None
    assert _committed(generator.MODEL_FILE) == generator.build_model(Path(SHARED_DIR))


def test_generator_output_is_reproducible(generator: ModuleType, tmp_path: Path) -> None:
    assert SHARED_DIR is not None
    generator.write_tables(Path(SHARED_DIR), tmp_path)
    data = resources.files("fhir_server.search.data")
    for name in (generator.PARAMETERS_FILE, generator.MODEL_FILE, generator.COMPARTMENT_FILE):
        assert (tmp_path / name).read_bytes() == data.joinpath(name).read_bytes(), name


def test_implicit_code_systems_match_the_generator(generator: ModuleType) -> None:
    assert SHARED_DIR is not None
    systems = generator.build_code_systems(Path(SHARED_DIR))
    assert _committed(generator.CODE_SYSTEMS_FILE) == systems
    assert systems["Patient.gender"] == "http://hl7.org/fhir/administrative-gender"
    assert systems["Address.use"] == "http://hl7.org/fhir/address-use"
    assert "Resource.language" not in systems  # a preferred binding: no implicit system
