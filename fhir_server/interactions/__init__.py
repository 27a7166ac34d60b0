"""One module per FHIR interaction (http://hl7.org/fhir/R4/http.html)."""
