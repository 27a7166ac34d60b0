"""A parser for the small subset of FHIRPath that search expressions mostly use.

R4 search parameters define their values with FHIRPath (https://hl7.org/fhir/R4/fhirpath.html,
search.html#expressions). Almost every published expression is a union of simple paths:

- dotted paths ``Patient.name.family`` and indexing ``Bundle.entry[0].resource``;
- type filters ``X.ofType(T)``, ``X.as(T)`` and ``X as T``;
- filters ``X.where(resolve() is T)`` and ``X.where(field = 'literal')``;
- unions ``A | B``, and parentheses ``(A | B).c`` (distributed into ``A.c | B.c``);
- ``%resource`` as the root (composite components of MolecularSequence).

`parse` turns such an expression into `Branch` lists for the walker compiler, and raises
`Unsupported` for anything else: the indexer then hands that part to the FHIRPath engine.
`split_union` cuts an expression at its top-level ``|`` so that one unsupported branch
does not send the whole expression to the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Branch",
    "ExistsNotEqual",
    "Field",
    "Index",
    "OfType",
    "Step",
    "Unsupported",
    "WhereEquals",
    "WhereResolveIs",
    "parse",
    "parse_exists_not_equal",
    "split_union",
]


class Unsupported(ValueError):
    """The expression is outside the compiled subset (the engine evaluates it)."""


@dataclass(frozen=True, slots=True)
class Field:
    """``.name``: a child element (or, first in a branch, possibly a type name)."""

    name: str


@dataclass(frozen=True, slots=True)
class OfType:
    """``.ofType(T)``, ``.as(T)`` or ``as T``: keep the items of type T."""

    type_name: str


@dataclass(frozen=True, slots=True)
class Index:
    """``[n]``: the n-th item of the collection so far."""

    position: int


@dataclass(frozen=True, slots=True)
class WhereEquals:
    """``.where(field = 'literal')``."""

    field: str
    literal: str | bool


@dataclass(frozen=True, slots=True)
class WhereResolveIs:
    """``.where(resolve() is T)``: references whose target is of type T."""

    type_name: str


Step = Field | OfType | Index | WhereEquals | WhereResolveIs


@dataclass(frozen=True, slots=True)
class Branch:
    """One path of a union, from the focus (or from ``%resource`` when ``from_resource``)."""

    steps: tuple[Step, ...]
    from_resource: bool = False


@dataclass(frozen=True, slots=True)
class ExistsNotEqual:
    """``P.exists() and P != literal`` (Patient-deceased), a boolean-valued expression."""

    path: Branch
    literal: str | bool


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<int>\d+)|(?P<var>%[A-Za-z_]\w*)"
    r"|(?P<ident>[A-Za-z_]\w*)|(?P<op>!=|[.()\[\]|=]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Unsupported(f"unexpected text at {position}: {text[position:][:20]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise Unsupported(f"expected {value or kind}, found {token}")
        self.position += 1
        return token[1]

    def at(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        return token is not None and token[0] == kind and (value is None or token[1] == value)

    def union(self) -> list[Branch]:
        branches = self.chain()
        while self.at("op", "|"):
            self.take("op", "|")
            branches += self.chain()
        return branches

    def chain(self) -> list[Branch]:
        branches = self.term()
        while True:
            if self.at("op", "."):
                self.take("op", ".")
                step = self.invocation()
            elif self.at("op", "["):
                self.take("op", "[")
                step = Index(int(self.take("int")))
                self.take("op", "]")
            elif self.at("ident", "as"):
                self.take("ident", "as")
                step = OfType(self.take("ident"))
            else:
                return branches
            branches = [Branch((*b.steps, step), b.from_resource) for b in branches]

    def term(self) -> list[Branch]:
        if self.at("op", "("):
            self.take("op", "(")
            inner = self.union()
            self.take("op", ")")
            return inner
        if self.at("var"):
            if self.take("var") != "%resource":
                raise Unsupported("only %resource is supported as a variable")
            return [Branch((), from_resource=True)]
        return [Branch((self.identifier(),))]

    def identifier(self) -> Field:
        name = self.take("ident")
        if self.at("op", "("):
            raise Unsupported(f"function {name}() at the start of a path")
        return Field(name)

    def invocation(self) -> Step:
        name = self.take("ident")
        if not self.at("op", "("):
            return Field(name)
        self.take("op", "(")
        if name in ("ofType", "as"):
            step: Step = OfType(self.take("ident"))
        elif name == "where":
            step = self.where()
        else:
            raise Unsupported(f"function {name}()")
        self.take("op", ")")
        return step

    def where(self) -> Step:
        if self.at("ident", "resolve"):
            self.take("ident", "resolve")
            self.take("op", "(")
            self.take("op", ")")
            self.take("ident", "is")
            return WhereResolveIs(self.take("ident"))
        field = self.take("ident")
        self.take("op", "=")
        return WhereEquals(field, self.literal())

    def literal(self) -> str | bool:
        if self.at("ident", "true") or self.at("ident", "false"):
            return self.take("ident") == "true"
        raw = self.take("string")[1:-1]
        return re.sub(r"\\(.)", r"\1", raw)


def parse(text: str) -> list[Branch]:
    """The branches of a union of simple paths; `Unsupported` for anything else."""
    parser = _Parser(text)
    branches = parser.union()
    if parser.peek() is not None:
        raise Unsupported(f"unexpected {parser.peek()}")
    return branches


_EXISTS_NOT_EQUAL = re.compile(
    r"^\s*(?P<a>[\w.]+)\.exists\(\)\s+and\s+(?P<b>[\w.]+)\s*!=\s*(?P<lit>.+?)\s*$"
)


def parse_exists_not_equal(text: str) -> ExistsNotEqual | None:
    """``P.exists() and P != literal`` with the same simple path P twice, else None."""
    match = _EXISTS_NOT_EQUAL.match(text)
    if match is None or match.group("a") != match.group("b"):
        return None
    try:
        (branch,) = parse(match.group("a"))
        parser = _Parser(match.group("lit"))
        literal = parser.literal()
    except (Unsupported, ValueError):
        return None
    if parser.peek() is not None:
        return None
    return ExistsNotEqual(branch, literal)


def split_union(text: str) -> list[str]:
    """Cut ``text`` at the ``|`` that are outside parentheses and string literals."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
        index += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]
