"""A real external Dask cluster for tests: a scheduler and workers as separate processes.

``dask_scheduler(tmp)`` starts ``python -m distributed.cli.dask_scheduler`` on a free
127.0.0.1 port (``--port 0``) and learns its address from the scheduler file it writes;
``cluster.add_worker(name)`` starts ``python -m distributed.cli.dask_worker`` (one thread, no
nanny: one process each) against that file; ``cluster.wait_for_workers(n)`` waits, bounded,
until n have joined. Every process is stopped when the ``with`` block ends, also on failure
(terminate, then kill what is still running), so a failing test leaves no orphan behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: How long a cold scheduler or worker (importing dask, distributed, lightgbm) may take, loaded.
START_TIMEOUT_S = 120.0


@dataclass
class DaskProcesses:
    tmp: Path
    scheduler_file: Path
    address: str = ""
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed when the process is stopped)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=self.tmp)
        log.close()  # the child holds its own copy
        self.procs.append((name, proc))

    def log_tail(self) -> str:
        return "\n".join(f"--- {name}:\n" + (self.tmp / f"{name}.log").read_text(errors="replace")[-1500:]
                         for name, _ in self.procs)

    def check_running(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(f"dask {name} exited ({proc.returncode}):\n{self.log_tail()}")

    def add_worker(self, name: str) -> None:
        self.start(f"worker-{name}", [
            "distributed.cli.dask_worker", "--scheduler-file", str(self.scheduler_file), "--name", name,
            "--nthreads", "1", "--no-nanny", "--no-dashboard", "--local-directory", str(self.tmp / name),
            "--death-timeout", "60"])

    def wait_for_workers(self, n: int, timeout: float = START_TIMEOUT_S) -> None:
        from distributed import Client

        self.check_running()
        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        """Workers first, then the scheduler; terminate, wait, kill what did not stop."""
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


@contextmanager
def dask_scheduler(tmp: Path) -> Iterator[DaskProcesses]:
    """A running scheduler (no workers yet), stopped with everything started from it on exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    cluster = DaskProcesses(tmp=tmp, scheduler_file=tmp / "scheduler.json")
    try:
        cluster.start("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                    "--no-dashboard", "--scheduler-file", str(cluster.scheduler_file)])
        deadline = time.monotonic() + START_TIMEOUT_S
        while not cluster.address:
            cluster.check_running()
            if time.monotonic() > deadline:
                raise AssertionError(f"no scheduler file after {START_TIMEOUT_S:g} s:\n{cluster.log_tail()}")
            try:
                cluster.address = str(json.loads(cluster.scheduler_file.read_text())["address"])
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)  # written once the scheduler listens
        yield cluster
    finally:
        cluster.stop()
