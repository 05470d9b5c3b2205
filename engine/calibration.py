"""Calibrators: identity, temperature and isotonic (spec 3.3), applied without scikit-learn.

Each calibrator maps class probabilities (C,) or (N, C) to the same shape with rows summing to
1. ``apply`` is the numpy form (batches, the trainer, reports); ``apply_row`` is the engine's
per-bucket form on a list of C Python floats: on 8 numbers plain Python arithmetic is several
times faster than a chain of numpy calls, and it computes the same formulas (results agree to
the last bit or two, far inside the 1e-9 parity tolerance).

``apply_row`` returns ``None`` when the row is *degenerate*: the calibrator mapped every class
to the floor (isotonic plateaus at 0 can), so the output would be an uninformative uniform
vector; the engine then falls back to the global calibrator, then to identity.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engine.errors import ArtifactError
from engine.jsonio import finite_float

FLOOR = 1e-12
MAX_THRESHOLDS = 1_000_000
CALIBRATOR_TYPES = ("identity", "temperature", "isotonic")


@runtime_checkable
class Calibrator(Protocol):
    kind: str

    def apply(self, p: np.ndarray) -> np.ndarray: ...

    def apply_row(self, p: Sequence[float]) -> list[float] | None: ...

    def to_json(self) -> dict[str, Any]: ...


def _rows(p: np.ndarray) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"expected shape (C,) or (N, C), got {arr.shape}")
    return arr


class IdentityCalibrator:
    """Passes probabilities through (renormalised, so rows always sum to 1)."""

    kind = "identity"
    __slots__ = ()

    def apply(self, p: np.ndarray) -> np.ndarray:
        arr = _rows(p)
        return arr / arr.sum(axis=-1, keepdims=True)

    def apply_row(self, p: Sequence[float]) -> list[float] | None:
        s = math.fsum(p)
        return [x / s for x in p]

    def to_json(self) -> dict[str, Any]:
        return {"type": "identity"}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentityCalibrator)

    def __hash__(self) -> int:
        return hash("identity")

    def __repr__(self) -> str:
        return "IdentityCalibrator()"


class TemperatureCalibrator:
    """``softmax(log(clip(p, 1e-12)) / T)``; never changes the argmax."""

    kind = "temperature"
    __slots__ = ("temperature", "_inv")

    def __init__(self, temperature: float) -> None:
        t = finite_float(temperature)
        if t is None or t <= 0:
            raise ArtifactError(None, "temperature", f"must be a finite number > 0, got {temperature!r}")
        self.temperature = t
        self._inv = 1.0 / t

    def apply(self, p: np.ndarray) -> np.ndarray:
        arr = _rows(p)
        z = np.log(np.clip(arr, FLOOR, None)) / self.temperature
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def apply_row(self, p: Sequence[float]) -> list[float] | None:
        # softmax(log(q) / T) == q**(1/T) / sum(q**(1/T)); the power form is twice as fast and
        # agrees to ~1e-16. Extreme temperatures can underflow it: then use the log form.
        inv = self._inv
        e = [(x if x > FLOOR else FLOOR) ** inv for x in p]
        s = sum(e)
        if s > 0.0 and s < math.inf and max(e) > 1e-300:
            return [v / s for v in e]
        log, exp, t = math.log, math.exp, self.temperature
        z = [log(x if x > FLOOR else FLOOR) / t for x in p]
        m = max(z)
        e = [exp(v - m) for v in z]
        s = sum(e)
        return [v / s for v in e]

    def to_json(self) -> dict[str, Any]:
        return {"type": "temperature", "temperature": self.temperature}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TemperatureCalibrator) and other.temperature == self.temperature

    def __hash__(self) -> int:
        return hash(("temperature", self.temperature))

    def __repr__(self) -> str:
        return f"TemperatureCalibrator({self.temperature!r})"


class IsotonicCalibrator:
    """One piecewise-linear map per class (clamped at the ends, ``np.interp``), floored at
    1e-12, then the row renormalised."""

    kind = "isotonic"
    __slots__ = ("regressors", "_xs", "_ys", "_np")

    def __init__(self, regressors: Sequence[tuple[Sequence[float], Sequence[float]]]) -> None:
        if len(regressors) == 0:
            raise ArtifactError(None, "regressors", "at least one regressor is required")
        xs: list[tuple[float, ...]] = []
        ys: list[tuple[float, ...]] = []
        for i, (x, y) in enumerate(regressors):
            fx = _finite_list(x, field=f"regressors[{i}].X_thresholds_")
            fy = _finite_list(y, field=f"regressors[{i}].y_thresholds_")
            if len(fx) != len(fy) or not fx:
                raise ArtifactError(
                    None, f"regressors[{i}]", "X_thresholds_ and y_thresholds_ must be non-empty and of equal length"
                )
            if any(b < a for a, b in zip(fx[:-1], fx[1:], strict=True)):
                raise ArtifactError(None, f"regressors[{i}].X_thresholds_", "must be non-decreasing")
            xs.append(tuple(fx))
            ys.append(tuple(fy))
        self._xs = tuple(xs)
        self._ys = tuple(ys)
        self.regressors = tuple(zip(self._xs, self._ys, strict=True))
        self._np = tuple((np.array(x), np.array(y)) for x, y in self.regressors)

    @property
    def n_classes(self) -> int:
        return len(self._xs)

    def _check_width(self, c: int) -> None:
        if c != len(self._xs):
            raise ValueError(f"isotonic calibrator has {len(self._xs)} regressors, got {c} classes")

    def apply(self, p: np.ndarray) -> np.ndarray:
        arr = _rows(p)
        self._check_width(arr.shape[-1])
        out = np.empty_like(arr)
        for c, (x, y) in enumerate(self._np):
            out[..., c] = np.interp(arr[..., c], x, y)
        out = np.maximum(out, FLOOR)
        return out / out.sum(axis=-1, keepdims=True)

    def degenerate(self, p: np.ndarray) -> np.ndarray:
        """True where every class of a row maps to the floor (before renormalising)."""
        arr = _rows(p)
        self._check_width(arr.shape[-1])
        out = np.empty_like(arr)
        for c, (x, y) in enumerate(self._np):
            out[..., c] = np.interp(arr[..., c], x, y)
        return np.all(out <= FLOOR, axis=-1)

    def apply_row(self, p: Sequence[float]) -> list[float] | None:
        self._check_width(len(p))
        out = []
        live = False
        for v, xs, ys in zip(p, self._xs, self._ys, strict=True):
            y = _interp(v, xs, ys)
            if y > FLOOR:
                live = True
            else:
                y = FLOOR
            out.append(y)
        if not live:
            return None
        s = sum(out)
        return [v / s for v in out]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "isotonic",
            "regressors": [
                {"X_thresholds_": list(x), "y_thresholds_": list(y)} for x, y in self.regressors
            ],
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IsotonicCalibrator) and other.regressors == self.regressors

    def __hash__(self) -> int:
        return hash(("isotonic", self.regressors))

    def __repr__(self) -> str:
        return f"IsotonicCalibrator({len(self._xs)} regressors)"


def _interp(v: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    """``np.interp(v, xs, ys)`` for one value, following numpy's own branch order."""
    n = len(xs)
    if v != v:
        return v
    if v >= xs[n - 1]:
        return ys[n - 1]
    j = bisect_right(xs, v) - 1
    if j < 0:
        return ys[0]
    if xs[j] == v:
        return ys[j]
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    r = slope * (v - xs[j]) + ys[j]
    if r != r:
        r = slope * (v - xs[j + 1]) + ys[j + 1]
        if r != r and ys[j] == ys[j + 1]:
            r = ys[j]
    return r


def _finite_list(values: Any, *, field: str, path: str | Path | None = None) -> list[float]:
    if not isinstance(values, list | tuple | np.ndarray):
        raise ArtifactError(path, field, "must be a list of numbers")
    if len(values) > MAX_THRESHOLDS:
        raise ArtifactError(path, field, "too many values")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
            raise ArtifactError(path, field, "must contain only numbers")
        f = finite_float(v)
        if f is None:
            raise ArtifactError(path, field, "must contain only finite numbers")
        out.append(f)
    return out


def calibrator_from_json(
    obj: Any, *, path: str | Path | None = None, n_classes: int | None = None
) -> Calibrator:
    """Build a calibrator from its JSON object, or raise ``ArtifactError`` naming the field."""
    if not isinstance(obj, dict):
        raise ArtifactError(path, None, "calibrator must be a JSON object")
    kind = obj.get("type")
    if kind is None:
        raise ArtifactError(path, "type", "required field is missing")
    if kind not in CALIBRATOR_TYPES:
        raise ArtifactError(path, "type", f"unknown calibrator type {kind!r}")
    try:
        if kind == "identity":
            return IdentityCalibrator()
        if kind == "temperature":
            if "temperature" not in obj:
                raise ArtifactError(path, "temperature", "required field is missing")
            t = obj["temperature"]
            if isinstance(t, bool) or not isinstance(t, int | float):
                raise ArtifactError(path, "temperature", "must be a number")
            return TemperatureCalibrator(t)
        regs = obj.get("regressors")
        if not isinstance(regs, list):
            raise ArtifactError(path, "regressors", "required list of per-class regressors")
        if n_classes is not None and len(regs) != n_classes:
            raise ArtifactError(
                path, "regressors", f"{len(regs)} regressors for a model of {n_classes} classes"
            )
        pairs = []
        for i, r in enumerate(regs):
            if not isinstance(r, dict):
                raise ArtifactError(path, f"regressors[{i}]", "must be an object")
            for key in ("X_thresholds_", "y_thresholds_"):
                if key not in r:
                    raise ArtifactError(path, f"regressors[{i}].{key}", "required field is missing")
            pairs.append(
                (
                    _finite_list(r["X_thresholds_"], field=f"regressors[{i}].X_thresholds_", path=path),
                    _finite_list(r["y_thresholds_"], field=f"regressors[{i}].y_thresholds_", path=path),
                )
            )
        return IsotonicCalibrator(pairs)
    except ArtifactError as exc:
        if exc.path is None and path is not None:
            raise ArtifactError(path, exc.field, exc.reason) from None
        raise


def calibrator_to_json(cal: Calibrator) -> dict[str, Any]:
    return cal.to_json()
