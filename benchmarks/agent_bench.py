"""Agent footprint: the headless agent on a virtual X server with scripted activity.

    python3 benchmarks/agent_bench.py [--minutes 10] [--json]

Starts Xvfb + openbox, two test windows, and ``taskclf agent --headless --backend x11`` with
the real settings (1 Hz sampling, 60 s buckets), while xdotool types, moves the mouse and
switches windows every few seconds. Reports:

- average CPU % of one core over the run (after a 10 s warm-up) and per-minute maxima,
- peak and steady resident memory (steady = median over the second half of the run),
- the modules the agent process imported (no scikit-learn / SciPy / pandas / lightgbm package),
- policy pickup latency: seconds from writing ``models/inference_policy.json`` (pointing at the
  seed bundle, first time: includes the out-of-process probe) to the agent running it, from
  replacing it with garbage to the refusal being reported, and from restoring it to the model
  running again (the probe is cached),
- buckets stored vs predicted (no bucket dropped or predicted twice across the swaps),
- for reference, the time of one model probe subprocess and the machine's load average (the
  machines are shared; the first pickup is mostly that probe).

Targets (spec 7.2): < 1 % CPU, < 120 MB RSS, pickup < 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = ROOT / "tests" / "fixtures" / "seed-project-v2"
HEAVY = ("sklearn", "scipy", "pandas", "lightgbm")

# Runs the agent exactly like the console script, then writes the top-level modules it imported.
WRAPPER = """
import atexit, json, os, sys
def _dump():
    with open(os.environ["TASKCLF_BENCH_MODULES"], "w") as fh:
        json.dump(sorted({m.split(".")[0] for m in sys.modules}), fh)
atexit.register(_dump)
from engine.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


class Session:
    """The e2e tests' X session (Xvfb + openbox) with two windows to switch between."""

    def __init__(self) -> None:
        from tests.e2e.xsession import missing_prerequisites, open_session

        missing = missing_prerequisites()
        if missing:
            raise SystemExit(f"agent_bench: {', '.join(missing)} required")
        try:
            self.x = open_session()
        except RuntimeError as exc:
            raise SystemExit(f"agent_bench: {exc}") from None
        self.env = self.x.env
        self.windows = [self.x.window("code", "Code", "bench.py - Visual Studio Code"),
                        self.x.window("gnome-terminal-server", "Gnome-terminal", "bash")]

    def xdotool(self, *args: str) -> None:
        self.x.xdotool(*args)

    def close(self) -> None:
        self.x.close()


def _activity(sess: Session, stop: threading.Event) -> None:
    """A user who types, moves the mouse and switches windows every few seconds."""
    rng = random.Random(7)
    while not stop.wait(rng.uniform(2.0, 6.0)):
        wid = rng.choice(sess.windows)
        sess.xdotool("windowactivate", wid)
        sess.xdotool("type", "--delay", "60", "".join(rng.choice("abcdef ") for _ in range(8)))
        sess.xdotool("mousemove", "--window", wid, str(rng.randint(10, 390)),
                     str(rng.randint(10, 290)))


def _install_seed(home: Path) -> tuple[bytes, str]:
    from engine.jsonio import dumps
    from engine.policy import policy_for

    bundle = next((SEED / "models").iterdir())
    dest = home / "models" / bundle.name
    shutil.copytree(bundle, dest)
    cal = home / "artifacts" / "calibrator_store"
    shutil.copytree(SEED / "calibrator_store_temperature", cal)
    pol = policy_for(home, dest, cal, 0.4)
    return dumps(pol.to_json()).encode(), bundle.name


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run(minutes: float) -> dict[str, Any]:
    import psutil

    from engine.paths import policy_path, store_path
    from engine.store import Store

    sess = Session()
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    home = tmp / "home"
    home.mkdir(mode=0o700)
    policy_bytes, run_id = _install_seed(home)
    from engine.bundle_probe import probe_bundle

    t = time.monotonic()
    probe_bundle(next((home / "models").iterdir()))
    probe_s = time.monotonic() - t
    modules_file = tmp / "modules.json"
    env = dict(sess.env, TASKCLF_BENCH_MODULES=str(modules_file))
    agent = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, "--home", str(home), "agent", "--headless",
         "--backend", "x11"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def reader() -> None:
        assert agent.stdout is not None
        for line in agent.stdout:
            lines.put((time.monotonic(), line.rstrip("\n")))

    threading.Thread(target=reader, daemon=True).start()
    stop = threading.Event()
    threading.Thread(target=_activity, args=(sess, stop), daemon=True).start()
    proc = psutil.Process(agent.pid)

    def wait_line(pred: Any, timeout: float = 30.0, after: float = 0.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                t, line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if t >= after and pred(line):
                return t
        return None

    started = wait_line(lambda ln: ln.startswith("# engine:"), 60)
    if started is None:
        agent.kill()
        sess.close()
        raise SystemExit("agent_bench: the agent did not start: " + (agent.stderr.read() if agent.stderr else ""))
    time.sleep(10)  # warm-up: imports, first sample, X RECORD thread
    pickups: dict[str, float | None] = {}
    ppath = policy_path(home)
    t = time.monotonic()
    _atomic_write(ppath, policy_bytes)
    done = wait_line(lambda ln: ln == f"# engine: {run_id}", after=t)
    pickups["new_model"] = None if done is None else done - t
    time.sleep(3)
    t = time.monotonic()
    _atomic_write(ppath, b"{ garbage")
    done = wait_line(lambda ln: ln.startswith("# policy refused"), after=t)
    pickups["refusal"] = None if done is None else done - t
    time.sleep(3)
    t = time.monotonic()
    _atomic_write(ppath, policy_bytes)
    done = wait_line(lambda ln: ln == f"# engine: {run_id}", after=t)
    pickups["restore"] = None if done is None else done - t

    cpu0 = proc.cpu_times()
    t0 = time.monotonic()
    rss: list[tuple[float, float]] = []
    per_minute: list[float] = []
    last_cpu, last_t = cpu0.user + cpu0.system, t0
    end = t0 + minutes * 60
    while time.monotonic() < end:
        time.sleep(1.0)
        now = time.monotonic()
        rss.append((now - t0, proc.memory_info().rss / 1e6))
        if now - last_t >= 60:
            c = proc.cpu_times()
            per_minute.append(100.0 * (c.user + c.system - last_cpu) / (now - last_t))
            last_cpu, last_t = c.user + c.system, now
    cpu1 = proc.cpu_times()
    wall = time.monotonic() - t0
    stop.set()
    agent.send_signal(2)
    try:
        agent.wait(30)
    except subprocess.TimeoutExpired:
        agent.kill()
    sess.close()

    modules = json.loads(modules_file.read_text()) if modules_file.exists() else []
    st = Store.open(store_path(home), readonly=True)
    try:
        recs = [r.bucket_start for r in st.records()]
        preds = [p.bucket_start for p in st.predictions()]
        models = sorted({p.model_id for p in st.predictions()})
    finally:
        st.close()
    shutil.rmtree(tmp, ignore_errors=True)
    second_half = [m for s, m in rss if s >= wall / 2] or [m for _, m in rss]
    return {
        "minutes": round(wall / 60, 2),
        "cpu_avg_pct": round(100.0 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall, 3),
        "cpu_max_minute_pct": round(max(per_minute), 3) if per_minute else None,
        "rss_peak_mb": round(max(m for _, m in rss), 1),
        "rss_steady_mb": round(statistics.median(second_half), 1),
        "policy_pickup_new_model_s": _r(pickups["new_model"]),
        "policy_pickup_refusal_s": _r(pickups["refusal"]),
        "policy_pickup_restore_s": _r(pickups["restore"]),
        "probe_subprocess_s": _r(probe_s),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "heavy_modules": [m for m in HEAVY if m in modules],
        "modules_count": len(modules),
        "buckets_stored": len(recs),
        "buckets_predicted": len(preds),
        "buckets_duplicated": len(recs) - len(set(recs)),
        "models_used": models,
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--tray", action="store_true",
                    help="also measure the tray on Xvfb (start to icon, idle CPU and RSS)")
    ap.add_argument("--tray-minutes", type=float, default=10.0)
    args = ap.parse_args()
    res = run(args.minutes)
    if args.tray:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from tray_bench import measure

        res.update({f"tray_{k}": v for k, v in measure(args.tray_minutes, 3).items()})
    if args.json:
        print(json.dumps(res))
        return 0
    rows = [
        ("run length", f"{res['minutes']} min", ""),
        ("CPU, average (one core)", f"{res['cpu_avg_pct']} %", "< 1 %"),
        ("CPU, worst minute", f"{res['cpu_max_minute_pct']} %", ""),
        ("RSS, peak", f"{res['rss_peak_mb']} MB", ""),
        ("RSS, steady", f"{res['rss_steady_mb']} MB", "< 120 MB"),
        ("policy pickup, new model (with probe)", f"{res['policy_pickup_new_model_s']} s", "< 3 s"),
        ("policy pickup, refusal reported", f"{res['policy_pickup_refusal_s']} s", "< 3 s"),
        ("policy pickup, restored (probe cached)", f"{res['policy_pickup_restore_s']} s", "< 3 s"),
        ("  one probe subprocess, for reference", f"{res['probe_subprocess_s']} s", ""),
        ("machine load average (1 min)", str(res["loadavg_1m"]), ""),
        ("heavy modules imported", ", ".join(res["heavy_modules"]) or "none", "none"),
        ("modules imported", str(res["modules_count"]), ""),
        ("buckets stored / predicted / duplicated",
         f"{res['buckets_stored']} / {res['buckets_predicted']} / {res['buckets_duplicated']}", ""),
        ("models used", ", ".join(res["models_used"]), ""),
    ]
    if args.tray:
        rows += [
            ("tray: start to icon (median / max)",
             f"{res['tray_start_to_icon_median_s']} / {res['tray_start_to_icon_max_s']} s", "< 2.5 s"),
            ("tray: idle CPU (one core)", f"{res['tray_idle_cpu_percent']} %", "< 1 %"),
            ("tray: RSS peak / final", f"{res['tray_rss_peak_mb']} / {res['tray_rss_final_mb']} MB", "< 120 MB"),
        ]
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}}  {'value':>16}  target")
    for name, value, target in rows:
        print(f"{name:<{w}}  {value:>16}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
