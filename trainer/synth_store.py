"""Writing a synthetic history into a store: records, feature rows (the one builder), spans.

Also writes ``artifacts/synth/manifest.json`` in the home: the personas and realism knobs of
each user (which users were given the known miscalibration), so reports and tests can name them.
The true per-minute task is not stored (labels are what a user would have given).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.frame import Frame
from engine.schema import FEATURE_BUILDER_VERSION, SCHEMA_HASH_V2
from trainer.synth import SynthConfig, SynthDay, generate_day, make_users


def manifest(cfg: SynthConfig) -> dict[str, Any]:
    days = cfg.working_days()
    return {
        "seed": cfg.seed,
        "users": cfg.users,
        "days": cfg.days,
        "start": days[0].isoformat() if days else None,
        "end": days[-1].isoformat() if days else None,
        "personas": {
            u.user_id: {
                "persona": u.persona.name,
                "source": u.source,
                "start_minute": u.start_minute,
                "utc_offset_minutes": u.utc_offset_minutes,
                "ambiguity": u.ambiguity,
                "miscalibrated": u.miscalibrated,
                "typing_drift": round(u.typing_drift, 4),
                "new_app_day": u.new_app_day,
            }
            for u in make_users(cfg)
        },
    }


def write_synthetic(
    store: Any,
    cfg: SynthConfig,
    *,
    home: Path | None = None,
    progress: Callable[[str], None] | None = None,
    feature_rows: bool = True,
    keep_days: list[SynthDay] | None = None,
) -> dict[str, int]:
    """Generate and store the history; returns counts. Deterministic for a given config.

    ``keep_days`` (a list) receives the generated days. ``feature_rows=False`` stores only what the agent's sampler would (records and labels); the
    trainer then rebuilds the rows with the same builder, which is faster than storing them.
    """
    from engine.features import FeatureBuilder
    from engine.jsonio import atomic_write_json

    days = cfg.working_days()
    totals = {"records": 0, "feature_rows": 0, "spans": 0}
    for user in make_users(cfg):
        builder = FeatureBuilder(validate=False)
        n_records = n_spans = 0
        for i, d in enumerate(days):  # one day at a time: memory does not grow with the history
            day = generate_day(cfg, user, i, d)
            if keep_days is not None:
                keep_days.append(day)
            n_records += store.put_records(day.records)
            rows = [row for row in map(builder.push, day.records) if row is not None] if feature_rows else []
            _put_rows(store, rows)
            totals["feature_rows"] += len(rows)
            store.add_label_spans(day.spans)
            n_spans += len(day.spans)
        totals["records"] += n_records
        totals["spans"] += n_spans
        if progress:
            kind = f"{user.persona.name}, {user.source}{', miscalibrated' if user.miscalibrated else ''}"
            progress(f"  {user.user_id} ({kind}): {n_records:,} buckets, {n_spans:,} label spans")
    if home is not None:
        atomic_write_json(home / "artifacts" / "synth" / "manifest.json", manifest(cfg))
    return totals


def _put_rows(store: Any, rows: list[Any]) -> None:
    put_rows = getattr(store, "put_feature_rows", None)
    if put_rows is not None:
        put_rows(rows)
        return
    for row in rows:
        store.put_feature_row(
            user_id=row.user_id, device_id=row.device_id, bucket_start=row.bucket_start,
            session_id=row.session_id, schema_hash=SCHEMA_HASH_V2,
            feature_builder_version=FEATURE_BUILDER_VERSION, row=row.to_json(),
        )


def frame_from_days(days: list[SynthDay]) -> Frame:
    """The trainer's frame for generated days, built in memory with the one feature builder.

    The same rows ``dataset.load_frame`` rebuilds from a store holding these records and spans
    (a test checks it); the demo uses it to avoid reading back what it has just written.
    """
    from engine.features import FeatureBuilder
    from engine.frame_loader import _label_rows

    frames = []
    by_user: dict[str, list[SynthDay]] = {}
    for d in days:
        by_user.setdefault(d.user.user_id, []).append(d)
    for uid in sorted(by_user):
        udays = sorted(by_user[uid], key=lambda d: d.day)
        builder = FeatureBuilder(validate=False)
        rows: list[dict[str, Any]] = []
        starts: list[int] = []
        local: list[int] = []
        sessions: list[str | None] = []
        for d in udays:
            for rec in d.records:
                row = builder.push(rec)
                if row is None:
                    continue
                rows.append(row.features)  # type: ignore[arg-type]
                starts.append(int(row.bucket_start.timestamp()))
                local.append(d.day.toordinal())
                sessions.append(row.session_id)
        spans = [s for d in udays for s in d.spans]
        y, prov = _label_rows(starts, spans)
        frames.append(Frame.from_rows(rows, user_ids=[uid] * len(rows), bucket_starts=starts, local_days=local,
                                      session_ids=sessions, labels=y, provenance=prov))
    return Frame.concat(frames)
