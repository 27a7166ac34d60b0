"""A tiny SQL fragment builder: text and its bound arguments travel together.

Every client value is a bound `?` argument; fragment text only ever comes from this
package's own constants, so a search value can never change a statement's shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Fragment", "all_of", "any_of"]


@dataclass(slots=True)
class Fragment:
    text: str
    args: list[object] = field(default_factory=list)

    def __add__(self, other: Fragment) -> Fragment:
        return Fragment(self.text + other.text, [*self.args, *other.args])

    def wrap(self, before: str, after: str) -> Fragment:
        return Fragment(f"{before}{self.text}{after}", list(self.args))


def _join(parts: Iterable[Fragment], separator: str, empty: str) -> Fragment:
    items = list(parts)
    if not items:
        return Fragment(empty)
    if len(items) == 1:
        return items[0]
    text = separator.join(f"({p.text})" for p in items)
    return Fragment(f"({text})", [a for p in items for a in p.args])


def all_of(parts: Iterable[Fragment]) -> Fragment:
    return _join(parts, " AND ", "1 = 1")


def any_of(parts: Iterable[Fragment]) -> Fragment:
    return _join(parts, " OR ", "1 = 0")
