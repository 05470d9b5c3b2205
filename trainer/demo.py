"""``taskclf demo``: the whole offline pipeline from nothing, in about a minute (spec 5.8).

Synthetic multi-user history -> train -> calibrate -> tune -> policy -> replay one held-out day
per user through the online engine exactly as the agent would (records -> the one feature
builder -> ``Engine.from_loaded_policy``), printing a per-hour timeline and the report path.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from engine.errors import TaskclfError
from engine.labels import MIXED_UNKNOWN

#: One character per minute in the timeline.
LETTERS = {
    "Build": "B",
    "Debug": "D",
    "Review": "V",
    "Write": "W",
    "ReadResearch": "R",
    "Communicate": "C",
    "Meet": "M",
    "BreakIdle": ".",
    MIXED_UNKNOWN: "?",
}


class _Clock:
    def __init__(self, out: TextIO) -> None:
        self.t0 = time.monotonic()
        self.out = out

    def say(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:5.1f}s] {msg}", file=self.out, flush=True)


def timeline(records: list[Any], offset_minutes: int) -> list[str]:
    """Lines ``HH:00 |<60 letters>| top labels`` for the hours the records cover (local time)."""
    by_minute: dict[datetime, str] = {}
    for r in records:
        t = datetime.fromisoformat(r.bucket_start) + timedelta(minutes=offset_minutes)
        by_minute[t.replace(tzinfo=None)] = r.smoothed_label
    if not by_minute:
        return []
    first = min(by_minute).replace(minute=0, second=0)
    last = max(by_minute)
    lines = []
    h = first
    while h <= last:
        strip = []
        counts: Counter[str] = Counter()
        for m in range(60):
            lab = by_minute.get(h + timedelta(minutes=m))
            strip.append(" " if lab is None else LETTERS.get(lab, "?"))
            if lab is not None:
                counts[lab] += 1
        top = ", ".join(f"{lab} {n}m" for lab, n in counts.most_common(2))
        lines.append(f"  {h:%H}:00 |{''.join(strip)}| {top}")
        h += timedelta(hours=1)
    return lines


def replay_day(home: Path, store: Any, loaded: Any, user: str, day: date) -> tuple[list[Any], int]:
    """The user's records of one local day -> feature builder -> engine, through
    ``engine.stream`` as the agent does (warmed with the session running at midnight)."""
    from engine.pipeline import Engine
    from engine.sessions import resume_index
    from engine.stream import local_day, stream
    from trainer.infer_batch import load_taxonomy_or_identity

    lo = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=18)
    hi = lo + timedelta(hours=60)
    recs = list(store.records(user_id=user, start=lo - timedelta(hours=24), end=hi))
    today = [i for i, r in enumerate(recs) if local_day(r) == day]
    if not today:
        return [], 0
    first, last = today[0], today[-1]
    emit_from, offset = recs[first].bucket_start, recs[first].utc_offset_minutes
    recs = recs[resume_index(recs[:first + 1]):last + 1]
    engine = Engine.from_loaded_policy(loaded, load_taxonomy_or_identity(home))
    out = []
    for st in stream(recs, engine, emit_from=emit_from):
        if st.record is None or local_day(st.record) != day:
            continue
        store.put_prediction(st.record.device_id, st.prediction)
        out.append(st.prediction)
    return out, offset


def agreement(records: list[Any], spans: list[Any]) -> tuple[int, int, int]:
    """(labelled buckets, of which the smoothed label matches, of which rejected)."""
    from engine.spans import label_for_bucket

    n = ok = rej = 0
    for r in records:
        start = datetime.fromisoformat(r.bucket_start)
        s = label_for_bucket(spans, start, start + timedelta(seconds=60))
        if s is None:
            continue
        n += 1
        ok += r.smoothed_label == s.label
        rej += r.smoothed_label == MIXED_UNKNOWN
    return n, ok, rej


def run_demo(
    home: Path | None = None,
    *,
    users: int = 6,
    days: int = 20,
    seed: int = 0,
    out: TextIO = sys.stdout,
) -> int:
    from engine.paths import ensure_home, store_path
    from engine.policy import load_policy
    from engine.store import Store
    from trainer.gate_text import failed_in_plain_words
    from trainer.synth import SynthConfig
    from trainer.synth_store import frame_from_days, write_synthetic
    from trainer.workflow import bundle_split, train_all

    if days < 10:
        raise TaskclfError("--days: the demo needs at least 10 working days per user")
    if not 2 <= users <= 50:
        raise TaskclfError("--users: must be within 2..50")
    clock = _Clock(out)
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="taskclf-demo-")).resolve()
    elif store_path(home).exists():
        raise TaskclfError(f"{home}: already has a store; the demo needs an empty home (or no --home)")
    ensure_home(home)
    print(f"taskclf demo in {home}", file=out)
    clock.say(f"1/5 generating {users} synthetic users x {days} working days "
              "(personas, semi-Markov tasks, noisy partial labels)")
    cfg = SynthConfig(users=users, days=days, seed=seed)
    generated: list[Any] = []
    with Store.open(store_path(home)) as store:
        totals = write_synthetic(store, cfg, home=home, progress=lambda m: clock.say(m.strip()),
                                 feature_rows=False, keep_days=generated)
    clock.say(f"    {totals['records']:,} buckets and {totals['spans']:,} label spans stored in {store_path(home)}")
    clock.say("2/5 building feature rows with the engine's feature builder")
    frame = frame_from_days(generated)
    del generated
    clock.say(f"    {len(frame):,} rows, {int((frame.y >= 0).sum()):,} labelled")
    clock.say("3/5 train -> calibrate -> tune reject -> policy -> evaluate")
    res = train_all(home, frame, seed=seed, data_provenance="synthetic", progress=lambda m: clock.say("    " + m))
    clock.say("4/5 replaying one held-out day per user through the online engine")
    loaded = load_policy(home)
    split = bundle_split(loaded.bundle)
    with Store.open(store_path(home)) as store:
        for user in sorted(split.days if split else []):
            test_days = split.days[user].get("test", []) if split else []
            if not test_days:
                continue
            day = test_days[-1]
            preds, offset = replay_day(home, store, loaded, user, day)
            n, ok, rej = agreement(preds, store.label_spans(user_id=user))
            thr = loaded.policy.per_user_reject_thresholds or {}
            print(f"\n{user}  {day} ({day:%A})  threshold {thr.get(user, loaded.policy.reject_threshold):.2f}"
                  f"  agreement with the user's labels {ok / n if n else 0:.0%} of {n} labelled minutes"
                  f" ({rej} shown as Mixed/Unknown)", file=out)
            for line in timeline(preds, offset):
                print(line, file=out)
    legend = "  ".join(f"{c}={lab}" for lab, c in LETTERS.items())
    print(f"\n  legend: {legend}", file=out)
    ev = res.report["evaluation"]
    clock.say("5/5 quality gates (test days, through the engine)")
    for name, g in ev["gates"].items():
        v = g["value"]
        vs = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        print(f"  {g['status']:4}  {name:34} {vs:>8}  ({g['threshold']})", file=out)
    failed = failed_in_plain_words(ev["gates"])
    if failed:
        print("\n  What did not meet its target, in plain words:", file=out)
        for line in failed:
            print(f"  - {line}", file=out)
        print("  The demo still finished: a failed gate says this synthetic model is not good "
              "enough on that point; the report shows the numbers behind it.", file=out)
    print(f"\npolicy: {res.policy_path}\nreport: {res.report_dir / 'report.md'}", file=out)
    clock.say("done")
    print(f"\nThe demo's home is kept in {home}\n"
          f"  see its model in the tray:  taskclf tray --home {home}\n"
          f"  remove it:                  rm -rf {home}", file=out)
    return 0
