"""Whether a FHIRPath expression is well formed.

fhirpathpy's parser recovers from syntax errors and stops at the first token that does not
continue the expression, so `Bundle.type xyz` evaluates as `Bundle.type` and an assert
written wrongly passes. Here the same grammar is parsed with errors raised and the whole
text required, before an expression is evaluated.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

__all__ = ["syntax_error"]


class _SyntaxError(Exception):
    pass


class _Raise(ErrorListener):  # type: ignore[misc]
    def syntaxError(  # noqa: N802 (antlr's name)
        self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise _SyntaxError(f"at character {column + 1}: {msg}")


@lru_cache(maxsize=1024)
def syntax_error(expression: str) -> str | None:
    """What is wrong with `expression`, or None when it is well formed."""
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    try:
        parser.expression()
    except _SyntaxError as exc:
        return str(exc)
    except Exception as exc:  # antlr's own recognition errors
        return f"{type(exc).__name__}: {exc}"
    token = parser.getCurrentToken()
    if token.type != Token.EOF:
        return f"at character {token.column + 1}: unexpected '{token.text}'"
    return None
