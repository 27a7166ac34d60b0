"""A tenant database made by an earlier version is brought up to date when opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fhir_server.search.entries import StringEntry
from fhir_server.search.plan import SearchPlan, StringCondition
from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite.resources import SqliteResourceStore
from fhir_server.storage.sqlite.schema import PK_INDEXES


def _pk_index_columns(path: Path) -> dict[str, tuple[str, ...]]:
    with sqlite3.connect(path) as conn:
        return {
            table: tuple(str(r[2]) for r in sorted(conn.execute(f"PRAGMA index_info({table}_pk)")))
            for table in PK_INDEXES
        }


async def test_pk_indexes_of_pk_alone_are_rebuilt_with_param_and_value(tmp_path: Path) -> None:
    path = tmp_path / "tenant.sqlite"
    store = SqliteResourceStore(path)
    names = tuple(StringEntry("name", f"a{i}", f"A{i}") for i in range(50))
    store.commit_blocking([WriteOp("Patient", "p", 0, 1, 1_000, "PUT", b"{}", names)])
    store.close()
    with sqlite3.connect(path) as conn:  # as databases were made before
        for table in PK_INDEXES:
            conn.execute(f"DROP INDEX {table}_pk")
            conn.execute(f"CREATE INDEX {table}_pk ON {table} (pk)")
    assert set(_pk_index_columns(path).values()) == {("pk",)}

    reopened = SqliteResourceStore(path)
    try:
        assert _pk_index_columns(path) == PK_INDEXES
        page = await reopened.search(
            SearchPlan("Patient", (StringCondition("name", ("a1",), "starts"),), total="accurate")
        )
        assert [m.id for m in page.matches] == ["p"] and page.total == 1
    finally:
        reopened.close()
    # opened again, nothing is left to do: the indexes are not made anew
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index'").fetchall()
    SqliteResourceStore(path).close()
    with sqlite3.connect(path) as conn:
        after = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index'").fetchall()
    assert after == before
