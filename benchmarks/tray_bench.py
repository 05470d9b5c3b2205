"""Tray footprint on a virtual desktop: start to first icon, idle CPU and memory.

Starts Xvfb + a private D-Bus + a notification service + trayer (the e2e stack), then
``taskclf tray`` on a temporary home holding the seed model and its policy. Measures the
time from process start to the icon docked in the tray (target < 2.5 s, median of --runs),
then leaves the last tray idle for --minutes (default 10, real 60 s buckets, the X11 sampler)
and reports its average CPU (% of one core) and RSS.

    python benchmarks/tray_bench.py [--minutes 10] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e")]

from tray_stack import TrayStack, missing_prerequisites, wait_for  # noqa: E402


def make_home(root: Path) -> Path:
    from engine.policy import policy_for, write_policy

    home = root / "home"
    (home / "models").mkdir(parents=True)
    os.chmod(home, 0o700)
    seeds = ROOT / "tests" / "fixtures" / "seed-project-v2" / "models"
    if seeds.is_dir():
        src = next(seeds.iterdir())
        dst = home / "models" / src.name
        shutil.copytree(src, dst)
        write_policy(home, policy_for(home, dst, None, 0.3, source="bench"))
    return home.resolve()


def start_tray(stack: TrayStack, home: Path, log: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    import psutil

    t0 = time.monotonic()
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            ["timeout", "-k", "2", "7200", sys.executable, "-m", "agent.tray_main", "--home", str(home)],
            env={**stack.env, "TASKCLF_HOME": str(home)}, stdout=fh, stderr=fh,
            stdin=subprocess.DEVNULL,
        )
    pid = wait_for("the tray process", lambda: (k := psutil.Process(proc.pid).children()) and k[0].pid, 10,
                   interval=0.01)
    wait_for("the docked icon", lambda: stack.find_icon(pid), 20, interval=0.02)
    return proc, pid, time.monotonic() - t0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def measure(minutes: float, runs: int) -> dict[str, Any]:
    """Cold starts to the docked icon, then CPU and RSS of the last tray while idle.

    Raises ``RuntimeError`` when the prerequisites are missing or the tray dies; used by
    ``agent_bench.py --tray`` too, so the agent's footprint figures include the tray's."""
    missing = missing_prerequisites()
    if missing:
        raise RuntimeError("missing " + ", ".join(missing))
    import psutil

    args = argparse.Namespace(minutes=minutes, runs=runs)

    with tempfile.TemporaryDirectory(prefix="taskclf-traybench-") as tmp:
        life = args.minutes * 60 + args.runs * 30 + 120  # the X server must outlive the idle run
        stack = TrayStack(Path(tmp) / "stack", life=life).start()
        try:
            starts: list[float] = []
            proc = None
            for i in range(args.runs):
                home = make_home(Path(tmp) / f"run{i}")
                proc, pid, secs = start_tray(stack, home, Path(tmp) / "app.log")
                starts.append(secs)
                if i < args.runs - 1:
                    stop(proc)
            assert proc is not None
            p = psutil.Process(pid)
            time.sleep(5.0)  # let the model load and the first refresh settle
            cpu0 = sum(p.cpu_times()[:2])
            t0 = time.monotonic()
            rss: list[float] = []
            end = t0 + args.minutes * 60
            try:
                while time.monotonic() < end:
                    rss.append(p.memory_info().rss / 2**20)
                    time.sleep(min(5.0, max(0.1, end - time.monotonic())))
                rss.append(p.memory_info().rss / 2**20)
                cpu = (sum(p.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0) * 100
            except psutil.NoSuchProcess:
                log = (Path(tmp) / "app.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the tray exited during the idle run (rc {proc.wait()}):\n{log}") from None
            mods = subprocess.run(
                [sys.executable, "-c", "import sys; print(open('/proc/%d/maps' % int(sys.argv[1])).read().count('sklearn'))", str(pid)],
                capture_output=True, text=True,
            ).stdout.strip()
            stop(proc)
        finally:
            stack.stop()
    out = {
        "start_to_icon_median_s": round(statistics.median(starts), 3),
        "start_to_icon_max_s": round(max(starts), 3),
        "idle_minutes": args.minutes,
        "idle_cpu_percent": round(cpu, 3),
        "rss_peak_mb": round(max(rss), 1),
        "rss_final_mb": round(rss[-1], 1),
        "sklearn_mapped": mods not in ("", "0"),
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="idle time measured (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="cold starts timed (default 3)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    try:
        out = measure(args.minutes, args.runs)
    except RuntimeError as exc:
        print(f"tray_bench: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'figure':<26}{'value':>10}  target")
        rows = [("start to icon (median)", f"{out['start_to_icon_median_s']:.2f} s", "< 2.5 s"),
                ("start to icon (max)", f"{out['start_to_icon_max_s']:.2f} s", ""),
                (f"idle CPU ({args.minutes:g} min)", f"{out['idle_cpu_percent']:.2f} %", "< 1 % of a core"),
                ("RSS peak", f"{out['rss_peak_mb']:.1f} MB", "< 120 MB"),
                ("RSS at the end", f"{out['rss_final_mb']:.1f} MB", ""),
                ("scikit-learn loaded", str(out["sklearn_mapped"]), "False")]
        for name, value, target in rows:
            print(f"{name:<26}{value:>10}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
