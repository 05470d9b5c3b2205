"""Synthetic team exports for ``team_bench.py``, cached under a temporary folder.

A team of N users is N/20 shards; a shard is one home holding 20 synthetic users x 30 working
days (``trainer.synth``, seed = shard index) written through ``taskclf export dataset``, as each
member of a real team exports their own home. Pseudonyms come from each home's own salt, so the
shards never collide and a bigger team reuses the smaller one's shards.

    python3 benchmarks/team_data.py --shards 5     # prepare 100 users ahead of a benchmark run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USERS_PER_SHARD = 20
DAYS = 30
START = date(2026, 3, 2)


def cache_root() -> Path:
    return Path(os.environ.get("TASKCLF_TEAM_BENCH_CACHE",
                               Path(tempfile.gettempdir()) / "taskclf-team-bench"))


def shard_dir(index: int) -> Path:
    return cache_root() / f"shard-{index:03d}-u{USERS_PER_SHARD}-d{DAYS}"


def ensure_shard(index: int, log: bool = True) -> Path:
    """The exported dataset of shard ``index`` (generated and exported once, then reused)."""
    from engine.cli.main import main
    from engine.paths import store_path
    from engine.store import Store
    from trainer.synth import SynthConfig
    from trainer.synth_store import write_synthetic

    final = shard_dir(index)
    share = final / "share"
    if (share / "manifest.json").is_file():
        return share
    work = Path(tempfile.mkdtemp(prefix=f".shard-{index:03d}-", dir=cache_root()))
    try:
        home = work / "home"
        home.mkdir()
        t0 = time.perf_counter()
        cfg = SynthConfig(users=USERS_PER_SHARD, days=DAYS, seed=index, start=START)
        with Store.open(store_path(home)) as store:
            write_synthetic(store, cfg, home=home)
        if main(["--home", str(home), "export", "dataset", "--out", str(work / "share")]) != 0:
            raise SystemExit(f"export of shard {index} failed")
        shutil.rmtree(home)  # only the export is kept: the store is the size of the whole history
        rows = json.loads((work / "share" / "manifest.json").read_text())["rows"]
        if log:
            print(f"shard {index}: {rows:,} labelled rows in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return share


def team(users: int) -> list[Path]:
    """The exports of a team of ``users`` (a multiple of 20)."""
    if users % USERS_PER_SHARD:
        raise SystemExit(f"--users: a multiple of {USERS_PER_SHARD}, not {users}")
    cache_root().mkdir(parents=True, exist_ok=True)
    return [ensure_shard(i) for i in range(users // USERS_PER_SHARD)]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=1)
    team(ap.parse_args().shards * USERS_PER_SHARD)
