"""LightGBM's C library through ctypes, without importing the ``lightgbm`` Python package.

``import lightgbm`` pulls scikit-learn, SciPy and pandas whenever they are installed (about a
second and 100 MB), which the agent cannot afford. The shared library that package ships is
found through ``importlib.util.find_spec`` (which does not run the package's ``__init__``) and
driven directly: load a text model, read its shape, predict batches, and predict one row through
the single-row fast API, which is the floor of the per-bucket model step.

Everything runs with one thread (``num_threads=1``): the engine handles one bucket at a time and
the agent shares the machine with the user's work.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import TaskclfError

C_API_DTYPE_FLOAT64 = 1
C_API_PREDICT_NORMAL = 0
_PREDICT_PARAMS = b"num_threads=1"

_LIB: ctypes.CDLL | None = None
_LIB_LOCK = threading.Lock()


class LightGBMError(TaskclfError):
    """LightGBM's C library refused something (its own message is included)."""


def _library_names() -> tuple[str, ...]:
    if sys.platform.startswith("win"):
        return ("lib_lightgbm.dll", "Release/lib_lightgbm.dll")
    if sys.platform == "darwin":
        return ("lib_lightgbm.dylib", "lib_lightgbm.so")
    return ("lib_lightgbm.so",)


def find_library() -> Path:
    """Path of ``lib_lightgbm`` next to the installed ``lightgbm`` package (not imported).

    ``TASKCLF_LIGHTGBM_LIB`` overrides the search (a frozen build ships the library itself).
    """
    override = os.environ.get("TASKCLF_LIGHTGBM_LIB")
    if override:
        p = Path(override)
        if p.is_file():
            return p
        raise LightGBMError(f"TASKCLF_LIGHTGBM_LIB={override!r} is not a file")
    spec = importlib.util.find_spec("lightgbm")
    roots: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        roots.extend(Path(p) for p in spec.submodule_search_locations)
    if getattr(sys, "frozen", False):  # PyInstaller: collected next to the executable
        roots.append(Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "lightgbm")
    for root in roots:
        for sub in ("lib", "", "bin"):
            for name in _library_names():
                cand = root / sub / name if sub else root / name
                if cand.is_file():
                    return cand
    raise LightGBMError("LightGBM's library (lib_lightgbm) was not found: install lightgbm")


def _declare(lib: ctypes.CDLL) -> None:
    vp, i32, i64, dp = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64, ctypes.POINTER(ctypes.c_double)
    ip = ctypes.POINTER(ctypes.c_int)
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    lib.LGBM_GetLastError.argtypes = []
    lib.LGBM_BoosterLoadModelFromString.argtypes = [ctypes.c_char_p, ip, ctypes.POINTER(vp)]
    lib.LGBM_BoosterGetNumClasses.argtypes = [vp, ip]
    lib.LGBM_BoosterGetNumFeature.argtypes = [vp, ip]
    lib.LGBM_BoosterGetFeatureNames.argtypes = [
        vp, ctypes.c_int, ip, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_char_p),
    ]
    lib.LGBM_BoosterPredictForMat.argtypes = [
        vp, vp, ctypes.c_int, i32, i32, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        ctypes.c_char_p, ctypes.POINTER(i64), dp,
    ]
    lib.LGBM_BoosterPredictForMatSingleRowFastInit.argtypes = [
        vp, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, i32, ctypes.c_char_p,
        ctypes.POINTER(vp),
    ]
    lib.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [vp, vp, ctypes.POINTER(i64), vp]
    lib.LGBM_FastConfigFree.argtypes = [vp]
    lib.LGBM_BoosterFree.argtypes = [vp]
    for fn in (
        lib.LGBM_BoosterLoadModelFromString, lib.LGBM_BoosterGetNumClasses,
        lib.LGBM_BoosterGetNumFeature, lib.LGBM_BoosterGetFeatureNames,
        lib.LGBM_BoosterPredictForMat, lib.LGBM_BoosterPredictForMatSingleRowFastInit,
        lib.LGBM_BoosterPredictForMatSingleRowFast, lib.LGBM_FastConfigFree, lib.LGBM_BoosterFree,
    ):
        fn.restype = ctypes.c_int


def load_library() -> ctypes.CDLL:
    """The process-wide handle on ``lib_lightgbm`` (loaded once)."""
    global _LIB
    if _LIB is not None:
        return _LIB
    with _LIB_LOCK:
        if _LIB is None:
            path = find_library()
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise LightGBMError(f"cannot load {path}: {exc}") from None
            _declare(lib)
            _LIB = lib
    return _LIB


def _check(lib: ctypes.CDLL, rc: int, what: str) -> None:
    if rc != 0:
        msg = lib.LGBM_GetLastError() or b"unknown error"
        raise LightGBMError(f"LightGBM {what} failed: {msg.decode('utf-8', 'replace')}")


class CBooster:
    """A LightGBM booster loaded from model text, predicting with one thread.

    ``predict_row`` uses the single-row fast API with buffers allocated once, so one call costs
    little more than LightGBM's own tree walk. Not meant to be shared between threads while
    predicting (a lock guards the fast path anyway, cheaply).
    """

    def __init__(self, model_text: str) -> None:
        self._lib = lib = load_library()
        self._handle = ctypes.c_void_p()
        self._fast = ctypes.c_void_p()
        iters = ctypes.c_int(0)
        _check(
            lib,
            lib.LGBM_BoosterLoadModelFromString(
                model_text.encode("utf-8"), ctypes.byref(iters), ctypes.byref(self._handle)
            ),
            "model loading",
        )
        self.num_iterations = int(iters.value)
        n = ctypes.c_int(0)
        _check(lib, lib.LGBM_BoosterGetNumClasses(self._handle, ctypes.byref(n)), "num_class")
        self.num_class = int(n.value)
        _check(lib, lib.LGBM_BoosterGetNumFeature(self._handle, ctypes.byref(n)), "num_feature")
        self.num_feature = int(n.value)
        self.feature_names = self._feature_names()
        _check(
            lib,
            lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._handle, C_API_PREDICT_NORMAL, 0, -1, C_API_DTYPE_FLOAT64,
                self.num_feature, _PREDICT_PARAMS, ctypes.byref(self._fast),
            ),
            "fast predictor init",
        )
        self._out_len = ctypes.c_int64(0)
        self._out_len_ref = ctypes.byref(self._out_len)
        self._row_out = np.zeros(self.num_class, dtype=np.float64)
        self._row_out_ptr = self._row_out.ctypes.data
        self._fast_fn = lib.LGBM_BoosterPredictForMatSingleRowFast
        self._lock = threading.Lock()

    def _feature_names(self) -> tuple[str, ...]:
        lib = self._lib
        n = self.num_feature
        buf_len = 256
        while True:
            bufs = [ctypes.create_string_buffer(buf_len) for _ in range(n)]
            ptrs = (ctypes.c_char_p * n)(*[ctypes.cast(b, ctypes.c_char_p) for b in bufs])
            out_n = ctypes.c_int(0)
            need = ctypes.c_size_t(0)
            _check(
                lib,
                lib.LGBM_BoosterGetFeatureNames(
                    self._handle, n, ctypes.byref(out_n), buf_len, ctypes.byref(need), ptrs
                ),
                "feature names",
            )
            if need.value <= buf_len:
                return tuple(b.value.decode("utf-8") for b in bufs[: out_n.value])
            buf_len = int(need.value)

    def predict_row_into(self, row_ptr: int) -> np.ndarray:
        """Predict the float64 row at address ``row_ptr`` (``num_feature`` values).

        Returns the booster's internal output buffer (overwritten by the next call): the
        hot path copies what it needs from it.
        """
        with self._lock:
            rc = self._fast_fn(self._fast, row_ptr, self._out_len_ref, self._row_out_ptr)
        if rc != 0:
            _check(self._lib, rc, "prediction")
        return self._row_out

    def predict_row(self, row: np.ndarray) -> np.ndarray:
        """Class probabilities of one row (a fresh array)."""
        x = np.ascontiguousarray(row, dtype=np.float64)
        if x.shape != (self.num_feature,):
            raise ValueError(f"expected a row of {self.num_feature} values, got shape {x.shape}")
        return self.predict_row_into(x.ctypes.data).copy()

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, num_class) of a batch (N, num_feature)."""
        mat = np.ascontiguousarray(x, dtype=np.float64)
        if mat.ndim != 2 or mat.shape[1] != self.num_feature:
            raise ValueError(f"expected (N, {self.num_feature}) rows, got shape {mat.shape}")
        nrow = mat.shape[0]
        out = np.zeros(nrow * self.num_class, dtype=np.float64)
        if nrow == 0:
            return out.reshape(0, self.num_class)
        out_len = ctypes.c_int64(0)
        _check(
            self._lib,
            self._lib.LGBM_BoosterPredictForMat(
                self._handle, mat.ctypes.data, C_API_DTYPE_FLOAT64, nrow, self.num_feature, 1,
                C_API_PREDICT_NORMAL, 0, -1, _PREDICT_PARAMS, ctypes.byref(out_len),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            ),
            "batch prediction",
        )
        return out.reshape(nrow, self.num_class)

    def close(self) -> None:
        """Free the C objects (idempotent)."""
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        fast = getattr(self, "_fast", None)
        if fast is not None and fast.value:
            lib.LGBM_FastConfigFree(fast)
            self._fast = ctypes.c_void_p()
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            lib.LGBM_BoosterFree(handle)
            self._handle = ctypes.c_void_p()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self) -> Any:  # pragma: no cover - guard
        raise TypeError("CBooster cannot be pickled")
