"""Record a labelled X11 working session with the real agent, for ``first_day_bench.py``.

A real X server (Xvfb + openbox) shows windows with the WM_CLASS and titles real apps use (VS
Code, GNOME Terminal, Firefox on GitHub / Python docs / Stack Overflow / YouTube / Google Meet,
Slack, Thunderbird, Zoom, LibreOffice Writer, Evince); xdotool types, scrolls, clicks and
switches between them following a labelled schedule of minutes, and the headless agent
(``--backend x11``, time running ``--time-scale`` times faster) samples it like any desktop.
Within a block the "user" behaves like people do: a quick look at the chat during coding, a
terminal during writing, a still mouse in a meeting. The label of each minute is the block's
label (what the person was doing), not what the window in front says.

The agent's stored records and the labels are written as a fixture directory:
``records.jsonl`` (one ActivityRecord per line, the agent's own JSON form: app ids, categories,
keyed title hashes, counts; never a title) and ``labels.csv`` (the project's label CSV).

    python benchmarks/record_x11_session.py --schedule morning --out tests/fixtures/first_day/x11-morning

The schedules were written before the rules and the starter model were measured on them and are
not changed to suit them.
"""

from __future__ import annotations

import argparse
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.xsession import XSession, missing_prerequisites, open_session  # noqa: E402

WINDOWS: dict[str, tuple[str, str, str]] = {
    "code": ("code", "Code", "uploader.py - backend - Visual Studio Code"),
    "term": ("gnome-terminal-server", "Gnome-terminal", "dev@laptop: ~/src/backend"),
    "pr": ("Navigator", "firefox", "Retry uploads with backoff by jdoe · Pull Request #482 · "
           "acme/backend · GitHub — Mozilla Firefox"),
    "pydocs": ("Navigator", "firefox", "asyncio — Asynchronous I/O — Python 3.12.1 documentation "
               "— Mozilla Firefox"),
    "so": ("Navigator", "firefox", "python - Why does asyncio.gather never return? - Stack "
           "Overflow — Mozilla Firefox"),
    "youtube": ("Navigator", "firefox", "Lofi Girl - lofi hip hop radio - YouTube — Mozilla Firefox"),
    "gmeet": ("Navigator", "firefox", "Meet - kpq-vbnd-xzr — Mozilla Firefox"),
    "slack": ("slack", "Slack", "backend-team (Channel) - Acme - Slack"),
    "mail": ("Mail", "thunderbird", "Inbox - jdoe@acme.example - Mozilla Thunderbird"),
    "zoom": ("zoom", "zoom", "Zoom Meeting"),
    "writer": ("libreoffice", "libreoffice-writer", "upload-design.odt - LibreOffice Writer"),
    "pdf": ("evince", "Evince", "tail-latency-at-scale.pdf"),
    # a second desk (the "thursday" schedule): other apps and sites for the same roles
    "pycharm": ("jetbrains-pycharm", "jetbrains-pycharm", "ingest – loader.py"),
    "alacritty": ("Alacritty", "Alacritty", "jane@thinkpad: ~/src/ingest"),
    "mr": ("google-chrome", "Google-chrome", "Skip empty partitions in the stream loader (!317) · "
           "Merge requests · data / ingest · GitLab - Google Chrome"),
    "wiki": ("google-chrome", "Google-chrome", "Apache Parquet - Wikipedia - Google Chrome"),
    "arrowdocs": ("google-chrome", "Google-chrome", "pyarrow.parquet.ParquetFile — Apache Arrow v16.1.0 "
            "- Google Chrome"),
    "news": ("google-chrome", "Google-chrome", "Premier League table - BBC Sport - Google Chrome"),
    "teams": ("teams-for-linux", "teams-for-linux", "Ingest weekly | Microsoft Teams"),
    "element": ("element", "Element", "Element | data-platform"),
    "outlook": ("google-chrome", "Google-chrome", "Mail - Jane Doe - Outlook - Google Chrome"),
    "gdocs": ("google-chrome", "Google-chrome", "Ingest v2 rollout plan - Google Docs - Google Chrome"),
    "okular": ("okular", "okular", "dremel-vldb2010.pdf — Okular"),
}

# The windows each role of the activities uses on a desk.
KITS: dict[str, dict[str, str]] = {
    "default": {"editor": "code", "term": "term", "chat": "slack", "qa": "so", "review": "pr",
                "docs": "pydocs", "paper": "pdf", "writer": "writer", "mail": "mail",
                "video": "youtube"},
    "thursday": {"editor": "pycharm", "term": "alacritty", "chat": "element", "qa": "arrowdocs",
                 "review": "mr", "docs": "wiki", "paper": "okular", "writer": "gdocs",
                 "mail": "outlook", "video": "news"},
}

# (label, minutes, activity); the activity is what the person mostly does in that block
SCHEDULES: dict[str, list[tuple[str, int, str]]] = {
    "morning": [
        ("Communicate", 5, "chat"), ("Communicate", 3, "mail"), ("Build", 16, "code"),
        ("Debug", 9, "debug"), ("Build", 8, "code"), ("BreakIdle", 6, "away"),
        ("Review", 11, "review"), ("Meet", 14, "zoom"), ("Communicate", 4, "chat"),
        ("ReadResearch", 9, "docs"), ("Write", 12, "write"), ("BreakIdle", 4, "video"),
        ("Build", 9, "code"),
    ],
    "afternoon": [
        ("BreakIdle", 3, "away"), ("Communicate", 6, "mail"), ("Meet", 20, "gmeet"),
        ("Communicate", 3, "chat"), ("ReadResearch", 12, "paper"), ("Write", 15, "write"),
        ("Review", 9, "review"), ("Build", 12, "code"), ("Debug", 8, "debug"),
        ("BreakIdle", 7, "away"), ("Communicate", 5, "chat"), ("Build", 10, "code"),
    ],
    # written and recorded before the rules' table changes that followed the first two, and never
    # used to tune them: a desk of other apps and sites (PyCharm, Alacritty, Chrome on GitLab,
    # Wikipedia, Arrow docs, Outlook and Google Docs, Element, Teams, Okular, BBC Sport)
    "thursday": [
        ("Communicate", 4, "mail"), ("Communicate", 3, "chat"), ("Build", 14, "code"),
        ("ReadResearch", 6, "docs"), ("Build", 7, "code"), ("Debug", 10, "debug"),
        ("BreakIdle", 8, "away"), ("Meet", 16, "teams"), ("Write", 13, "write"),
        ("Communicate", 3, "chat"), ("Review", 8, "review"), ("BreakIdle", 5, "video"),
        ("ReadResearch", 9, "paper"), ("Build", 6, "code"),
    ],
}
SCHEDULE_KITS = {"thursday": "thursday"}

Step = Callable[[], None]
Act = Callable[["Desk", random.Random], list[Step]]


class Desk:
    """The X session with the windows of the schedule, and small human-like actions."""

    def __init__(self, xs: XSession, kit: dict[str, str]) -> None:
        self.xs = xs
        self.kit = kit
        used = set(kit.values()) | {"gmeet", "zoom", "teams"}
        self.wid = {k: xs.window(*v) for k, v in WINDOWS.items() if k in used}
        self.front = ""

    def focus(self, role: str) -> Step:
        name = self.kit.get(role, role)

        def run() -> None:
            if self.front != name:
                self.xs.activate(self.wid[name])
                self.front = name
        return run

    def type(self, text: str, delay_ms: int = 35) -> Step:
        return lambda: self.xs.xdotool("type", "--delay", str(delay_ms), text) and None

    def key(self, *keys: str) -> Step:
        return lambda: self.xs.xdotool("key", *keys) and None

    def scroll(self, n: int) -> Step:
        def run() -> None:
            self.xs.xdotool("mousemove", "--window", self.wid[self.front], "200", "150")
            for _ in range(n):
                self.xs.xdotool("click", "5")
        return run

    def click(self, n: int = 1) -> Step:
        def run() -> None:
            self.xs.xdotool("mousemove", "--window", self.wid[self.front], str(120 + 20 * n), "120")
            for _ in range(n):
                self.xs.xdotool("click", "1")
        return run

    def typing(self, text: str, pieces: int, delay_ms: int = 35) -> list[Step]:
        """``text`` typed in ``pieces`` bursts (spread over the minute by the runner)."""
        n = max(1, len(text) // pieces)
        return [self.type(text[i:i + n], delay_ms) for i in range(0, len(text), n)]


CODE_LINES = ("def retry(self, part):", "await asyncio.sleep(delay * 2)", "return response.json()",
              "if attempt > self.max_attempts:", "self.queue.put_nowait(item)",
              "except TimeoutError as exc:", "for chunk in iter_chunks(data):")
PROSE = ("The uploader retries failed parts with exponential backoff. ",
         "Each part is idempotent, so a retry never duplicates data. ",
         "We measured the tail latency on the staging cluster last week. ")
CHAT = ("sounds good, will push after lunch", "can you take a look at #482?", "thanks, merging now",
        "the staging deploy is green again")


def act_code(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("editor")]
    steps += d.typing(rng.choice(CODE_LINES) + " " + rng.choice(CODE_LINES), rng.randint(5, 7))
    if rng.random() < 0.5:
        steps.append(d.key("BackSpace", "BackSpace", "Return", "ctrl+s"))
    if rng.random() < 0.15:  # run the tests
        steps += [d.focus("term"), d.type("pytest -q", 30), d.key("Return"), d.focus("editor")]
    if rng.random() < 0.08:  # a look at the chat
        steps.insert(rng.randrange(1, len(steps)), d.focus("chat"))
        steps.append(d.focus("editor"))
    return steps


def act_debug(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("term"), d.type(rng.choice(("pytest -x tests/test_uploader.py",
                                                              "python -m pdb uploader.py")), 30),
                         d.key("Return"), d.type("n", 50), d.key("Return"), d.type("p delay", 40),
                         d.key("Return")]
    if rng.random() < 0.5:
        steps += [d.focus("editor"), d.type("print(attempt)", 40), d.key("ctrl+s")]
    if rng.random() < 0.35:
        steps += [d.focus("qa"), d.scroll(rng.randint(2, 4)), d.scroll(2)]
    return steps


def act_review(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("review")]
    steps += [d.scroll(rng.randint(1, 3)) for _ in range(rng.randint(3, 6))]
    steps.insert(rng.randrange(1, len(steps)), d.click(1))
    if rng.random() < 0.25:
        steps += d.typing("nit: call this max_attempts", 3, 30)
    if rng.random() < 0.12:
        steps += [d.focus("editor"), d.scroll(2), d.focus("review")]
    return steps


def act_docs(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("docs" if rng.random() < 0.75 else "qa")]
    steps += [d.scroll(rng.randint(1, 3)) for _ in range(rng.randint(3, 6))]
    if rng.random() < 0.2:
        steps.append(d.click(1))
    return steps


def act_paper(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("paper" if rng.random() < 0.7 else "docs")]
    return steps + [d.scroll(rng.randint(1, 2)) for _ in range(rng.randint(2, 5))]


def act_write(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    if rng.random() < 0.1:
        steps += [d.focus("docs"), d.scroll(2)]
    steps.append(d.focus("writer"))
    return steps + d.typing(rng.choice(PROSE), rng.randint(5, 8), 30)


def act_chat(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("chat")]
    if rng.random() < 0.6:
        steps += d.typing(rng.choice(CHAT), 3, 40) + [d.key("Return")]
    steps += [d.scroll(1), d.scroll(1)]
    return steps


def act_mail(d: Desk, rng: random.Random) -> list[Step]:
    steps: list[Step] = [d.focus("mail"), d.click(1)]
    if rng.random() < 0.5:
        steps += d.typing("Hi Sam, attached is the upload design. Best, J", 4, 30)
    else:
        steps += [d.scroll(1), d.click(1), d.scroll(2)]
    return steps


def act_zoom(d: Desk, rng: random.Random) -> list[Step]:
    return [d.focus("zoom")] + ([d.click(1)] if rng.random() < 0.15 else [])  # unmute


def act_teams(d: Desk, rng: random.Random) -> list[Step]:
    return [d.focus("teams")] + ([d.click(1)] if rng.random() < 0.2 else [])  # a reaction


def act_gmeet(d: Desk, rng: random.Random) -> list[Step]:
    return [d.focus("gmeet")] + ([d.type("+1", 60)] if rng.random() < 0.1 else [])


def act_away(d: Desk, rng: random.Random) -> list[Step]:
    return []  # nobody at the desk


def act_video(d: Desk, rng: random.Random) -> list[Step]:
    if d.front != d.kit["video"]:
        return [d.focus("video"), d.click(1)]  # play, then watch
    return []


ACTIVITIES: dict[str, Act] = {
    "code": act_code, "debug": act_debug, "review": act_review, "docs": act_docs, "paper": act_paper,
    "write": act_write, "chat": act_chat, "mail": act_mail, "zoom": act_zoom, "gmeet": act_gmeet,
    "teams": act_teams,
    "away": act_away, "video": act_video,
}


def run_spread(steps: list[Step], seconds: float) -> None:
    """Run the steps one after another, spread evenly over ``seconds`` (input over the whole
    minute, as people type and scroll, not in one burst)."""
    if not steps:
        return
    t0 = time.monotonic()
    gap = seconds / len(steps)
    for i, step in enumerate(steps):
        wait = t0 + i * gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        step()


def _reader(stream: object, q: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        q.put(line)


def record(schedule: str, out: Path, *, scale: float, seed: int) -> None:
    from engine.activity import ActivityRecord
    from engine.jsonio import dumps
    from engine.labels_csv import spans_to_csv
    from engine.paths import store_path
    from engine.spans import LabelSpan
    from engine.store import Store

    plan = [(lab, act) for lab, minutes, act in SCHEDULES[schedule] for _ in range(minutes)]
    rng = random.Random(seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the X session on kill
    xs = open_session()
    home = Path(tempfile.mkdtemp(prefix="taskclf-record-"))
    agent: subprocess.Popen[str] | None = None
    try:
        desk = Desk(xs, KITS[SCHEDULE_KITS.get(schedule, "default")])
        bucket_real = 60.0 / scale
        duration = (len(plan) + 4) * bucket_real + 30
        env = dict(xs.env, TZ="UTC")
        agent = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "--home", str(home), "agent", "--headless",
             "--backend", "x11", "--time-scale", str(scale), "--duration", str(duration),
             "--sample-seconds", "2"],
            env=env, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
        q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_reader, args=(agent.stdout, q), daemon=True).start()

        def next_bucket() -> datetime:
            while True:
                line = q.get(timeout=10 * bucket_real + 30)
                if line and line[0].isdigit():
                    return datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)

        next_bucket()  # the first, partial bucket
        labels: dict[datetime, str] = {}
        for i, (label, act) in enumerate(plan):
            closed = next_bucket()
            labels[closed + timedelta(minutes=1)] = label
            t0 = time.monotonic()
            run_spread(ACTIVITIES[act](desk, rng), 0.8 * bucket_real)
            spent = time.monotonic() - t0
            if spent > 0.95 * bucket_real:
                print(f"minute {i}: activity took {spent:.2f}s of {bucket_real:.2f}s", file=sys.stderr)
        next_bucket()
        agent.send_signal(signal.SIGINT)
        agent.wait(60)
        with Store.open(store_path(home), readonly=True) as st:
            recs: list[ActivityRecord] = list(st.records())
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(30)
        xs.close()
    user = recs[0].user_id
    # records of labelled minutes (the warm-up and closing buckets are not part of the session)
    kept = [r for r in recs if r.bucket_start in labels]
    out.mkdir(parents=True, exist_ok=True)
    (out / "records.jsonl").write_text("".join(dumps(r.to_json()).replace("\n", "") + "\n" for r in kept))
    spans: list[LabelSpan] = []
    for r in kept:
        lab = labels[r.bucket_start]
        end = r.bucket_start + timedelta(minutes=1)
        if spans and spans[-1].label == lab and spans[-1].end_ts == r.bucket_start:
            s = spans[-1]
            spans[-1] = LabelSpan(start_ts=s.start_ts, end_ts=end, label=lab, user_id=user,
                                  provenance="manual", confidence=None, created_at=s.created_at)
        else:
            spans.append(LabelSpan(start_ts=r.bucket_start, end_ts=end, label=lab, user_id=user,
                                   provenance="manual", confidence=None, created_at=end))
    (out / "labels.csv").write_text(spans_to_csv(spans))
    print(f"{len(kept)} labelled minutes of {len(plan)} planned -> {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schedule", choices=sorted(SCHEDULES), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--time-scale", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    missing = missing_prerequisites()
    if missing:
        raise SystemExit(f"record_x11_session: {', '.join(missing)} required")
    record(args.schedule, args.out, scale=args.time_scale, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
