"""A FHIR R4 server with audit, per-tenant encryption and field-level SMART built in."""

__all__ = ["__version__"]

__version__ = "0.1.0"
