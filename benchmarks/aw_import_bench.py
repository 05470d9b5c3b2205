"""ActivityWatch import: time and peak memory for a long history.

    python3 benchmarks/aw_import_bench.py [--days 365] [--hours-per-day 24] [--json]

Writes an ``/api/0/export`` file of ``--days`` days of a window watcher polling every second
(heartbeats merged by aw-server into events: the window changes every 5-120 s, seeded), an AFK
watcher and, with ``--input``, an input watcher (one event per active second, merged zero events
while idle; ActivityWatch does not install one by default), then
runs, each in its own process so peak RSS is its own:

* reference: ``json.load`` of the whole file (what a non-streaming reader would hold);
* import: ``taskclf import activitywatch FILE`` into an empty home (stream, sort on disk,
  replay every second through the agent's aggregator, store).

Figures: file size, events, wall time, seconds replayed per second, peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 1, 6, tzinfo=UTC).timestamp()
APPS = [("Code", "{f}.py - acme - Visual Studio Code"), ("Gnome-terminal", "me@box: ~/acme"),
        ("firefox", "Issue #{n} · acme/api · GitHub — Mozilla Firefox"),
        ("firefox", "{f} — Python 3.12 documentation — Mozilla Firefox"),
        ("Slack", "Slack | #team-{n} | Acme"), ("obsidian", "notes-{n} - vault - Obsidian")]
FILES = ["billing", "models", "views", "tests", "sender", "retry", "api", "cli"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _event(ts: float, dur: float, data: dict[str, object]) -> str:
    return json.dumps({"timestamp": _iso(ts), "duration": dur, "data": data})


def write_export(path: Path, days: int, hours_per_day: float, seed: int = 1,
                 with_input: bool = False) -> dict[str, int]:
    """Stream a synthetic export to ``path`` (oldest first within each bucket; order does not
    matter to the import). Returns the event counts."""
    rng = random.Random(seed)
    counts = {"window": 0, "afk": 0, "input": 0}
    span = hours_per_day * 3600
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"buckets": {')
        buckets = [("aw-watcher-window_box", "currentwindow"), ("aw-watcher-afk_box", "afkstatus")]
        if with_input:
            buckets.append(("aw-watcher-input_box", "os.hid.input"))
        for n, (bid, btype) in enumerate(buckets):
            f.write(("," if n else "") + json.dumps(bid) + ': {"id": ' + json.dumps(bid)
                    + ', "type": "' + btype + '", "hostname": "box", "client": "bench", '
                    '"created": "' + _iso(T0) + '", "events": [')
            first = True
            rng.seed(seed)  # the same day plan for the three watchers
            for d in range(days):
                t = T0 + d * 86400
                end = t + span
                while t < end:
                    dur = min(end - t, float(rng.randint(5, 120)))
                    app, title = APPS[rng.randrange(len(APPS))]
                    title = title.format(f=rng.choice(FILES), n=rng.randint(1, 400))
                    away = rng.random() < 0.08
                    if btype == "currentwindow":
                        out = [_event(t, dur, {"app": app, "title": title})]
                    elif btype == "afkstatus":
                        out = [_event(t, dur, {"status": "afk" if away else "not-afk"})]
                    else:
                        out = ([_event(t, dur, {"presses": 0, "clicks": 0, "deltaX": 0,
                                                "deltaY": 0, "scrollX": 0, "scrollY": 0})]
                               if away else
                               [_event(t + k, 1.0, {"presses": rng.randint(0, 9), "clicks": k % 2,
                                                    "deltaX": 20, "deltaY": 7, "scrollX": 0,
                                                    "scrollY": k % 3})
                                for k in range(int(dur))])
                    for e in out:
                        f.write(("" if first else ",") + e)
                        first = False
                    counts[{"currentwindow": "window", "afkstatus": "afk"}.get(btype, "input")] \
                        += len(out)
                    t += dur
            f.write("]}")
        f.write("}}")
    return counts


REFERENCE = "import json, sys; json.load(open(sys.argv[1], 'rb'))"


def _run(cmd: list[str], env: dict[str, str], tmp: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of this child alone (wait4), its stdout."""
    out_path, err_path = tmp / "out.txt", tmp / "err.txt"
    start = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed: {err_path.read_text()[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0, out_path.read_text()


def run(days: int, hours_per_day: float, with_input: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aw-bench-") as tmp:
        path = Path(tmp) / "export.json"
        t = time.perf_counter()
        counts = write_export(path, days, hours_per_day, with_input=with_input)
        gen_s = time.perf_counter() - t
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
        env.pop("TASKCLF_HOME", None)
        import_wall, import_rss, report = _run(
            [sys.executable, "-m", "engine.cli.main", "--home", str(Path(tmp) / "home"),
             "import", "activitywatch", str(path), "--quiet"], env, Path(tmp))
        ref_wall, ref_rss, _ = _run([sys.executable, "-c", REFERENCE, str(path)], env, Path(tmp))
        seconds = days * hours_per_day * 3600
        return {
            "days": days, "hours_per_day": hours_per_day, "input_watcher": with_input,
            "file_mib": round(path.stat().st_size / 2**20, 1),
            "events": counts, "generate_s": round(gen_s, 1),
            "import": {"wall_s": round(import_wall, 1), "peak_rss_mib": round(import_rss, 1),
                       "replayed_s_per_s": round(seconds / import_wall)},
            "reference_json_load": {"wall_s": round(ref_wall, 1),
                                    "peak_rss_mib": round(ref_rss, 1)},
            "report": report.strip().splitlines(),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--hours-per-day", type=float, default=24.0)
    p.add_argument("--input", action="store_true",
                   help="add an aw-watcher-input bucket (one event per active second)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res = run(args.days, args.hours_per_day, args.input)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    ev = res["events"]
    imp, ref = res["import"], res["reference_json_load"]
    print(f"ActivityWatch export: {res['days']} days x {res['hours_per_day']:g} h of 1 s "
          f"heartbeats, {res['file_mib']} MiB, {ev['window']} window / {ev['afk']} AFK / "
          f"{ev['input']} input events (generated in {res['generate_s']} s)")
    print(f"{'step':<34}{'wall s':>10}{'peak RSS MiB':>15}")
    print(f"{'taskclf import activitywatch':<34}{imp['wall_s']:>10}{imp['peak_rss_mib']:>15}")
    print(f"{'reference: json.load (in memory)':<34}{ref['wall_s']:>10}{ref['peak_rss_mib']:>15}")
    print(f"import replays {imp['replayed_s_per_s']} seconds of history per second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
