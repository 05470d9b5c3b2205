"""Fork server for the kill -9 test: imports the agent once, then forks one agent per request.

Reads lines ``<cycle> <home>`` on stdin and answers the pid of a forked child running the
agent loop (rule baseline, 1 s buckets, no display), which also saves a label through the
runtime API every ~0.1 s and appends each label the API reported as saved to
``<home>/../committed.log`` (fsynced), so the test can check that no saved label is lost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def child(cycle: int, home: Path) -> None:
    import time
    from datetime import UTC, datetime

    from agent.lock import InstanceLock
    from agent.runtime import AgentRuntime

    lock = InstanceLock(home)
    lock.acquire()
    rt = AgentRuntime(home, backend="none", bucket_seconds=1, sample_seconds=0.1,
                      watch_interval=0.5)
    rt.start()
    (home.parent / f"started.{cycle}").write_text(str(time.time()))
    log = os.open(home.parent / "committed.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    labels = ["Build", "Debug", "Review", "Write", "Meet"]
    n = 0
    while True:
        n += 1
        # a unique past minute per (cycle, n): spans never overlap, so each must survive as is
        start = datetime(2020, 1, 1, tzinfo=UTC).timestamp() + (cycle * 1000 + n) * 60
        iso = datetime.fromtimestamp(start, UTC).isoformat()
        label = labels[n % len(labels)]
        res = rt.answer_prompt(iso, label)
        if res.ok and res.saved:
            os.write(log, f"{iso} {label}\n".encode())
            os.fsync(log)
        time.sleep(0.1)


def main() -> None:
    import signal

    import agent.runtime  # noqa: F401  (import everything once, before forking)
    import engine.pipeline  # noqa: F401
    import engine.store  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    for line in sys.stdin:
        cycle_s, home_s = line.split(maxsplit=1)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            try:
                child(int(cycle_s), Path(home_s.strip()))
            finally:
                os._exit(1)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
