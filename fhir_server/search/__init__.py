"""Search: the SearchParameter registry, the write-time indexer and the query plan.

See https://hl7.org/fhir/R4/search.html. The pipeline is backend-free: `registry` (generated
from the R4 SearchParameter bundle) -> `indexer` (expressions compiled once into element
walkers) -> `entries` (normalized index entries, stored beside each resource); queries are
parsed into a `plan` that each storage adapter compiles into its own query language.
"""
