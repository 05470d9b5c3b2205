"""Hot reload of ``models/inference_policy.json`` (spec 6.3, 4.3, 3.4).

A watcher thread stats the policy file twice a second (mtime, size, inode) and, when that
changes, hashes the content; a new content is validated completely, its model is probed in a
short-lived subprocess (LightGBM's C code may abort a process on a crafted model, so never ours)
and the engine is built here, off the hot path. The ready engine is handed to the runtime,
which swaps it in between two buckets. A refused policy keeps the old engine and reports why;
a deleted policy goes back to the rule baseline. After every successful load the policy is
copied to ``inference_policy.last_good.json``; at start, a refused policy falls back to that.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.engines import BuiltEngine
from engine.errors import ArtifactError, TaskclfError
from engine.paths import inside_home, last_good_policy_path, models_dir, policy_path
from engine.probe_record import probe_key, probe_once

log = logging.getLogger("taskclf.agent.reload")

Submit = Callable[[BuiltEngine | None, str | None], None]
TaxonomyLoader = Callable[[], tuple[Any, str | None]]

PROBE_TIMEOUT_S = 15.0
PRE_PROBE_SCAN_S = 2.0  # how often the models folder is listed for new bundles
MAX_POLICY_BYTES = 1024 * 1024


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


#: What a probe's verdict depends on (model.txt's sha256 and the LightGBM library): a model
#: that passed once, in this process or an earlier one (engine/probe_record.py), is not probed
#: again; a policy that only changes thresholds is picked up without a second probe.
_probe_key = probe_key


def _model_dir_of(home: Path, policy_file: Path) -> Path | None:
    """The bundle directory a policy names (None when the file is too broken to say)."""
    from engine.jsonio import read_json

    try:
        obj = read_json(policy_file, max_bytes=MAX_POLICY_BYTES)
    except TaskclfError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("model_dir"), str):
        return None
    return inside_home(home, obj["model_dir"], file=policy_file, field="model_dir")


def build_policy_engine(home: Path, policy_file: Path, taxonomy: Any, *,
                        probe_timeout: float = PROBE_TIMEOUT_S,
                        last_good: bool = False) -> BuiltEngine:
    """Validate ``policy_file`` fully, probe its model out of process, build the engine.

    Raises ``ArtifactError``/``TaskclfError`` with the one-line reason when refused.
    """
    from engine.pipeline import Engine
    from engine.policy import load_policy

    model_dir = _model_dir_of(home, policy_file)
    if model_dir is not None and model_dir.is_dir():
        probe_once(home, model_dir, timeout=probe_timeout)
    loaded = load_policy(home, path=policy_file)
    engine = Engine.from_loaded_policy(loaded, taxonomy=taxonomy)
    return BuiltEngine(engine=engine, kind="model", model_id=engine.model_id,
                       last_good_in_use=last_good, source="last_good" if last_good else "policy",
                       policy_raw=loaded.raw)


def build_override_engine(home: Path, model_dir: Path, calibrator_store: Path | None,
                          taxonomy: Any, *, probe_timeout: float = PROBE_TIMEOUT_S) -> BuiltEngine:
    """``infer online --model-dir M [--calibrator-store DIR]``: no policy for this run."""
    from engine.bundle import load_bundle
    from engine.calibrator_store import load_calibrator_store
    from engine.pipeline import Engine

    mdir = inside_home(home, model_dir, file=None, field="--model-dir")
    probe_once(home, mdir, timeout=probe_timeout)
    bundle = load_bundle(mdir)
    store = None
    if calibrator_store is not None:
        cdir = inside_home(home, calibrator_store, file=None, field="--calibrator-store")
        store = load_calibrator_store(cdir, bundle=bundle)
    engine = Engine.from_artifacts(bundle, store, taxonomy=taxonomy)
    return BuiltEngine(engine=engine, kind="model", model_id=engine.model_id, source="override")


class PolicyWatcher:
    def __init__(
        self,
        home: Path,
        *,
        submit: Submit,
        interval: float = 0.5,
        overrides: Any = None,
        taxonomy_loader: TaxonomyLoader | None = None,
        taxonomy_file: Callable[[], Path | None] | None = None,
        probe_timeout: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.home = Path(home)
        self.submit = submit
        self.interval = interval
        self.overrides = overrides
        self.taxonomy_loader = taxonomy_loader or (lambda: (None, None))
        self.taxonomy_file = taxonomy_file or (lambda: None)
        self._seen_taxonomy: tuple[int, int, int] | None = None
        self.probe_timeout = probe_timeout
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._force = False
        self._thread = threading.Thread(target=self._run, name="taskclf-policy", daemon=True)
        self._seen_stat: tuple[int, int, int] | None = None
        self._seen_hash: str | None = None
        self._have_policy = False
        self._known_bundles: set[str] | None = None  # bundle dirs present at start
        self._scan_at = 0.0
        self.preprobed = 0
        self.loads = 0  # successful swaps handed over (tests, benchmark)
        self.refusals = 0
        self.failures = 0  # steps that raised unexpectedly (logged; the loop carried on)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(2.0)

    def trigger(self) -> None:
        """"Reload now": re-validate the current file even if it did not change."""
        self._force = True
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        """Supervised: whatever a file on disk does to one step (an unexpected exception from
        a loader, a submit that fails), the step is logged and the loop goes on; the thread
        ends only when asked to."""
        if not self._guarded("initial engine load", self._initial):
            self._guarded("falling back to the rules", lambda: self.submit(self._rules(), None))
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._guarded("policy check", functools.partial(self._check, force=self._force))
            self._force = False
            self._guarded("probing a new bundle", self._preprobe_new_bundles)

    def _guarded(self, what: str, step: Callable[[], None]) -> bool:
        try:
            step()
        except Exception:
            self.failures += 1
            log.exception("%s failed; the policy watcher carries on", what)
            return False
        return True

    def _rules(self) -> BuiltEngine:
        from agent.engines import day_one, day_one_kind_of

        tax, _ = self.taxonomy_loader()
        engine = day_one(tax)
        kind = day_one_kind_of(engine)
        return BuiltEngine(engine=engine, kind=kind, model_id=engine.model_id if kind == "starter" else None,
                           source="none")

    def _taxonomy_changed(self) -> bool:
        path = self.taxonomy_file()
        key = _stat_key(path) if path is not None else None
        changed = key != self._seen_taxonomy
        self._seen_taxonomy = key
        return changed

    def _bundle_dirs(self) -> set[str]:
        try:
            with os.scandir(models_dir(self.home)) as it:
                return {e.name for e in it if e.is_dir(follow_symlinks=False)}
        except OSError:
            return set()

    def _preprobe_new_bundles(self) -> None:
        """Probe a bundle as soon as the trainer puts it in place: the policy that points to
        it comes later (after calibration and threshold tuning) and is then picked up without
        waiting for the probe. Bundles present at start are probed only when a policy uses
        them."""
        now = time.monotonic()
        if now - self._scan_at < PRE_PROBE_SCAN_S:
            return
        self._scan_at = now
        names = self._bundle_dirs()
        if self._known_bundles is None:
            self._known_bundles = names
            return
        for name in sorted(names - self._known_bundles):
            bdir = models_dir(self.home) / name
            if not (bdir / "model.txt").is_file() or not (bdir / "metadata.json").is_file():
                continue  # still being written (bundles are renamed into place complete)
            self._known_bundles.add(name)
            try:
                probed = probe_once(self.home, bdir.resolve(), timeout=self.probe_timeout)
            except TaskclfError as exc:
                log.info("new bundle %s did not pass the probe: %s", name, exc)
                continue
            self.preprobed += probed

    def _initial(self) -> None:
        self._known_bundles = self._bundle_dirs()
        self._taxonomy_changed()
        if self.overrides is not None and getattr(self.overrides, "model_dir", None) is not None:
            tax, _ = self.taxonomy_loader()
            try:
                built = build_override_engine(
                    self.home, Path(self.overrides.model_dir),
                    Path(self.overrides.calibrator_store) if self.overrides.calibrator_store else None,
                    tax, probe_timeout=self.probe_timeout,
                )
            except TaskclfError as exc:
                self.refusals += 1
                self.submit(None, str(exc))
                return
            self.loads += 1
            self.submit(built, None)
            return
        path = policy_path(self.home)
        self._seen_stat = _stat_key(path)
        if self._seen_stat is None:
            self.submit(self._rules(), None)  # no policy: the rule baseline
            return
        self._seen_hash = self._hash(path)
        tax, _ = self.taxonomy_loader()
        try:
            built = build_policy_engine(self.home, path, tax, probe_timeout=self.probe_timeout)
        except TaskclfError as exc:
            reason = str(exc)
            log.warning("inference policy refused: %s", reason)
            self.refusals += 1
            fallback = self._last_good(tax)
            if fallback is not None:
                self.loads += 1
                self._have_policy = True
                self.submit(fallback, None)
            self.submit(None, reason)
            return
        self._accept(path, built)

    def _last_good(self, tax: Any) -> BuiltEngine | None:
        lg = last_good_policy_path(self.home)
        if not lg.exists():
            return None
        try:
            return build_policy_engine(self.home, lg, tax, probe_timeout=self.probe_timeout,
                                       last_good=True)
        except TaskclfError as exc:
            log.warning("the last good policy is not usable either: %s", exc)
            return None

    def _hash(self, path: Path) -> str | None:
        from engine.jsonio import read_bounded_bytes

        try:
            return hashlib.sha256(read_bounded_bytes(path, MAX_POLICY_BYTES)).hexdigest()
        except TaskclfError as exc:  # refused again, with this reason, when it is loaded
            return f"unreadable: {exc}"

    def _check(self, *, force: bool = False) -> None:
        if self._taxonomy_changed():
            log.info("taxonomy changed: rebuilding the engine with it")
            force = True
        if self.overrides is not None:
            if force:
                self._initial()
            return
        path = policy_path(self.home)
        st = _stat_key(path)
        if st == self._seen_stat and not force:
            return
        self._seen_stat = st
        if st is None:
            self._seen_hash = None
            if self._have_policy or force:
                log.info("inference policy removed: back to the rule baseline")
                self._have_policy = False
                self.submit(self._rules(), None)
            return
        digest = self._hash(path)
        if digest == self._seen_hash and not force:
            return
        self._seen_hash = digest
        tax, _ = self.taxonomy_loader()
        try:
            built = build_policy_engine(self.home, path, tax, probe_timeout=self.probe_timeout)
        except TaskclfError as exc:
            self.refusals += 1
            log.warning("inference policy refused, the previous engine stays: %s", exc)
            self.submit(None, str(exc))
            return
        except Exception as exc:  # anything unexpected is a refusal too, never a crash
            self.refusals += 1
            log.exception("inference policy could not be loaded")
            self.submit(None, f"policy could not be loaded ({type(exc).__name__})")
            return
        self._accept(path, built)

    def _accept(self, path: Path, built: BuiltEngine) -> None:
        try:
            from engine.jsonio import atomic_write_bytes, read_bounded_bytes

            data = (built.policy_raw if built.policy_raw is not None
                    else read_bounded_bytes(path, MAX_POLICY_BYTES))
            atomic_write_bytes(last_good_policy_path(self.home), data, mode=0o600)
        except TaskclfError as exc:
            log.warning("could not keep a last-good copy of the policy: %s", exc)
        except OSError as exc:
            log.warning("could not keep a last-good copy of the policy: %s", exc.strerror)
        self.loads += 1
        self._have_policy = True
        self.submit(built, None)


__all__ = ["ArtifactError", "PolicyWatcher", "build_override_engine", "build_policy_engine"]
