"""Hot reload (spec 6.3, 4.3, 3.4): good policies are picked up, bad ones refused with the
reason while the previous engine keeps predicting, a deleted policy goes back to the rules."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.clock import ManualClock
from agent.engines import BuiltEngine
from agent.reload import PolicyWatcher
from agent.sampler import Sample
from engine.paths import last_good_policy_path, policy_path, store_path
from engine.policy import policy_for, write_policy
from engine.store import Store
from tests.agent_helpers import (
    FakeBackend,
    editor_sample,
    last_field,
    make_runtime,
    manual_runtime,
    run_for,
    wait_for,
)

T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


def browser_sample() -> Sample:
    s = editor_sample()
    return Sample(app_name="firefox", exe="firefox", wm_class=("Navigator", "firefox"),
                  title="docs - Mozilla Firefox", idle_seconds=0.1, locked=False, counts=s.counts)


def chat_sample() -> Sample:
    s = editor_sample()
    return Sample(app_name="slack", exe="slack", wm_class=("slack", "Slack"), title="general",
                  idle_seconds=0.1, locked=False, counts=s.counts)


def install_seed(home: Path, seed_dir: Path, *, threshold: float = 0.4) -> str:
    bundle = next((seed_dir / "models").iterdir())
    dest = home / "models" / bundle.name
    shutil.copytree(bundle, dest)
    cal = home / "artifacts" / "calibrator_store"
    shutil.copytree(seed_dir / "calibrator_store_temperature", cal)
    write_policy(home, policy_for(home, dest, cal, threshold))
    return bundle.name


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[BuiltEngine | None, str | None]] = []

    def __call__(self, built: BuiltEngine | None, error: str | None) -> None:
        self.calls.append((built, error))


def _watch(home: Path) -> tuple[PolicyWatcher, Recorder]:
    rec = Recorder()
    w = PolicyWatcher(home, submit=rec, interval=0.1)
    w.start()
    return w, rec


def test_no_policy_means_rules(home: Path) -> None:
    w, rec = _watch(home)
    try:
        wait_for(lambda: rec.calls)
        built, err = rec.calls[0]
        assert err is None and built is not None and built.kind == "rules"
    finally:
        w.stop()


def test_policy_changes_are_validated_refused_and_reverted(home: Path, seed_dir: Path) -> None:
    run_id = install_seed(home, seed_dir)
    w, rec = _watch(home)
    try:
        wait_for(lambda: rec.calls, timeout=30)
        built, err = rec.calls[-1]
        assert err is None and built is not None and built.model_id == run_id
        assert last_good_policy_path(home).read_bytes() == policy_path(home).read_bytes()
        good = policy_path(home).read_bytes()

        cases = {
            "garbage": b"{ this is not json",
            "wrong hash": good.replace(b'"a15f4751a947"', b'"000000000000"'),
            "escape": json.dumps({**json.loads(good), "model_dir": "../../etc"}).encode(),
        }
        for name, data in cases.items():
            n = len(rec.calls)
            policy_path(home).write_bytes(data)
            wait_for(lambda n=n: len(rec.calls) > n, timeout=30)  # type: ignore[misc]
            built, err = rec.calls[-1]
            assert built is None and err, name
            if name == "escape":
                assert "escapes" in err
            if name == "wrong hash":
                assert "hash" in err.lower()
        # the last good copy is untouched by refusals
        assert last_good_policy_path(home).read_bytes() == good

        n = len(rec.calls)
        policy_path(home).unlink()
        wait_for(lambda: len(rec.calls) > n, timeout=10)
        built, err = rec.calls[-1]
        assert err is None and built is not None and built.kind == "rules"
    finally:
        w.stop()


def test_refused_policy_at_start_runs_the_last_good_one(home: Path, seed_dir: Path) -> None:
    run_id = install_seed(home, seed_dir)
    shutil.copy(policy_path(home), last_good_policy_path(home))
    policy_path(home).write_text('{"policy_version": "v1"}')
    w, rec = _watch(home)
    try:
        wait_for(lambda: len(rec.calls) >= 2, timeout=30)
        built, err = rec.calls[0]
        assert built is not None and built.last_good_in_use and built.model_id == run_id
        assert rec.calls[1][0] is None and "model_dir" in (rec.calls[1][1] or "")
    finally:
        w.stop()


@pytest.mark.slow
def test_running_agent_keeps_predicting_with_the_previous_engine(home: Path, seed_dir: Path) -> None:
    run_id = install_seed(home, seed_dir)
    clock = ManualClock(T0)
    rt = manual_runtime(home, clock)
    rt.start()
    try:
        wait_for(lambda: rt.snapshot().model.kind == "model", timeout=30)
        assert rt.snapshot().model.model_id == run_id
        run_for(rt, clock, 60)
        assert last_field(rt, "model_id") == run_id
        policy_path(home).write_text("garbage")
        wait_for(lambda: rt.snapshot().model.policy_error, timeout=10)
        snap = rt.snapshot()
        assert snap.model.kind == "model" and snap.model.model_id == run_id
        run_for(rt, clock, 60)  # the next bucket: still the previous engine
        assert last_field(rt, "bucket_start") == "2026-03-02T09:01:00+00:00"
        assert last_field(rt, "model_id") == run_id
        policy_path(home).unlink()
        wait_for(lambda: rt.snapshot().model.kind == "rules", timeout=10)
        assert rt.snapshot().model.policy_error is None
        run_for(rt, clock, 60)  # the very next bucket comes from the rules
        assert last_field(rt, "bucket_start") == "2026-03-02T09:02:00+00:00"
        assert last_field(rt, "model_id") == "rules"
    finally:
        rt.stop()
    st = Store.open(store_path(home), readonly=True)
    preds = st.predictions()
    recs = list(st.records())
    st.close()
    assert [p.bucket_start for p in preds] == [r.bucket_start.isoformat() for r in recs], \
        "no bucket dropped or predicted twice across swaps"
    assert [p.model_id for p in preds] == [run_id, run_id, "rules", "rules"]


@pytest.mark.slow
def test_restart_rebuilds_state_with_the_model_like_batch_inference(home: Path,
                                                                    seed_dir: Path) -> None:
    """After a restart the first model engine is rebuilt from today's records, so its
    predictions continue exactly as one unbroken batch run over the same records would."""
    from engine.features import FeatureBuilder
    from engine.pipeline import Engine
    from engine.policy import load_policy

    install_seed(home, seed_dir)
    clock = ManualClock(T0)
    apps = [editor_sample(), browser_sample(), editor_sample(), chat_sample()]
    script = FakeBackend(lambda n: apps[(n // 90) % len(apps)])  # a new app every 90 ticks
    rt = manual_runtime(home, clock, script)
    rt.start()
    try:
        wait_for(lambda: rt.snapshot().model.kind == "model", timeout=30)
        rt.sync()
        run_for(rt, clock, 6 * 60)
    finally:
        rt.stop()
    clock.advance(30)
    rt2 = manual_runtime(home, clock, script)
    rt2.start()
    try:
        wait_for(lambda: rt2.snapshot().model.kind == "model", timeout=30)
        rt2.sync()
        blocks = rt2.snapshot().today_blocks
        assert blocks and blocks[0].start == "2026-03-02T09:00:00+00:00"  # rebuilt from the store
        run_for(rt2, clock, 6 * 60)
    finally:
        rt2.stop()
    st = Store.open(store_path(home), readonly=True)
    recs = list(st.records())
    stored = {p.bucket_start: p for p in st.predictions()}
    st.close()
    engine = Engine.from_loaded_policy(load_policy(home))
    builder = FeatureBuilder()
    batch = {}
    for rec in recs:
        row = builder.push(rec)
        assert row is not None
        p = engine.step(row.model_features(), user_id=rec.user_id, bucket_start=row.bucket_start,
                        session_id=row.session_id)
        batch[p.bucket_start] = p
    assert len(recs) == 7 + 6 and set(stored) == set(batch)  # 09:00-09:06, then 09:07-09:12
    assert all(p.model_id != "rules" for p in stored.values())
    for b, p in stored.items():
        assert p.smoothed_label == batch[b].smoothed_label, b
        assert p.probs == batch[b].probs, b
        assert p.session_id == batch[b].session_id, b


def test_taxonomy_edit_is_picked_up_and_a_broken_one_is_reported(home: Path) -> None:
    rt = make_runtime(home, bucket_seconds=1)
    rt.start()
    try:
        wait_for(lambda: rt.snapshot().model.kind == "rules", timeout=30)
        assert "Deep Work" not in rt.snapshot().taxonomy_colors
        (home / "taxonomy.toml").write_text(
            'version = "1"\n[[buckets]]\nname = "Deep Work"\n'
            'core_labels = ["Build", "Debug", "Write", "BreakIdle"]\ncolor = "#2E7D32"\n')
        wait_for(lambda: "Deep Work" in rt.snapshot().taxonomy_colors, timeout=10)
        wait_for(lambda: last_field(rt, "mapped_label") == "Deep Work",
                 timeout=10)
        assert rt.snapshot().taxonomy_warning is None
        (home / "taxonomy.toml").write_text("[[buckets]]\nname = 3\n")
        wait_for(lambda: rt.snapshot().taxonomy_warning, timeout=10)
        assert "taxonomy" in (rt.snapshot().taxonomy_warning or "")
    finally:
        rt.stop()


def test_new_bundle_is_probed_before_its_policy_arrives(home: Path, seed_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.bundle_probe as bp

    calls: list[Path] = []
    real = bp.probe_bundle

    def counting(bundle_dir: Path, timeout: float = 15.0) -> None:
        calls.append(Path(bundle_dir))
        real(bundle_dir, timeout)

    monkeypatch.setattr(bp, "probe_bundle", counting)
    monkeypatch.setattr("agent.reload.PRE_PROBE_SCAN_S", 0.1)
    (home / "models").mkdir()
    w, rec = _watch(home)
    try:
        wait_for(lambda: rec.calls)  # rules: no policy yet
        bundle = next((seed_dir / "models").iterdir())
        tmp = home / "models" / ".incoming"
        shutil.copytree(bundle, tmp)
        tmp.rename(home / "models" / bundle.name)  # the trainer renames bundles into place
        wait_for(lambda: w.preprobed == 1, timeout=30)
        assert len(calls) == 1
        cal = home / "artifacts" / "calibrator_store"
        shutil.copytree(seed_dir / "calibrator_store_temperature", cal)
        write_policy(home, policy_for(home, home / "models" / bundle.name, cal, 0.4))
        wait_for(lambda: rec.calls[-1][0] is not None and rec.calls[-1][0].kind == "model",
                 timeout=30)
        assert len(calls) == 1, "the policy's model was not probed a second time"
    finally:
        w.stop()
