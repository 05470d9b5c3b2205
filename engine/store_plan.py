"""A shape's write plan: the cheap check that a row has the shape the previous row of its keys
had, and the values it keeps in its blob.

Finding a row's shape in general (``Packer._shape_key``) builds a key of every constant value
and hashes it; the agent writes rows of the same few shapes every minute, so a plan remembers
what that shape was decided from and checks only that: the keys the columns give back are the
same, each constant has the same value (exactly: type, and the sign of a zero), the keys that
were not constants still are not, and nested lists of objects have the same keys. A row that
fails the check takes the general way, which finds (or adds) its shape and a new plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import itemgetter
from typing import Any

_SCALARS = frozenset({str, int, bool, float, type(None)})


def is_constant_value(value: Any) -> bool:
    """Only scalars and flat lists of scalars are shared by rows (a caller may change the list
    it reads, so each row gets its own copy, and a flat copy is enough)."""
    t = type(value)
    return t in _SCALARS or (t is list and {*map(type, value)} <= _SCALARS)


def same_keys(value: Any) -> tuple[str, ...] | None:
    """The keys shared by every object of a non-empty list of plain dicts, else None."""
    if type(value) is not list or not value or {*map(type, value)} != _DICT:
        return None
    keys = tuple(value[0])
    return keys if all(tuple(d) == keys for d in value) else None


_DICT = {dict}



class ShapePlan:
    """How rows of one shape are checked and taken apart (see the module docstring)."""

    __slots__ = ("shape", "plain", "cols", "constants", "nested", "_derived", "_cols_of", "_not_cols",
                 "_const_of", "_const", "_const_types", "_lists", "_zeros", "_loose", "_nested", "_take",
                 "sub_at")

    def __init__(self, shape: int, plain: tuple[str, ...], obj: dict[str, Any], derived: dict[str, Any],
                 cols: tuple[str, ...], const: dict[str, Any], subs: tuple[tuple[str, tuple[str, ...]], ...],
                 constants: tuple[str, ...], nested: tuple[str, ...]) -> None:
        self.shape = shape
        #: the keys kept in the blob, in order
        self.plain = plain
        #: the keys whose value the columns give back, in the order of the derived values
        self.cols = cols
        #: the derived values' keys (their order makes the order of ``cols``)
        self._derived = tuple(derived)
        self._cols_of = _tuple_getter(cols)
        #: the derived keys the row has with a value not the columns' (still must not be theirs)
        self._not_cols = tuple(k for k in derived if k in obj and k not in cols)
        #: what the plan was made for (a row of other constant or nested keys takes another)
        self.constants, self.nested = constants, nested
        #: the constants' values (a list copied: a caller changing its row later does not
        #: change the plan) and types, compared as tuples; a list's element types; the
        #: positions of zeros, whose sign ``==`` does not see
        self._const_of = _tuple_getter(tuple(const))
        self._const = tuple(list(v) if type(v) is list else v for v in const.values())
        self._const_types = tuple(map(type, self._const))
        self._lists = tuple((i, tuple(map(type, v))) for i, v in enumerate(self._const) if type(v) is list)
        self._zeros = tuple((i, math.copysign(1.0, v)) for i, v in enumerate(self._const)
                            if type(v) is float and v == 0.0)
        #: constant keys whose value was not one a shape can hold (a dict...): still must not be
        self._loose = tuple(k for k in constants if k in obj and k not in cols and k not in const)
        given = dict(subs)
        self._nested = tuple((k, given.get(k)) for k in nested if k not in cols and k not in const)
        #: the values kept, as a tuple
        self._take = _tuple_getter(plain)
        #: positions in ``plain`` of the nested lists stored as lists of values
        self.sub_at = tuple(plain.index(k) for k, _ in subs)

    @staticmethod
    def usable(const: dict[str, Any]) -> bool:
        """Whether the checks can be exact: a list holding floats would need each element's
        zero sign compared, so such rows take the general way every time."""
        return not any(type(v) is list and float in {*map(type, v)} for v in const.values())

    def fits(self, obj: dict[str, Any], derived: dict[str, Any]) -> bool:
        """Whether ``obj`` (with the same keys in the same order) has this plan's shape."""
        if tuple(derived) != self._derived:
            return False
        if self._cols_of is not None:  # the columns' keys: the same values, of the same types
            mine, theirs = self._cols_of(obj), self._cols_of(derived)
            if mine != theirs or tuple(map(type, mine)) != tuple(map(type, theirs)):
                return False
        for k in self._not_cols:
            if type(o := obj[k]) is type(v := derived[k]) and o == v:
                return False
        if self._const_of is not None:
            vals = self._const_of(obj)
            if vals != self._const or tuple(map(type, vals)) != self._const_types:
                return False
            for i, types in self._lists:
                if tuple(map(type, vals[i])) != types:
                    return False
            for i, sign in self._zeros:
                if math.copysign(1.0, vals[i]) != sign:
                    return False
        get = obj.get
        if self._loose and any(is_constant_value(get(k)) for k in self._loose):
            return False
        return not self._nested or all(same_keys(get(k)) == sub for k, sub in self._nested)

    def values(self, obj: dict[str, Any]) -> list[Any] | tuple[Any, ...]:
        """The values the blob keeps, nested objects as lists of values (a tuple or a list:
        the same JSON array)."""
        if self._take is None:
            return []
        values = self._take(obj)
        if not self.sub_at:
            return values
        out = list(values)
        for i in self.sub_at:
            out[i] = [list(d.values()) for d in out[i]]
        return out


def _tuple_getter(keys: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
    """The values of ``keys`` as a tuple, in one C call for two or more; None for no keys."""
    if not keys:
        return None
    if len(keys) > 1:
        return itemgetter(*keys)
    key = keys[0]
    return lambda d: (d[key],)
