"""The one WHERE-clause builder of the store's reads: by user, device and a half-open time range."""

from __future__ import annotations

from typing import Any


def where_clause(
    *,
    user_id: str | None = None,
    device_id: str | None = None,
    column: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> tuple[str, list[Any]]:
    """``(" WHERE ...", args)`` selecting ``start <= column < end`` of one user and device; an
    empty clause when nothing is asked. ``column`` names the time column when a bound is given."""
    where: list[str] = []
    args: list[Any] = []
    if user_id is not None:
        where.append("user_id = ?")
        args.append(user_id)
    if device_id is not None:
        where.append("device_id = ?")
        args.append(device_id)
    if (start is not None or end is not None) and column is None:
        raise ValueError("column: a time bound needs the column it bounds")
    if start is not None:
        where.append(f"{column} >= ?")
        args.append(start)
    if end is not None:
        where.append(f"{column} < ?")
        args.append(end)
    return (" WHERE " + " AND ".join(where)) if where else "", args
