"""Argument types that validate at parse time, so a bad option fails before any work starts
(``train all --reject-cost 5`` must not train a model first and leave it behind)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date

from engine.errors import ArtifactError
from engine.jsonio import finite_float
from engine.timebounds import check_day


def int_within(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be within {lo}..{hi}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_within(lo: float, hi: float, *, open_low: bool = False, open_high: bool = False) -> Callable[[str], float]:
    left, right = "(" if open_low else "[", ")" if open_high else "]"

    def parse(text: str) -> float:
        try:
            value = finite_float(float(text))
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"not a finite number: {text[:40]!r}")
        if value < lo or value > hi or (open_low and value == lo) or (open_high and value == hi):
            raise argparse.ArgumentTypeError(f"must be within {left}{lo:g}, {hi:g}{right}, got {value:g}")
        return value

    parse.__name__ = "number"
    return parse


def local_day(text: str) -> date:
    """A local day (YYYY-MM-DD) within the supported years."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text[:40]!r}") from None
    try:
        return check_day(day, where=None, field="date")
    except ArtifactError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc.reason}") from None


local_day.__name__ = "date"

#: A probability threshold and a reject cost (Chow's rule): strictly between 0 and 1.
unit_open = float_within(0.0, 1.0, open_low=True, open_high=True)
