"""Merging two sources of one page in the order both backends compare values in.

A later page of a walk that holds still (docs/search.md, "Paging that holds still") reads
the resources unchanged since its first page from the store's walk, and places the others
where they stood then; the page is both, merged. Keys are `(phase, value, ..., position)`: a walk in
two phases (by a sort index, then the resources without a value) orders its second phase
after its first, each phase by its own directions. Values compare as SQLite and MongoDB
compare them: missing (None) first, then numbers, then text (by code point: UTF-8 bytes
and BSON strings compare alike).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Generic, TypeVar

__all__ = ["PageMerger"]

Row = TypeVar("Row")


def _rank(value: object) -> int:
    if value is None:
        return 0
    return 2 if isinstance(value, str) else 1


def _compare_values(a: object, b: object) -> int:
    ranks = _rank(a), _rank(b)
    if ranks[0] != ranks[1]:
        return -1 if ranks[0] < ranks[1] else 1
    if a == b or ranks[0] == 0:
        return 0
    return -1 if a < b else 1  # type: ignore[operator]  # same rank: both numbers or text


@dataclass(frozen=True, slots=True)
class PageMerger(Generic[Row]):
    """Orders rows by `key_of`, with `descending[phase]` giving each term's direction."""

    key_of: Callable[[Row], Sequence[object]]
    descending: Sequence[Sequence[bool]]

    def compare(self, a: Sequence[object], b: Sequence[object]) -> int:
        phase, other_phase = a[0], b[0]
        assert isinstance(phase, int) and isinstance(other_phase, int)
        if phase != other_phase:
            return -1 if phase < other_phase else 1
        directions = self.descending[phase]
        for x, y, desc in zip(a[1:], b[1:], directions, strict=True):
            found = _compare_values(x, y)
            if found:
                return -found if desc else found
        return 0

    def beyond(self, key: Sequence[object], cursor: Sequence[object], back: bool) -> bool:
        """Whether `key` lies strictly after `cursor` (before it, going back)."""
        found = self.compare(key, cursor)
        return found < 0 if back else found > 0

    def merge(self, walked: list[Row], placed: list[Row], limit: int, back: bool) -> list[Row]:
        """The `limit` rows of both nearest the cursor (which `placed` must already lie
        beyond), in order: the first ones, or going back the last ones."""
        if not placed:
            return walked
        rows = sorted([*walked, *placed], key=cmp_to_key(self._compare_rows))
        return rows[-limit:] if back else rows[:limit]

    def _compare_rows(self, a: Row, b: Row) -> int:
        return self.compare(self.key_of(a), self.key_of(b))
