"""Guards against a malformed model.txt before LightGBM's C code sees it (spec 3.2).

A corrupt tree can abort the process (an out-of-range child index) or hang prediction (a cycle)
inside LightGBM. ``check_model_text`` (engine/model_text.py) checks in pure Python everything
LightGBM's parser reads; ``probe_bundle`` then
loads the bundle and predicts a few rows in a short-lived subprocess with a timeout, so only a
bundle that survives both is ever loaded into a long-running process.

Run as ``python -m engine.bundle_probe DIR`` (what ``probe_bundle`` does): exit 0 and ``ok`` when
the bundle loads and predicts finite probabilities, else exit 1 with the reason on stderr.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.errors import ArtifactError, TaskclfError
from engine.model_text import check_model_text

__all__ = ["check_model_text", "probe_bundle", "probe_command", "run_frozen_probe"]

#: The argument a frozen (PyInstaller) executable takes to run the probe: a frozen app's
#: ``sys.executable`` is the app itself, which cannot run ``-m engine.bundle_probe``.
FROZEN_PROBE_FLAG = "--probe-bundle"


def probe_command(bundle_dir: Path) -> list[str]:
    """The subprocess command that probes ``bundle_dir``, frozen or not."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_PROBE_FLAG, str(bundle_dir)]
    return [sys.executable, "-m", "engine.bundle_probe", str(bundle_dir)]


def run_frozen_probe(argv: list[str]) -> int | None:
    """Entry hook for frozen executables: run the probe when asked to, else return None."""
    if argv[:1] == [FROZEN_PROBE_FLAG]:
        return _probe_main(argv[1:])
    return None


def probe_bundle(bundle_dir: Path, timeout: float = 15.0) -> None:
    """Load and predict ``bundle_dir`` in a short-lived subprocess; raise ``ArtifactError`` if it
    fails, crashes or does not answer within ``timeout`` seconds."""
    bundle_dir = Path(bundle_dir)
    try:
        proc = subprocess.run(
            probe_command(bundle_dir),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    except subprocess.TimeoutExpired:
        raise ArtifactError(bundle_dir, None, f"model did not answer within {timeout:g} s") from None
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return
    if proc.returncode < 0:
        raise ArtifactError(bundle_dir, None, f"loading the model crashed (signal {-proc.returncode})")
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    reason = lines[-1] if lines else f"probe exited with status {proc.returncode}"
    raise ArtifactError(bundle_dir, None, f"probe failed: {reason}")


def _probe_main(argv: list[str]) -> int:
    import numpy as np

    from engine.bundle import load_bundle

    if len(argv) != 1:
        print("usage: python -m engine.bundle_probe BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        bundle = load_bundle(Path(argv[0]))
        rows = [
            bundle.encode({}),
            np.zeros(len(bundle.feature_names)),
            np.full(len(bundle.feature_names), np.nan),
            np.linspace(-5.0, 500.0, len(bundle.feature_names)),
        ]
        batch = bundle.predict_raw(np.vstack(rows))
        single = np.vstack([bundle.predict_raw(r) for r in rows])
        for p in (batch, single):
            if not np.all(np.isfinite(p)) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
                raise ArtifactError(bundle.path, None, "model predicts non-finite or unnormalised probabilities")
        if not np.allclose(batch, single, atol=1e-12):
            raise ArtifactError(bundle.path, None, "batch and single-row predictions differ")
    except TaskclfError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
