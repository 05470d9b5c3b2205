"""The store's one WHERE-clause builder."""

from __future__ import annotations

import pytest

from engine.store_sql import where_clause


def test_nothing_asked_is_no_clause() -> None:
    assert where_clause() == ("", [])


def test_user_device_and_half_open_range_in_order() -> None:
    assert where_clause(user_id="u1", device_id="d1", column="at_us", start=10, end=20) == (
        " WHERE user_id = ? AND device_id = ? AND at_us >= ? AND at_us < ?",
        ["u1", "d1", 10, 20],
    )


def test_a_bound_without_its_column_is_refused() -> None:
    with pytest.raises(ValueError, match="column: a time bound needs the column"):
        where_clause(start=10)
