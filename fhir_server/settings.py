"""Every setting of the server, typed, read from `FHIR_*` environment variables.

Command-line flags override the environment by passing keyword arguments to `Settings`;
nothing else in the code base reads `os.environ`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Server configuration; each field maps to `FHIR_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FHIR_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Where the embedded store lives")
    host: str = Field(default="127.0.0.1", description="Interface to listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes")
    storage: Literal["sqlite", "mongodb"] = Field(default="sqlite", description="Storage backend")
    mongodb_uri: SecretStr | None = Field(
        default=None,
        description="MongoDB connection string (storage=mongodb); may hold a password",
    )
    mongodb_database: str = Field(
        default="fhir", min_length=1, max_length=63, description="MongoDB database name"
    )
    base_url: str | None = Field(
        default=None,
        description="Public base URL, e.g. https://ehr.example.org (else taken from requests)",
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest body")
    max_json_depth: int = Field(default=32, ge=4, description="Deepest JSON nesting accepted")
    default_page_size: int = Field(default=20, ge=1, description="_count when none is given")
    max_page_size: int = Field(default=1000, ge=1, description="Largest _count honoured")
    query_seconds: float = Field(
        default=30.0, gt=0, description="Longest a search or history query may run (SQLite)"
    )
    demo: bool = Field(default=False, description="Create the tenant 'demo' at start-up")
    # Not uvicorn's `trace`: it logs each request's scope, URLs with their search values
    # (PHI) included.
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Log level"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
