"""Seeded synthetic multi-user histories (spec 5.7).

The generator produces what the agent would have recorded (``ActivityRecord``s, never feature
rows) plus what a user would have labelled (label spans from a separate, noisy labelling
process), so every derived feature goes through the one feature builder.

Model of a user:
- a persona (label mix, typing speed, mouse use, preferred apps, time zone, working hours);
- working days (Mon-Fri) with a semi-Markov task process: per-label durations, realistic
  transitions (Build <-> Debug, Review -> Build, Communicate interruptions), meetings on the
  half hour, a lunch break (locked screen, then the machine sleeps: a gap);
- per-minute signals drawn from overlapping label-conditional distributions, idle minutes
  inside work blocks;
- realism knobs: days without input counters, a new app appearing half-way, a slow drift of
  typing speed, and for some users an ``ambiguity`` that makes their work look like a
  confusable task (the global model is then over-confident on them: the known miscalibration
  their per-user calibrator has to fix);
- labels: partial coverage, boundary jitter (none next to a break: the lock screen marks it), a
  few percent of noise on confusable pairs; the
  true per-minute task is kept separately (``SynthDay.truth``).

Everything is deterministic per (seed, user, day): each day has its own RNG.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from engine.activity import ActivityRecord, Segment
from engine.spans import LabelSpan

NAN = float("nan")

#: Default first day of synthetic histories (a Monday); fixed so the same arguments give the
#: same store contents.
DEFAULT_START = date(2026, 3, 2)

LABELS = ("Build", "Debug", "Review", "Write", "ReadResearch", "Communicate", "Meet", "BreakIdle")

#: Pairs a labeller (or an ambiguous worker) confuses.
CONFUSABLE: dict[str, tuple[str, ...]] = {
    "Build": ("Debug",),
    "Debug": ("Build",),
    "Review": ("ReadResearch", "Build"),
    "Write": ("ReadResearch",),
    "ReadResearch": ("Write", "Review"),
    "Communicate": ("Meet",),
    "Meet": ("Communicate",),
    "BreakIdle": ("ReadResearch",),
}


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    category: str
    site: str | None = None  # a browser's domain category while on this kind of site

    @property
    def is_browser(self) -> bool:
        return self.category == "browser"

    @property
    def is_editor(self) -> bool:
        return self.category == "editor"

    @property
    def is_terminal(self) -> bool:
        return self.category == "terminal"


def _app(app_id: str) -> App:
    """An app as the engine's table names and categorises it (the sampler's view)."""
    from engine.apps import known_apps

    for info in known_apps():
        if info.app_id == app_id:
            return App(info.app_id, info.category)
    raise KeyError(app_id)


VSCODE = _app("com.microsoft.VSCode")
INTELLIJ = _app("com.jetbrains.intellij")
PYCHARM = _app("com.jetbrains.pycharm")
ZED = _app("dev.zed.Zed")
SUBLIME = _app("com.sublimetext.4")
TERMINAL = _app("com.apple.Terminal")
GNOME_TERMINAL = _app("org.gnome.Terminal")
ITERM = _app("com.googlecode.iterm2")
WINDOWS_TERMINAL = _app("com.microsoft.WindowsTerminal")
KONSOLE = _app("org.kde.konsole")
CHROME = _app("com.google.Chrome")
FIREFOX = _app("org.mozilla.firefox")
EDGE = _app("com.microsoft.edgemac")
SAFARI = _app("com.apple.Safari")
SLACK = _app("com.tinyspeck.slackmacgap")
DISCORD = _app("com.hnc.Discord")
MATTERMOST = _app("com.mattermost.desktop")
MAIL = _app("com.apple.mail")
OUTLOOK = _app("com.microsoft.Outlook")
THUNDERBIRD = _app("org.mozilla.thunderbird")
ZOOM = _app("us.zoom.xos")
TEAMS = _app("com.microsoft.teams2")
WEBEX = _app("com.cisco.webexmeetingsapp")
NOTES = _app("com.apple.Notes")
WORD = _app("com.microsoft.Word")
OBSIDIAN = _app("md.obsidian")
NOTION = _app("notion.id")
LIBREOFFICE = _app("org.libreoffice.LibreOffice")
PREVIEW = _app("com.apple.Preview")
ACROBAT = _app("com.adobe.Reader")
EVINCE = _app("org.gnome.Evince")
ZOTERO = _app("net.sourceforge.zotero")
FINDER = _app("com.apple.finder")
NAUTILUS = _app("org.gnome.Nautilus")
FIGMA = _app("com.figma.Desktop")
JIRA = _app("com.atlassian.jira")
LINEAR = _app("com.linear")
POSTMAN = _app("com.postmanlabs.mac")
DBEAVER = _app("io.dbeaver.DBeaverCommunity")
DOCKER = _app("com.docker.docker")
GITKRAKEN = _app("com.axosoft.gitkraken")
SPOTIFY = _app("com.spotify.client")
NEWAPP = App("unknown.scratchpad", "other")

#: Pools a user's everyday apps are drawn from (each user gets one of each kind).
POOLS: dict[str, tuple[App, ...]] = {
    "editor": (VSCODE, VSCODE, INTELLIJ, PYCHARM, ZED, SUBLIME),
    "terminal": (TERMINAL, GNOME_TERMINAL, ITERM, WINDOWS_TERMINAL, KONSOLE),
    "browser": (CHROME, CHROME, FIREFOX, EDGE, SAFARI),
    "chat": (SLACK, SLACK, DISCORD, MATTERMOST),
    "email": (MAIL, OUTLOOK, THUNDERBIRD),
    "docs": (WORD, NOTES, OBSIDIAN, NOTION, LIBREOFFICE),
    "reader": (PREVIEW, ACROBAT, EVINCE, ZOTERO),
    "meeting": (ZOOM, ZOOM, TEAMS, WEBEX),
    "devtool": (POSTMAN, DBEAVER, DOCKER),
    "files": (FINDER, NAUTILUS),
    "tracker": (JIRA, LINEAR),
}


def _lockscreen() -> App:
    """The lock-screen app as the engine's app table names it (fallback: a fixed id)."""
    try:
        from engine.apps import LOCKSCREEN

        return App(LOCKSCREEN.app_id, LOCKSCREEN.category)
    except Exception:  # the table is optional for the generator
        return App("com.apple.loginwindow", "lockscreen")


@dataclass(frozen=True, slots=True)
class Signals:
    """Per-minute input means of a task (before the persona's multipliers)."""

    keys: float
    backspace_ratio: float
    shortcuts: float
    clicks: float
    scrolls: float
    mouse_px: float
    switches: float  # expected app switches per minute
    idle_prob: float  # chance of a long idle run inside the minute


SIGNALS: dict[str, Signals] = {
    "Build": Signals(115, 0.12, 5.0, 6, 8, 2200, 0.35, 0.04),
    "Debug": Signals(60, 0.2, 7.0, 10, 18, 3200, 0.7, 0.06),
    "Review": Signals(22, 0.1, 2.5, 12, 32, 3800, 0.45, 0.06),
    "Write": Signals(150, 0.15, 2.0, 4, 6, 1300, 0.15, 0.05),
    "ReadResearch": Signals(7, 0.12, 0.8, 6, 42, 2400, 0.25, 0.1),
    "Communicate": Signals(85, 0.1, 3.5, 14, 14, 2800, 0.8, 0.05),
    "Meet": Signals(4, 0.1, 0.3, 2, 1, 500, 0.06, 0.45),
    "BreakIdle": Signals(0, 0.0, 0.0, 0, 0, 0, 0.02, 1.0),
}

#: Typical block length in minutes (log-normal median) per task.
DURATION_MEDIAN = {
    "Build": 24.0,
    "Debug": 14.0,
    "Review": 12.0,
    "Write": 28.0,
    "ReadResearch": 14.0,
    "Communicate": 6.0,
    "Meet": 30.0,
    "BreakIdle": 7.0,
}

#: Affinity of a transition current -> next (multiplied with the persona's label mix).
AFFINITY: dict[str, dict[str, float]] = {
    "Build": {"Debug": 3.0, "Review": 1.0, "Communicate": 1.5, "ReadResearch": 1.0},
    "Debug": {"Build": 3.5, "ReadResearch": 1.2, "Communicate": 1.0},
    "Review": {"Build": 2.0, "Communicate": 1.2},
    "Write": {"ReadResearch": 2.0, "Communicate": 1.0},
    "ReadResearch": {"Write": 1.5, "Build": 1.2},
    "Communicate": {},
    "Meet": {"Communicate": 2.0},
    "BreakIdle": {},
}


@dataclass(frozen=True)
class Persona:
    name: str
    mix: dict[str, float]  # relative weight of each label (Meet is scheduled separately)
    typing: float
    mouse: float
    meetings_per_day: float
    label_coverage: float


AppMix = dict[str, tuple[tuple[App, float], ...]]

#: What is in front during each task, by kind of app ("web:<domain>" is the browser on such a
#: site). Real desks are mixed: a terminal during Build, a look at the chat, docs in the browser.
TASK_APPS: dict[str, tuple[tuple[str, float], ...]] = {
    "Build": (("editor", 0.55), ("terminal", 0.2), ("web:docs", 0.08), ("web:code_hosting", 0.05),
              ("web:search", 0.05), ("files", 0.02), ("chat", 0.03), ("devtool", 0.02)),
    "Debug": (("editor", 0.35), ("terminal", 0.3), ("web:search", 0.12), ("web:docs", 0.08),
              ("devtool", 0.1), ("chat", 0.05)),
    "Review": (("web:code_hosting", 0.55), ("editor", 0.2), ("tracker", 0.06), ("web:productivity", 0.06),
               ("terminal", 0.05), ("chat", 0.04), ("web:docs", 0.04)),
    "Write": (("docs", 0.62), ("web:productivity", 0.15), ("web:docs", 0.08), ("web:search", 0.06),
              ("reader", 0.04), ("chat", 0.03), ("email", 0.02)),
    "ReadResearch": (("web:docs", 0.35), ("reader", 0.2), ("web:search", 0.12), ("web:news", 0.06),
                     ("web:unknown", 0.1), ("web:other", 0.05), ("docs", 0.06), ("chat", 0.03),
                     ("web:video", 0.03)),
    "Communicate": (("chat", 0.5), ("email", 0.32), ("web:email_web", 0.08), ("web:chat", 0.04),
                    ("web:productivity", 0.03), ("editor", 0.03)),
    "Meet": (("meeting", 0.85), ("chat", 0.06), ("web:docs", 0.04), ("docs", 0.03), ("email", 0.02)),
    "BreakIdle": (("web:video", 0.3), ("web:social", 0.25), ("web:news", 0.2), ("media", 0.1),
                  ("chat", 0.15)),
}


def user_apps(rng: random.Random, web_meetings: bool) -> AppMix:
    """One user's concrete app mix: one app of each kind drawn from the pools."""
    mine = {kind: rng.choice(pool) for kind, pool in POOLS.items()}
    mine["media"] = SPOTIFY
    browser = mine["browser"]
    out: AppMix = {}
    for label, kinds in TASK_APPS.items():
        items: list[tuple[App, float]] = []
        for kind, w in kinds:
            if kind == "meeting" and web_meetings:
                kind = "web:meeting_web"
            app = browser if kind.startswith("web:") else mine[kind]
            items.append((App(app.app_id, app.category, kind[4:] if kind.startswith("web:") else None), w))
        out[label] = tuple(items)
    return out


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "developer",
        {"Build": 5, "Debug": 3, "Review": 1.5, "Write": 0.4, "ReadResearch": 1.2, "Communicate": 1.5,
         "BreakIdle": 0.8},
        typing=1.0, mouse=0.9, meetings_per_day=1.0, label_coverage=0.8,
    ),
    Persona(
        "writer",
        {"Build": 0.2, "Debug": 0.1, "Review": 0.8, "Write": 6, "ReadResearch": 3, "Communicate": 1.5,
         "BreakIdle": 1.0},
        typing=1.25, mouse=0.7, meetings_per_day=0.8, label_coverage=0.75,
    ),
    Persona(
        "manager",
        {"Build": 0.2, "Debug": 0.1, "Review": 2.0, "Write": 2.0, "ReadResearch": 1.5, "Communicate": 5,
         "BreakIdle": 1.0},
        typing=0.85, mouse=1.2, meetings_per_day=3.2, label_coverage=0.7,
    ),
    Persona(
        "researcher",
        {"Build": 1.2, "Debug": 0.6, "Review": 0.8, "Write": 2.5, "ReadResearch": 5, "Communicate": 1.0,
         "BreakIdle": 1.0},
        typing=0.9, mouse=1.0, meetings_per_day=1.2, label_coverage=0.85,
    ),
    Persona(
        "reviewer",
        {"Build": 2.5, "Debug": 1.5, "Review": 4.0, "Write": 0.6, "ReadResearch": 1.5, "Communicate": 1.5,
         "BreakIdle": 0.8},
        typing=1.1, mouse=1.1, meetings_per_day=1.5, label_coverage=0.8,
    ),
)

#: Sources of records and whether they count input. ActivityWatch's window + AFK watchers and
#: Wayland desktops report no key, click or scroll counts: a minute is "active" (60 s) unless the
#: AFK watcher says the user is away (then idle for the whole minute).
SOURCES: dict[str, bool] = {"x11": True, "windows": True, "macos": True, "activitywatch": False,
                            "wayland": False}
#: Sources with input counts given to users in turn; every ``counterless_every``-th user has
#: a source without them (ActivityWatch and Wayland in turn).
SOURCE_CYCLE = ("macos", "windows", "x11")
COUNTERLESS_CYCLE = ("activitywatch", "wayland")

#: aw-watcher-afk's default timeout: quiet for this long and the user is away.
AFK_TIMEOUT_MINUTES = 3

#: Chance that a person touches mouse or keyboard in a minute of each task (counterless sources
#: only see the consequence: the AFK watcher's verdict).
INPUT_PROB: dict[str, float] = {
    "Build": 0.97, "Debug": 0.96, "Review": 0.95, "Write": 0.96, "ReadResearch": 0.92,
    "Communicate": 0.95, "Meet": 0.3, "BreakIdle": 0.03,
}

#: Local UTC offsets (minutes) given to users in turn.
OFFSETS = (60, -300, 0, 330, 120, -480, 540, -180)

#: A user's typing speed drifts by ``typing_drift`` over this many working days (then stays).
DRIFT_DAYS = 30
#: Working day from which some users start using a new app (an unseen category for the model).
NEW_APP_DAY = 10

PROVENANCE_MIX = (("manual", 0.7), ("prompt", 0.15), ("confirmation", 0.1), ("correction", 0.05))


@dataclass(frozen=True)
class SynthUser:
    """One synthetic user: persona plus the realism knobs that apply to them."""

    index: int
    user_id: str
    device_id: str
    persona: Persona
    utc_offset_minutes: int
    ambiguity: float  # share of work chunks that look like a confusable task (miscalibration)
    typing_drift: float  # relative change of typing speed over DRIFT_DAYS working days
    start_minute: int  # local minute of day the working day usually starts
    new_app_day: int | None  # day index from which a new app is used
    source: str = "x11"  # what records their desk: see SOURCES
    apps: AppMix = field(default_factory=dict)  # task -> apps in front (with weights)
    afk_view: str = "server"  # counterless: "live" (AFK after the timeout) or "server" (whole run)

    @property
    def has_counters(self) -> bool:
        return SOURCES[self.source]

    @property
    def miscalibrated(self) -> bool:
        return self.ambiguity > 0


@dataclass
class SynthDay:
    user: SynthUser
    day: date  # local date
    records: list[ActivityRecord]
    spans: list[LabelSpan]
    truth: list[tuple[datetime, str]] = field(default_factory=list)  # (bucket_start, true task)


@dataclass(frozen=True)
class SynthConfig:
    users: int = 6
    days: int = 20  # working days per user
    seed: int = 0
    start: date = DEFAULT_START
    miscalibrated_users: int | None = None  # default: a third of the users (the last ones)
    ambiguity: float = 0.4
    missing_counter_day_rate: float = 0.05
    counterless_every: int = 4  # every n-th user's source has no input counts (0: none)
    label_noise: float = 0.03

    def working_days(self) -> list[date]:
        out: list[date] = []
        d = self.start
        while len(out) < self.days:
            if d.weekday() < 5:
                out.append(d)
            d += timedelta(days=1)
        return out


#: The newest working day a history may end on, counted back from today: the furthest time zone
#: of a synthetic user is a day ahead of UTC, and the store refuses buckets in the future.
MARGIN_DAYS = 2


def working_days_from(start: date, days: int) -> list[date]:
    return SynthConfig(days=days, start=start).working_days()


def fit_start(days: int, today: date, start: date | None = None) -> date:
    """The first day of a history of ``days`` working days that ends before ``today``.

    An explicit ``start`` is checked (``TaskclfError`` naming the latest start that fits);
    without one, ``DEFAULT_START`` when the history fits (the same arguments give the same
    store), else the latest Monday that does.
    """
    from engine.errors import TaskclfError

    last_ok = today - timedelta(days=MARGIN_DAYS)
    weeks = -(-days // 5)
    latest = last_ok - timedelta(days=7 * weeks + last_ok.weekday())
    while working_days_from(latest + timedelta(days=7), days)[-1] <= last_ok:
        latest += timedelta(days=7)
    if start is not None:
        end = working_days_from(start, days)[-1]
        if end > last_ok:
            raise TaskclfError(
                f"--start {start}: {days} working days would end on {end}, too close to today "
                f"({today}); use --start {latest} or earlier"
            )
        return start
    if working_days_from(DEFAULT_START, days)[-1] <= last_ok:
        return DEFAULT_START
    return latest


def _seed_int(*parts: object) -> int:
    text = ":".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def make_users(cfg: SynthConfig) -> list[SynthUser]:
    """The users of a configuration; deterministic in (seed, index)."""
    n_mis = cfg.miscalibrated_users
    if n_mis is None:
        n_mis = cfg.users // 3 if cfg.users >= 3 else 0
    n_mis = max(0, min(n_mis, cfg.users - 1))
    n_regular = cfg.users - n_mis
    users = []
    for idx in range(cfg.users):
        rng = random.Random(_seed_int("user", cfg.seed, idx))
        # a miscalibrated user is the twin of a regular one: same persona, so the global model
        # cannot tell them apart, but their work is ambiguous (looks like a confusable task)
        miscalibrated = idx >= n_regular
        twin_of = idx - n_regular if miscalibrated else idx
        persona = PERSONAS[twin_of % len(PERSONAS)]
        # the desk (apps, source) and the working hours are the twin's too
        desk_rng = random.Random(_seed_int("desk", cfg.seed, twin_of))
        uid = f"user-{idx + 1:02d}"
        dev = hashlib.sha256(f"device:{cfg.seed}:{idx}".encode()).hexdigest()[:32]
        device_id = f"{dev[:8]}-{dev[8:12]}-4{dev[13:16]}-8{dev[17:20]}-{dev[20:32]}"
        users.append(
            SynthUser(
                index=idx,
                user_id=uid,
                device_id=device_id,
                persona=persona,
                utc_offset_minutes=OFFSETS[idx % len(OFFSETS)],
                ambiguity=cfg.ambiguity if miscalibrated else 0.0,
                typing_drift=rng.uniform(-0.15, 0.15),
                start_minute=_start_minute(desk_rng),
                new_app_day=(NEW_APP_DAY if rng.random() < 0.5 else None),
                source=_source(twin_of, cfg.counterless_every),
                apps=user_apps(desk_rng, web_meetings=desk_rng.random() < 0.3),
                afk_view=desk_rng.choice(("live", "server")),
            )
        )
    return users


def _source(index: int, every: int) -> str:
    if every > 0 and index % every == every - 1:
        return COUNTERLESS_CYCLE[(index // every) % len(COUNTERLESS_CYCLE)]
    return SOURCE_CYCLE[index % len(SOURCE_CYCLE)]


def _start_minute(rng: random.Random) -> int:
    """Shifted schedules: most people start between 7:00 and 10:30, some after noon."""
    if rng.random() < 0.15:
        return int(12 * 60 + rng.uniform(0, 120))
    return int(7 * 60 + rng.uniform(0, 210))


def _choice(rng: random.Random, items: Sequence[tuple[object, float]]) -> object:
    total = sum(w for _, w in items)
    x = rng.random() * total
    for item, w in items:
        x -= w
        if x <= 0:
            return item
    return items[-1][0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _duration(rng: random.Random, label: str) -> int:
    return max(2, int(round(rng.lognormvariate(math.log(DURATION_MEDIAN[label]), 0.5))))


@dataclass
class _Block:
    label: str  # the true task
    start: int  # local minute of day
    end: int  # exclusive


def _plan_day(rng: random.Random, user: SynthUser) -> tuple[list[_Block], int, int, tuple[int, int]]:
    """Blocks of true tasks for one day, plus day start/end and the lunch gap (local minutes)."""
    p = user.persona
    start = user.start_minute + int(rng.uniform(-20, 20))
    end = start + int(rng.uniform(8.0 * 60, 9.5 * 60))
    lunch_start = start + int(rng.uniform(3.3 * 60, 4.5 * 60))
    lunch_len = int(rng.uniform(35, 60))
    lunch = (lunch_start, lunch_start + lunch_len)
    # meetings on the half hour, 30 or 60 minutes, outside lunch
    meetings: list[tuple[int, int]] = []
    n_meet = _poisson(rng, p.meetings_per_day)
    slots = list(range((start // 30 + 1) * 30, end - 30, 30))
    rng.shuffle(slots)
    for s in slots:
        if len(meetings) >= n_meet:
            break
        length = 60 if rng.random() < 0.3 else 30
        s0, s1 = s + int(rng.uniform(0, 3)), s + length
        if s1 > end or not (s1 <= lunch[0] or s0 >= lunch[1]):
            continue
        if any(not (s1 <= a or s0 >= b) for a, b in meetings):
            continue
        meetings.append((s0, s1))
    meetings.sort()
    blocks: list[_Block] = []
    t = start
    current = "Communicate" if rng.random() < 0.4 else str(_choice(rng, list(p.mix.items())))
    fixed = sorted(meetings + [lunch])
    while t < end:
        nxt_fixed = next(((a, b) for a, b in fixed if b > t), None)
        if nxt_fixed is not None and nxt_fixed[0] <= t:
            a, b = nxt_fixed
            label = "Meet" if (a, b) != lunch else "Lunch"
            blocks.append(_Block(label, t, min(b, end)))
            t = b
            if label == "Meet":
                current = "Communicate" if rng.random() < 0.5 else current
            continue
        dur = _duration(rng, current)
        stop = t + dur
        if nxt_fixed is not None:
            stop = min(stop, nxt_fixed[0])
        stop = min(stop, end)
        if stop > t:
            blocks.append(_Block(current, t, stop))
        t = stop
        weights = []
        for lab, w in p.mix.items():
            if lab == current:
                continue
            aff = AFFINITY.get(current, {}).get(lab, 0.6)
            weights.append((lab, w * aff))
        current = str(_choice(rng, weights))
    return blocks, start, end, lunch


class _MinuteState:
    """The carry-over between consecutive minutes: the app in front, its document, and how
    many minutes nobody has touched the machine."""

    def __init__(self) -> None:
        self.app: App | None = None
        self.doc: int = 0
        self.domain: str = "non_browser"
        self.touched: list[bool] = []  # counterless sources: was there input in each minute


def _domain(app: App) -> str:
    if not app.is_browser:
        return "non_browser"
    return app.site or "unknown"


def _title_hash(user: SynthUser, app: App, doc: int) -> str:
    return hashlib.sha256(f"title:{user.user_id}:{app.app_id}:{doc}".encode()).hexdigest()[:16]


def _pick_app(rng: random.Random, user: SynthUser, label: str, day_idx: int) -> App:
    app = _choice(rng, user.apps[label])
    assert isinstance(app, App)
    late = user.new_app_day is not None and day_idx >= user.new_app_day
    if late and label in ("Build", "Write") and rng.random() < 0.25:
        return ZED if label == "Build" else NEWAPP
    return app


def _minute_record(
    rng: random.Random,
    user: SynthUser,
    state: _MinuteState,
    behaviour: str,
    bucket_start: datetime,
    day_idx: int,
    counters: bool,
    typing_mult: float,
    lockscreen: App,
) -> ActivityRecord:
    sig = SIGNALS[behaviour]
    p = user.persona
    segments: list[Segment] = []
    locked = 0.0
    if behaviour == "BreakIdle":
        locked_break = state.app == lockscreen or rng.random() < 0.35
        if locked_break:
            state.app = lockscreen
            state.touched.append(False)
            locked = 60.0
            segments.append(Segment(0.0, 60.0, lockscreen.app_id, lockscreen.category, False, False,
                                    False, None, "non_browser"))
            return ActivityRecord(
                user_id=user.user_id, device_id=user.device_id, bucket_start=bucket_start,
                observed_seconds=60.0, utc_offset_minutes=user.utc_offset_minutes,
                segments=tuple(segments),
                keys=0.0 if counters else NAN, backspaces=0.0 if counters else NAN,
                shortcuts=0.0 if counters else NAN, clicks=0.0 if counters else NAN,
                scrolls=0.0 if counters else NAN, mouse_px=0.0 if counters else NAN,
                active_seconds_keyboard=0.0 if counters else NAN,
                active_seconds_mouse=0.0 if counters else NAN, active_seconds_any=0.0,
                max_idle_run_seconds=60.0, leading_idle_seconds=60.0, trailing_idle_seconds=60.0,
                input_events=0.0 if counters else NAN, locked_seconds=60.0, sources=("synthetic",),
            )
    # foreground segments
    if state.app is None or state.app == lockscreen or rng.random() < 0.15:
        state.app = _pick_app(rng, user, behaviour, day_idx)
        state.doc = rng.randrange(12)
        state.domain = _domain(state.app)
    n_switch = _poisson(rng, sig.switches)
    cuts = sorted(round(rng.uniform(1.0, 59.0), 3) for _ in range(n_switch))
    bounds = [0.0, *cuts, 60.0]
    for i in range(len(bounds) - 1):
        if i > 0:
            new_app = _pick_app(rng, user, behaviour, day_idx)
            if new_app == state.app:
                new_app = _pick_app(rng, user, behaviour, day_idx)
            state.app = new_app
            state.doc = rng.randrange(12)
            state.domain = _domain(new_app)
        a = state.app
        seconds = round(bounds[i + 1] - bounds[i], 3)
        if segments and segments[-1].app_id == a.app_id:
            prev = segments[-1]
            segments[-1] = Segment(prev.offset_s, prev.seconds + seconds, prev.app_id, prev.app_category,
                                   prev.is_browser, prev.is_editor, prev.is_terminal, prev.title_hash,
                                   prev.domain_category)
            continue
        segments.append(Segment(bounds[i], seconds, a.app_id, a.category,
                                a.is_browser, a.is_editor, a.is_terminal,
                                _title_hash(user, a, state.doc), state.domain))
    # idleness inside the minute
    if behaviour == "BreakIdle":
        idle_run = 60.0 if rng.random() < 0.9 else rng.uniform(50, 60)
    elif rng.random() < sig.idle_prob:
        idle_run = rng.uniform(20, 48)
    else:
        idle_run = rng.uniform(0, 12)
    active_any = max(0.0, min(60.0, 60.0 - idle_run - rng.uniform(0, 6)))
    frac = active_any / 60.0
    keys = float(_poisson(rng, sig.keys * p.typing * typing_mult * frac))
    back = float(min(keys, _poisson(rng, keys * sig.backspace_ratio)))
    shortcuts = float(_poisson(rng, sig.shortcuts * frac))
    clicks = float(_poisson(rng, sig.clicks * p.mouse * frac))
    scrolls = float(_poisson(rng, sig.scrolls * p.mouse * frac))
    mouse_scale = sig.mouse_px * p.mouse * frac / 2.0
    mouse_px = rng.gammavariate(2.0, mouse_scale) if mouse_scale > 0 else 0.0
    kb_active = min(active_any, keys * 0.3 + shortcuts * 0.5)
    mouse_active = min(active_any, clicks * 1.2 + scrolls * 0.5 + mouse_px / 250.0)
    active_any = max(active_any, kb_active, mouse_active)
    place = rng.random()
    leading = idle_run if place < 0.3 else 0.0
    trailing = idle_run if place > 0.7 else 0.0
    if not user.has_counters:
        # ActivityWatch / Wayland: active all minute; the AFK view is applied per day (_afk_view)
        state.touched.append(rng.random() < INPUT_PROB[behaviour])
        idle_run = leading = trailing = 0.0
        active_any = 60.0
    return ActivityRecord(
        user_id=user.user_id,
        device_id=user.device_id,
        bucket_start=bucket_start,
        observed_seconds=60.0,
        utc_offset_minutes=user.utc_offset_minutes,
        segments=tuple(segments),
        keys=keys if counters else NAN,
        backspaces=back if counters else NAN,
        shortcuts=shortcuts if counters else NAN,
        clicks=clicks if counters else NAN,
        scrolls=scrolls if counters else NAN,
        mouse_px=round(mouse_px, 1) if counters else NAN,
        active_seconds_keyboard=round(kb_active, 3) if counters else NAN,
        active_seconds_mouse=round(mouse_active, 3) if counters else NAN,
        active_seconds_any=round(active_any, 3),
        max_idle_run_seconds=round(idle_run, 3),
        leading_idle_seconds=round(leading, 3),
        trailing_idle_seconds=round(trailing, 3),
        input_events=(keys + clicks + scrolls) if counters else NAN,
        locked_seconds=locked,
        sources=("synthetic",),
    )


def _afk_view(records: list[ActivityRecord], touched: list[bool], view: str) -> list[ActivityRecord]:
    """What an AFK watcher reports: away once nobody touched the machine for the timeout.

    ``live`` (the agent asking aw-server as it goes): the minutes after the timeout are away.
    ``server`` (an import of aw-server's history): the AFK event starts at the last input, so
    the whole quiet run is away. Runs shorter than the timeout are never away.
    """
    from dataclasses import replace

    out = list(records)
    n = len(records)
    i = 0
    while i < n:
        if touched[i]:
            i += 1
            continue
        j = i
        while j < n and not touched[j] and (j == i or records[j].bucket_start - records[j - 1].bucket_start
                                            == timedelta(minutes=1)):
            j += 1
        if j - i >= AFK_TIMEOUT_MINUTES:
            first = i if view == "server" else i + AFK_TIMEOUT_MINUTES
            for k in range(first, j):
                out[k] = replace(records[k], active_seconds_any=0.0, max_idle_run_seconds=60.0,
                                 leading_idle_seconds=60.0, trailing_idle_seconds=60.0)
        i = j
    return out


def _behaviour(rng: random.Random, user: SynthUser, label: str) -> str:
    """What the minutes of a chunk look like: the true task, or (ambiguous users) a confusable one."""
    ambiguous = user.ambiguity > 0 and label not in ("BreakIdle", "Meet")
    if ambiguous and rng.random() < user.ambiguity:
        return CONFUSABLE[label][0]
    return label


def generate_day(cfg: SynthConfig, user: SynthUser, day_idx: int, day: date) -> SynthDay:
    """One working day of one user: records, label spans and the true task per minute."""
    rng = random.Random(_seed_int("day", cfg.seed, user.index, day_idx))
    lockscreen = _lockscreen()
    blocks, _start, _end, _lunch = _plan_day(rng, user)
    counters = rng.random() >= cfg.missing_counter_day_rate and user.has_counters
    typing_mult = 1.0 + user.typing_drift * min(1.0, day_idx / DRIFT_DAYS)
    local_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(
        minutes=user.utc_offset_minutes
    )
    state = _MinuteState()
    records: list[ActivityRecord] = []
    truth: list[tuple[datetime, str]] = []
    labelled_blocks: list[_Block] = []
    for block in blocks:
        if block.label == "Lunch":
            # the screen locks a few minutes after leaving, then the laptop sleeps (a gap)
            lock_minutes = int(rng.uniform(3, 8))
            for m in range(block.start, min(block.end, block.start + lock_minutes)):
                ts = local_midnight + timedelta(minutes=m)
                state.app = lockscreen
                records.append(_minute_record(rng, user, state, "BreakIdle", ts, day_idx, counters,
                                              typing_mult, lockscreen))
                truth.append((ts, "BreakIdle"))
            labelled_blocks.append(_Block("BreakIdle", block.start, min(block.end, block.start + lock_minutes)))
            state.app = None
            continue
        labelled_blocks.append(block)
        behaviour = block.label
        for m in range(block.start, block.end):
            if (m - block.start) % 5 == 0:
                behaviour = _behaviour(rng, user, block.label)
            ts = local_midnight + timedelta(minutes=m)
            records.append(_minute_record(rng, user, state, behaviour, ts, day_idx, counters,
                                          typing_mult, lockscreen))
            truth.append((ts, block.label))
    if not user.has_counters:
        records = _afk_view(records, state.touched, user.afk_view)
    spans = _label_spans(rng, cfg, user, labelled_blocks, local_midnight)
    return SynthDay(user=user, day=day, records=records, spans=spans, truth=truth)


def _label_spans(
    rng: random.Random, cfg: SynthConfig, user: SynthUser, blocks: list[_Block], local_midnight: datetime
) -> list[LabelSpan]:
    """The user's labels: partial coverage, boundary jitter, a little noise; never overlapping."""
    spans: list[LabelSpan] = []
    last_end = -10**9
    for i, b in enumerate(blocks):
        if b.end - b.start < 2 or rng.random() > user.persona.label_coverage:
            continue
        # boundaries next to a break are exact (the lock screen / idle return marks them)
        near_break_start = b.label == "BreakIdle" or (i > 0 and blocks[i - 1].label == "BreakIdle")
        near_break_end = b.label == "BreakIdle" or (i + 1 < len(blocks) and blocks[i + 1].label == "BreakIdle")
        js, je = rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)
        s = b.start + (0 if near_break_start else int(round(js)))
        e = b.end + (0 if near_break_end else int(round(je)))
        s = max(s, last_end)
        if e - s < 1:
            continue
        label = b.label
        if rng.random() < cfg.label_noise and label != "BreakIdle":  # a break is obvious to its taker
            label = CONFUSABLE[label][0]
        prov = str(_choice(rng, PROVENANCE_MIX))
        start_ts = local_midnight + timedelta(minutes=s)
        end_ts = local_midnight + timedelta(minutes=e)
        created = end_ts + timedelta(minutes=int(rng.uniform(1, 30)))
        spans.append(
            LabelSpan(start_ts=start_ts, end_ts=end_ts, label=label, user_id=user.user_id,
                      provenance=prov, confidence=None, created_at=created)
        )
        last_end = e
    return spans


def generate(cfg: SynthConfig) -> Iterator[SynthDay]:
    """All days of all users, user by user, days in time order."""
    days = cfg.working_days()
    for user in make_users(cfg):
        for i, d in enumerate(days):
            yield generate_day(cfg, user, i, d)
