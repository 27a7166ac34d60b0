"""History queries: newest first, paged by the history sequence number."""

from __future__ import annotations

import sqlite3

from fhir_server.storage.contracts import HistoryPage, HistoryQuery, StoredVersion

__all__ = ["history_page"]


def history_page(conn: sqlite3.Connection, query: HistoryQuery) -> HistoryPage:
    where, args = _filters(query)
    total = int(conn.execute(f"SELECT count(*) FROM history WHERE {where}", args).fetchone()[0])
    page_where, page_args = where, list(args)
    if query.before_position is not None:
        page_where += " AND seq < ?"
        page_args.append(query.before_position)
    rows = conn.execute(
        "SELECT type, id, version, last_updated_us, method, body, seq FROM history "
        f"WHERE {page_where} ORDER BY seq DESC LIMIT ?",
        [*page_args, query.count + 1],
    ).fetchall()
    versions = [
        StoredVersion(
            resource_type=str(r[0]),
            id=str(r[1]),
            version=int(r[2]),
            last_updated_us=int(r[3]),
            method=str(r[4]),
            body=bytes(r[5]) if r[5] is not None else None,
            position=int(r[6]),
        )
        for r in rows[: query.count]
    ]
    return HistoryPage(
        versions=versions,
        total=total,
        has_more=len(rows) > query.count,
        revivals=_revivals(conn, versions),
    )


def _revivals(conn: sqlite3.Connection, versions: list[StoredVersion]) -> frozenset[int]:
    """The positions of `versions` whose previous version is a deletion (one statement for
    the page; the previous version may lie outside the query's window)."""
    seqs = [v.position for v in versions if v.version > 1 and not v.deleted]
    if not seqs:
        return frozenset()
    rows = conn.execute(
        "SELECT h.seq FROM history h JOIN history p ON p.pk = h.pk AND p.version = h.version - 1 "
        f"WHERE h.seq IN ({', '.join('?' * len(seqs))}) AND p.body IS NULL",
        seqs,
    ).fetchall()
    return frozenset(int(row[0]) for row in rows)


def _filters(query: HistoryQuery) -> tuple[str, list[object]]:
    clauses = ["1 = 1"]
    args: list[object] = []
    if query.resource_type is not None and query.id is not None:
        # through the resource's pk: history is indexed by (pk, version), not by id
        clauses.append("pk = (SELECT pk FROM resources WHERE type = ? AND id = ?)")
        args.extend([query.resource_type, query.id])
    elif query.resource_type is not None:
        clauses.append("type = ?")
        args.append(query.resource_type)
    if query.since_us is not None:
        clauses.append("last_updated_us >= ?")
        args.append(query.since_us)
    if query.at_low_us is not None and query.at_high_us is not None:
        # current at some moment of [low, high]: began by high, not ended before low
        clauses.append("last_updated_us <= ? AND (ended_us IS NULL OR ended_us > ?)")
        args.extend([query.at_high_us, query.at_low_us])
    return " AND ".join(clauses), args
