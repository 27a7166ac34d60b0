"""The one error tree of the server.

Every failure the server reports to a client is a `FhirError`: it carries the HTTP status,
the OperationOutcome issue code (http://hl7.org/fhir/R4/valueset-issue-type.html) and a
human-readable diagnostic. Only the web layer renders them, through one renderer.

    FhirError (status, issue code)
    ├── BadRequest            400 invalid / structure / value / processing
    │   ├── InvalidResource   400 invalid, with FHIRPath locations of the problems
    │   └── TooCostly         400 too-costly (a query past the time a request may take)
    ├── Unauthorized          401 login
    ├── Forbidden             403 forbidden
    ├── NotFound              404 not-found
    ├── MethodNotAllowed      405 not-supported
    ├── NotAcceptable         406 not-supported
    ├── Conflict              409 conflict
    ├── Gone                  410 deleted
    │   └── ExpiredPaging     410 too-costly (a walk changed too much since its first page)
    ├── PreconditionFailed    412 conflict (version mismatch, multiple matches)
    ├── PayloadTooLarge       413 too-costly
    ├── UnsupportedMediaType  415 not-supported
    ├── UnprocessableEntity   422 processing (business rule failed)
    └── ServerFault           500 exception (never carries a stack trace)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BadRequest",
    "Conflict",
    "ExpiredPaging",
    "FhirError",
    "Forbidden",
    "Gone",
    "InvalidResource",
    "Issue",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ServerFault",
    "TooCostly",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
]


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: what went wrong, and where (a FHIRPath expression)."""

    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"


@dataclass
class FhirError(Exception):
    """A failure reported to the client as an OperationOutcome with `status`."""

    diagnostics: str
    expression: tuple[str, ...] = ()
    extra_issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    status = 500
    code = "exception"

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)

    @property
    def issues(self) -> list[Issue]:
        first = Issue(self.code, self.diagnostics, self.expression)
        return [first, *self.extra_issues]


class BadRequest(FhirError):
    status = 400
    code = "invalid"


class InvalidResource(BadRequest):
    code = "invalid"


class TooCostly(BadRequest):
    """A query that ran past the time one request may take (FHIR_QUERY_SECONDS). A 4xx:
    the same request would only run as long again, so a client should not repeat it."""

    code = "too-costly"


class Unauthorized(FhirError):
    status = 401
    code = "login"


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class Conflict(FhirError):
    status = 409
    code = "conflict"


class Gone(FhirError):
    status = 410
    code = "deleted"


class ExpiredPaging(Gone):
    """A page the server can no longer serve as its walk began: search again."""

    code = "too-costly"


class PreconditionFailed(FhirError):
    status = 412
    code = "conflict"


class PayloadTooLarge(FhirError):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    code = "not-supported"


class UnprocessableEntity(FhirError):
    status = 422
    code = "processing"


class ServerFault(FhirError):
    status = 500
    code = "exception"
