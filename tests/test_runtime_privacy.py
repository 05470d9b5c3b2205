"""Privacy in the running agent (manual clock, scripted sampler): exclusions at sampling time,
"Forget the last hour" and "Never track this app" through the runtime, and no trace left."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import UTC, datetime
from pathlib import Path

from agent.clock import ManualClock
from agent.sampler import InputCounts, Sample
from engine.paths import store_path
from engine.store import Store
from tests.agent_helpers import FakeBackend, editor_sample, manual_runtime, run_for, start_manual
from tests.store_helpers import readable

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET_TITLE = "Zqx acquisition memo - confidential"


def zqx_sample(title: str = SECRET_TITLE) -> Sample:
    return Sample(app_name="Zqx Notes", exe="zqxnotes", wm_class=("zqxnotes", "Zqxnotes"), title=title,
                  idle_seconds=0.1, locked=False,
                  counts=InputCounts(keys=5, backspaces=1, shortcuts=0, clicks=1, scrolls=0, mouse_px=9.0))


def browser_sample(title: str) -> Sample:
    return Sample(app_name="firefox", exe="firefox", wm_class=("Navigator", "firefox"), title=title,
                  idle_seconds=0.1, locked=False,
                  counts=InputCounts(keys=2, backspaces=0, shortcuts=0, clicks=0, scrolls=0, mouse_px=1.0))


def script(*parts: tuple[int, Sample]) -> FakeBackend:
    """Each part: (ticks, sample); the last one repeats."""
    def at(n: int) -> Sample:
        for ticks, sample in parts:
            if n <= ticks:
                return sample
            n -= ticks
        return parts[-1][1]

    return FakeBackend(at)


def all_bytes(home: Path) -> bytes:
    """Every byte of the home but config.toml (the exclusion list names what it excludes)."""
    return b"".join(readable(p.read_bytes()) for p in sorted(home.rglob("*"))
                    if p.is_file() and p.name != "config.toml")


def title_hash(home: Path, title: str) -> bytes:
    key = (home / "title.key").read_bytes()
    return hmac.new(key, title.encode(), hashlib.sha256).hexdigest()[:16].encode()


def records(home: Path) -> list[object]:
    with Store.open(store_path(home), readonly=True) as st:
        return list(st.records())


def test_exclusions_apply_at_sampling_time(home: Path) -> None:
    (home / "config.toml").write_text('exclude_apps = ["zqxnotes"]\nexclude_titles = ["BANK"]\n')
    clock = ManualClock(T0)
    backend = script((60, zqx_sample()), (60, browser_sample("My bank account - Mozilla Firefox")),
                     (61, editor_sample()))
    rt = manual_runtime(home, clock, backend)
    start_manual(rt)
    try:
        run_for(rt, clock, 181)
    finally:
        rt.stop()
    r0, r1, r2 = records(home)[:3]
    assert {(s.app_id, s.title_hash, s.domain_category) for s in r0.segments} == {  # type: ignore[attr-defined]
        ("excluded", None, "non_browser")}
    assert math.isnan(r0.keys) and math.isnan(r0.clicks)  # type: ignore[attr-defined]
    ff = [s for s in r1.segments if s.app_id == "org.mozilla.firefox"]  # type: ignore[attr-defined]
    assert ff and all(s.title_hash is None and s.domain_category == "unknown" for s in ff)
    assert r1.keys > 0  # type: ignore[attr-defined]  # a dropped title still counts input
    assert all(s.title_hash is not None for s in r2.segments)  # type: ignore[attr-defined]
    data = all_bytes(home)
    assert b"zqxnotes" not in data and title_hash(home, SECRET_TITLE) not in data
    assert title_hash(home, "My bank account - Mozilla Firefox") not in data


def test_forget_last_hour_in_the_running_agent_leaves_no_trace(home: Path) -> None:
    clock = ManualClock(T0)
    rt = manual_runtime(home, clock, script((150, zqx_sample()), (1, editor_sample("after.txt - Code"))))
    start_manual(rt)
    try:
        run_for(rt, clock, 150)  # 2.5 minutes of the secret app; a bucket is open
        assert rt.snapshot().foreground_app == ("unknown.zqxnotes", "Zqx Notes")
        assert b"zqxnotes" in all_bytes(home)
        res = rt.forget_last(60)
        assert res.ok and res.message.startswith("Forgot the last 60 min: 2 min of activity"), res
        assert rt.snapshot().today_blocks == () and rt.snapshot().current_block is None
        run_for(rt, clock, 90)  # the open bucket (half secret) closes: it is not stored
    finally:
        rt.stop()
    recs = records(home)
    assert [r.bucket_start for r in recs] == [datetime(2026, 3, 2, 10, 3, tzinfo=UTC)]  # type: ignore[attr-defined]
    data = all_bytes(home)
    assert b"zqxnotes" not in data and b"Zqx" not in data
    assert title_hash(home, SECRET_TITLE) not in data


def test_never_track_this_app_from_the_running_agent(home: Path) -> None:
    clock = ManualClock(T0)
    rt = manual_runtime(home, clock, script((120, zqx_sample()), (60, editor_sample()),
                                            (1, zqx_sample("other title"))))
    start_manual(rt)
    try:
        run_for(rt, clock, 190)
        app = rt.snapshot().foreground_app
        assert app == ("com.microsoft.VSCode", "code")
        res = rt.exclude_app("unknown.zqxnotes")
        assert res.ok and res.message == "Zqx Notes is never tracked; forgot 2 min of activity with it in front"
        run_for(rt, clock, 120)
    finally:
        rt.stop()
    assert "unknown.zqxnotes" in (home / "config.toml").read_text()
    apps = [{s.app_id for s in r.segments} for r in records(home)]  # type: ignore[attr-defined]
    assert apps[0] == {"com.microsoft.VSCode"}
    assert {"excluded"} in apps  # what came after is recorded as excluded
    assert not any("unknown.zqxnotes" in a for a in apps)
    data = all_bytes(home)
    assert title_hash(home, SECRET_TITLE) not in data and title_hash(home, "other title") not in data
