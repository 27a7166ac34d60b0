"""`python -m fhir_server` does the same as the `fhir-server` command."""

from fhir_server.cli import main

main()
