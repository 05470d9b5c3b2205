"""A real ActivityWatch server (aw-server from PyPI) for tests and fixture recording.

``start_aw_server(tmp)`` runs ``python -m aw_server --testing`` on a free 127.0.0.1 port with
its data, config and cache folders under ``tmp`` (never the user's own ActivityWatch data) and
waits until ``/api/0/info`` answers. ``client(server)`` returns an ``aw_client`` client bound
to it. The tests feed heartbeats through aw-client exactly as ActivityWatch's watchers do.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How long a cold aw-server (Flask + SQLite migrations) may take to answer, on a loaded machine.
START_TIMEOUT_S = 60.0


@dataclass
class AWServer:
    url: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        return xdg_env(self.root)

    def get_json(self, path: str) -> Any:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + path, timeout=30) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the real server (empty when it can)."""
    out = []
    for mod in ("aw_server", "aw_client"):
        try:
            __import__(mod)
        except Exception:
            out.append(mod.replace("_", "-"))
    return out


def xdg_env(root: Path) -> dict[str, str]:
    return {
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_CACHE_HOME": str(root / "cache"),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_aw_server(root: Path, *, timeout: float = START_TIMEOUT_S) -> AWServer:
    """Start aw-server in testing mode on a free loopback port; raise RuntimeError on failure."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "aw-server.log"
    env = {**os.environ, **xdg_env(root)}
    last_error = "did not start"
    for _attempt in range(3):  # a port taken between free_port() and bind: try another one
        port = free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aw_server", "--testing", "--host", "127.0.0.1",
                 "--port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
            )
        server = AWServer(f"http://127.0.0.1:{port}", port, root, proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                info = server.get_json("/api/0/info")
                if isinstance(info, dict) and info.get("testing") is True:
                    return server
            except OSError:
                pass
            time.sleep(0.2)
        server.stop()
        tail = log.read_text(errors="replace")[-600:]
        last_error = f"aw-server did not answer on port {port} within {timeout:.0f} s: {tail}"
    raise RuntimeError(last_error)


def client(server: AWServer, name: str = "taskclf-tests", hostname: str | None = None) -> Any:
    """An aw-client client for ``server`` (its own config/cache folders under the server's root);
    ``hostname`` overrides the host name its new buckets are created with."""
    from aw_client import ActivityWatchClient

    with _env(xdg_env(server.root)):
        c = ActivityWatchClient(name, testing=True, host="127.0.0.1", port=server.port)
    if hostname is not None:
        c.client_hostname = hostname
    return c


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Any:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
