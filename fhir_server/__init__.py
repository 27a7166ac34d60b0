"""A FHIR R4 server for practices and telehealth teams (audit ledger, per-tenant encryption and
field-level SMART are planned; see the README)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
