"""Which calibration methods this install can fit for one user.

Temperature is built in (numpy only). Isotonic needs scikit-learn, so the trainer package
registers it when it is installed (``trainer.cli.register``); the engine never imports it.
Cheap to import: the fitting code loads on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import TaskclfError

METHODS = ("temperature", "isotonic")

#: fitter(raw (N, C), y (N,), weights (N,), shared calibrator, local days (N,)) -> the user's calibrator
Fitter = Callable[[Any, Any, Any, Any, Any], Any]
_FITTERS: dict[str, Fitter] = {}


def register_fitter(method: str, fitter: Fitter) -> None:
    _FITTERS[method] = fitter


def fitter_for(method: str) -> Fitter:
    if method not in METHODS:
        raise TaskclfError(f"--method: unknown calibration method {method!r} (temperature or isotonic)")
    if method == "temperature":
        from engine.personal_fit import fit_user_temperature

        return fit_user_temperature
    fit = _FITTERS.get(method)
    if fit is None:
        raise TaskclfError(f"--method {method}: isotonic calibration needs the trainer: install "
                           "taskclf[trainer] (temperature works in every install)")
    return fit
