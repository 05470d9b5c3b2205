"""The team benchmark's shard cache (benchmarks/team_data.py): two invocations that both miss a
shard build it once; the second waits for the first and reuses its export."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import team_data  # noqa: E402


def test_two_callers_missing_the_same_shard_generate_it_once(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKCLF_TEAM_BENCH_CACHE", str(tmp_path))
    release = threading.Event()
    calls: list[int] = []

    def fake_generate(index: int, work: Path) -> int:
        calls.append(index)
        release.wait(timeout=30)  # the first caller holds the shard while the second arrives
        (work / "share").mkdir()
        (work / "share" / "manifest.json").write_text('{"rows": 7}')
        return 7

    monkeypatch.setattr(team_data, "_generate", fake_generate)
    results: list[Path] = []
    callers = [threading.Thread(target=lambda: results.append(team_data.ensure_shard(3, log=False)))
               for _ in range(2)]
    for caller in callers:
        caller.start()
    release.set()
    for caller in callers:
        caller.join(timeout=60)
    assert calls == [3]
    assert results == [tmp_path / "shard-003-u20-d30" / "share"] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".shard-003.lock", "shard-003-u20-d30"]


def test_a_failed_generation_leaves_no_shard_and_the_next_caller_retries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKCLF_TEAM_BENCH_CACHE", str(tmp_path))

    def failing(index: int, work: Path) -> int:
        raise SystemExit(f"export of shard {index} failed")

    monkeypatch.setattr(team_data, "_generate", failing)
    with pytest.raises(SystemExit, match="export of shard 4 failed"):
        team_data.ensure_shard(4, log=False)
    assert [p.name for p in tmp_path.iterdir()] == [".shard-004.lock"]  # no half-made shard kept
