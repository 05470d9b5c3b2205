"""The tray menu as plain data, built from one ``AgentSnapshot`` (spec 6.4).

Why a pure model: every text, enabled/checked state and action of the menu is decided here,
without pystray or a display, so each state is unit-testable and an end-to-end test can derive
its keyboard steps from the same model the tray shows. Actions are data (``Action``) that carry
the block id captured when the menu was built, so a menu rebuilt while open cannot redirect a
click to another block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from agent.snapshot import AgentSnapshot
from agent.tray.today import today_rows
from engine.labels import CORE_LABELS, MIXED_UNKNOWN, is_core_label
from engine.record import Block, PredictionRecord

PAUSE_CHOICES: tuple[tuple[str, float | None], ...] = (
    ("15 minutes", 15 * 60.0),
    ("1 hour", 3600.0),
    ("Until I resume", None),
)
LABEL_LAST_MINUTES: tuple[int, ...] = (5, 15, 30, 60)
PAUSED_FOREVER = "forever"
MAX_TODAY_ITEMS = 30


@dataclass(frozen=True, slots=True)
class Action:
    """What a click does; interpreted by the tray app against the runtime."""

    kind: str  # confirm | correct | label_last | answer_prompt | pause | resume | reload |
    #            retrain | open_folder | autostart | quit | open_timeline | forget |
    #            exclude_app | delete_all
    block_id: int | None = None
    label: str | None = None
    minutes: int | None = None
    bucket_start: str | None = None
    seconds: float | None = None
    enable: bool | None = None
    app: str | None = None  # exclude_app: the app id captured when the menu was built

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("block_id", "label", "minutes", "bucket_start", "seconds", "enable", "app"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Item:
    """One menu entry. ``checked`` is None for plain items; a submenu item has no action."""

    key: str
    text: str = ""
    enabled: bool = True
    checked: bool | None = None
    radio: bool = False
    default: bool = False
    action: Action | None = None
    submenu: tuple[Item, ...] | None = None
    separator: bool = False

    @property
    def selectable(self) -> bool:
        """GTK's keyboard navigation skips separators and disabled items."""
        return self.enabled and not self.separator

    def to_json(self) -> dict[str, Any]:
        if self.separator:
            return {"key": self.key, "separator": True}
        out: dict[str, Any] = {"key": self.key, "text": self.text, "enabled": self.enabled}
        if self.checked is not None:
            out["checked"] = self.checked
            out["radio"] = self.radio
        if self.default:
            out["default"] = True
        if self.action is not None:
            out["action"] = self.action.to_json()
        if self.submenu is not None:
            out["submenu"] = [i.to_json() for i in self.submenu]
        return out


def item_from_json(obj: dict[str, Any]) -> Item:
    """Inverse of ``Item.to_json`` (tests read the tray's dump back into a model)."""
    if obj.get("separator"):
        return Item(key=obj["key"], separator=True)
    act = obj.get("action")
    return Item(
        key=obj["key"],
        text=obj.get("text", ""),
        enabled=bool(obj.get("enabled", True)),
        checked=obj.get("checked"),
        radio=bool(obj.get("radio", False)),
        default=bool(obj.get("default", False)),
        action=Action(**act) if act else None,
        submenu=tuple(item_from_json(i) for i in obj["submenu"]) if "submenu" in obj else None,
    )


def _sep(key: str) -> Item:
    return Item(key=key, separator=True)


@dataclass(frozen=True, slots=True)
class MenuContext:
    """What the menu needs besides the snapshot (clock, display zone, tray-side state)."""

    now: datetime
    tz: tzinfo | None = None  # display zone; None = the machine's local zone
    autostart_enabled: bool = False
    autostart_available: bool = True
    trainer_available: bool = False
    notice: str | None = None  # acknowledgement or failure of the last action
    pending_prompt: str | None = None  # a prompt the tray scheduled (the snapshot's wins)


@dataclass(frozen=True, slots=True)
class MenuModel:
    items: tuple[Item, ...]
    header: str
    tooltip: str
    shown_label: str | None  # the core label (or Mixed/Unknown) the menu presents as current
    block_id: int | None  # the block every block action is bound to
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def walk(self) -> Iterator[tuple[tuple[str, ...], Item]]:
        """Every item with the key path leading to it (depth first, menu order)."""

        def rec(items: Sequence[Item], prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Item]]:
            for it in items:
                yield prefix + (it.key,), it
                if it.submenu is not None:
                    yield from rec(it.submenu, prefix + (it.key,))

        yield from rec(self.items, ())

    def find(self, key: str) -> Item:
        for _, it in self.walk():
            if it.key == key:
                return it
        raise KeyError(key)

    def has(self, key: str) -> bool:
        return any(it.key == key for _, it in self.walk())

    def path_to(self, key: str) -> tuple[str, ...]:
        for path, it in self.walk():
            if it.key == key:
                return path
        raise KeyError(key)

    def keyboard_steps(self, key: str) -> list[str]:
        """xdotool key names that reach and activate ``key`` in a freshly opened GTK menu.

        GTK selects nothing when a menu pops up from a click: the first Down selects the first
        selectable item. Right opens a submenu and selects its first selectable item.
        """
        path = self.path_to(key)
        steps: list[str] = []
        siblings: Sequence[Item] = self.items
        for depth, k in enumerate(path):
            selectable = [it for it in siblings if it.selectable]
            idx = next((i for i, it in enumerate(selectable) if it.key == k), None)
            if idx is None:
                raise ValueError(f"menu item {k!r} cannot be reached (disabled or separator)")
            steps += ["Down"] * (idx + 1 if depth == 0 else idx)
            target = selectable[idx]
            if target.submenu is not None and depth < len(path) - 1:
                steps.append("Right")
                siblings = target.submenu
        steps.append("Return")
        return steps

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> MenuModel:
        known = {"version", "header", "tooltip", "shown_label", "block_id", "items"}
        return cls(
            items=tuple(item_from_json(i) for i in obj["items"]),
            header=obj["header"],
            tooltip=obj["tooltip"],
            shown_label=obj.get("shown_label"),
            block_id=obj.get("block_id"),
            version=int(obj.get("version", 0)),
            extra={k: v for k, v in obj.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "header": self.header,
            "tooltip": self.tooltip,
            "shown_label": self.shown_label,
            "block_id": self.block_id,
            "items": [i.to_json() for i in self.items],
            **self.extra,
        }


# ---------------------------------------------------------------- formatting helpers


def parse_ts(value: str) -> datetime:
    """ISO text from the snapshot -> aware UTC datetime (naive input is taken as UTC)."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def hhmm(value: str | datetime, tz: tzinfo | None) -> str:
    dt = parse_ts(value) if isinstance(value, str) else value
    return dt.astimezone(tz).strftime("%H:%M")


def percent(p: float) -> str:
    return f"{round(p * 100):d}%"


def display_name(core: str, mapped: str | None) -> str:
    """``Deep Work (Build)`` when a taxonomy maps the label to another name, else ``Build``."""
    if mapped and mapped != core and core != MIXED_UNKNOWN:
        return f"{mapped} ({core})"
    return core


def label_probability(rec: PredictionRecord, label: str) -> float | None:
    """The confidence shown next to ``label``: the model's, when it is the model's own pick.

    When smoothing (or an idle rule) shows another label than this bucket's argmax, a
    percentage would mislead ("BreakIdle · 0%"), so none is shown.
    """
    return rec.confidence if label == rec.core_label else None


@dataclass(frozen=True, slots=True)
class Current:
    """What the tray presents as 'now' (shared by the menu, the tooltip and the icon)."""

    state: str  # starting | paused | rules | model | mixed
    label: str | None  # core label or Mixed/Unknown
    name: str | None  # display name (taxonomy-mapped when set)
    mapped: str | None  # the taxonomy bucket, for the icon color
    confidence: float | None
    user_label: bool  # the user's own correction is shown
    since: str | None  # ISO start of the current block


def current_of(s: AgentSnapshot) -> Current:
    if s.paused:
        return Current("paused", None, None, None, None, False, None)
    block: Block | None = s.current_block
    last = s.last
    if last is None and block is None:
        return Current("starting", None, None, None, None, False, None)
    if s.user_label_override and is_core_label(s.user_label_override):
        label = s.user_label_override
        mapped = (block.mapped_label if block is not None and block.label == label else None)
        return Current(
            "model" if s.model.kind == "model" else "rules", label, display_name(label, mapped),
            mapped or label, None, True, block.start if block else None,
        )
    if block is not None:
        label, mapped = block.label, block.mapped_label
    else:
        assert last is not None
        label, mapped = last.smoothed_label, last.mapped_label
    since = block.start if block is not None else None
    if label == MIXED_UNKNOWN or not is_core_label(label):
        return Current("mixed", MIXED_UNKNOWN, MIXED_UNKNOWN, MIXED_UNKNOWN, None, False, since)
    conf = label_probability(last, label) if last is not None else None
    state = "rules" if (s.model.kind == "rules" or (last is not None and last.model_id == "rules")) else "model"
    return Current(state, label, display_name(label, mapped), mapped or label, conf, False, since)


def header_text(s: AgentSnapshot, cur: Current, tz: tzinfo | None) -> str:
    if cur.state == "paused":
        if s.paused_until and s.paused_until != PAUSED_FOREVER:
            try:
                return f"Paused until {hhmm(s.paused_until, tz)}"
            except ValueError:
                pass
        return "Paused"
    if cur.state == "starting":
        return "Starting…"
    if cur.state == "mixed":
        return "Now: Mixed/Unknown"
    if cur.user_label:
        return f"Now: {cur.name} · your label"
    if cur.state == "rules":
        return f"Rules: {cur.name}"
    conf = f" · {percent(cur.confidence)}" if cur.confidence is not None else ""
    return f"Now: {cur.name}{conf}"


def tooltip_text(s: AgentSnapshot, cur: Current, tz: tzinfo | None) -> str:
    """``taskclf — Build (82 %) since 10:42``, plus one line per warning."""
    if cur.state == "paused":
        head = header_text(s, cur, tz).lower()
        line = f"taskclf — {head}"
    elif cur.state == "starting":
        line = "taskclf — starting…"
    else:
        detail = ""
        if cur.user_label:
            detail = " (your label)"
        elif cur.state == "rules":
            detail = " (rules)"
        elif cur.confidence is not None:
            detail = f" ({round(cur.confidence * 100):d} %)"
        since = f" since {hhmm(cur.since, tz)}" if cur.since else ""
        line = f"taskclf — {cur.name}{detail}{since}"
    warnings = warning_lines(s)
    return "\n".join([line, *warnings[:2]])


def warning_lines(s: AgentSnapshot) -> list[str]:
    out: list[str] = []
    if s.model.policy_error:
        out.append(f"⚠ Model refused: {s.model.policy_error}")
    if s.store_error:
        out.append(f"⚠ {s.store_error}")
    if sampler_missing(s):
        out.append("⚠ No activity sampler works on this desktop")
    if s.taxonomy_warning:
        out.append(f"⚠ {s.taxonomy_warning}")
    out.extend(f"⚠ {w}" for w in s.config_warnings)
    return out


def _booting(s: AgentSnapshot) -> bool:
    """Before the runtime's first publish every field is a default: nothing to warn about."""
    return s.model.kind == "starting" and s.last is None and not s.user_id


def sampler_missing(s: AgentSnapshot) -> bool:
    return s.sampler_backend == "none" and not _booting(s)


def _minutes(start: str, now: datetime) -> int:
    return max(0, int((now - parse_ts(start)).total_seconds() // 60))


# ---------------------------------------------------------------- the builder


def _label_choices(prefix: str, make: Any, radio_on: str | None = None) -> tuple[Item, ...]:
    """The eight core labels; with ``radio_on`` they are radio items (the current one checked)."""
    return tuple(
        Item(
            key=f"{prefix}.{lab}",
            text=lab,
            checked=None if radio_on is None else lab == radio_on,
            radio=radio_on is not None,
            enabled=make(lab) is not None,
            action=make(lab),
        )
        for lab in CORE_LABELS
    )


def build_menu(s: AgentSnapshot, ctx: MenuContext) -> MenuModel:
    """The whole menu for one snapshot. Pure: same inputs, same model."""
    tz = ctx.tz
    cur = current_of(s)
    paused = cur.state == "paused"
    block = None if paused else s.current_block
    block_id = block.block_id if block is not None else None
    items: list[Item] = []

    header = header_text(s, cur, tz)
    items.append(Item(key="header", text=header, enabled=False, default=True))
    if block is not None:
        items.append(
            Item(
                key="block",
                text=f"Since {hhmm(block.start, tz)} ({_minutes(block.start, ctx.now)} min)",
                enabled=False,
            )
        )
    if s.saving:
        items.append(Item(key="saving", text="Saving…", enabled=False))
    if ctx.notice:
        items.append(Item(key="notice", text=ctx.notice, enabled=False))

    can_confirm = block_id is not None and cur.label is not None and is_core_label(cur.label)
    items.append(
        Item(
            key="confirm",
            text="Yes, that's right",
            enabled=can_confirm,
            action=Action("confirm", block_id=block_id, label=cur.label) if can_confirm else None,
        )
    )
    radio_on = cur.label if cur.label is not None and is_core_label(cur.label) else ""
    items.append(
        Item(
            key="correct",
            text="I'm actually doing",
            enabled=block_id is not None,
            submenu=_label_choices(
                "correct",
                lambda lab: Action("correct", block_id=block_id, label=lab) if block_id is not None else None,
                radio_on,
            ),
        )
    )
    items.append(
        Item(
            key="label_last",
            text="Label the last",
            enabled=not paused,
            submenu=tuple(
                Item(
                    key=f"label_last.{m}",
                    text=f"{m} min",
                    submenu=_label_choices(
                        f"label_last.{m}", lambda lab, m=m: Action("label_last", minutes=m, label=lab)
                    ),
                )
                for m in LABEL_LAST_MINUTES
            ),
        )
    )
    prompt = s.pending_prompt or ctx.pending_prompt
    if prompt:
        try:
            at = hhmm(prompt, tz)
        except ValueError:
            at = None
        if at is not None:
            items.append(
                Item(
                    key="prompt",
                    text=f"What were you doing at {at}?",
                    submenu=_label_choices(
                        "prompt", lambda lab: Action("answer_prompt", bucket_start=prompt, label=lab)
                    ),
                )
            )
    items.append(_today(s, ctx.now, tz))
    if not s.learning.complete and s.model.kind != "starting":
        items.append(Item(key="learning", text=s.learning.line(), enabled=False))
    if s.personal_note and s.model.kind != "starting":
        items.append(Item(key="personal", text=s.personal_note, enabled=False))
    for i, w in enumerate(warning_lines(s)):
        items.append(Item(key=f"warning.{i}", text=w, enabled=False))

    items.append(_sep("sep.1"))
    if paused:
        items.append(Item(key="resume", text="Resume", action=Action("resume")))
    else:
        items.append(
            Item(
                key="pause",
                text="Pause",
                submenu=tuple(
                    Item(
                        key=f"pause.{'forever' if secs is None else int(secs)}",
                        text=text,
                        action=Action("pause", seconds=secs),
                    )
                    for text, secs in PAUSE_CHOICES
                ),
            )
        )
    items.append(_model_menu(s, ctx))
    items.append(_privacy_menu(s))
    items.append(_sep("sep.2"))
    items.append(Item(key="open_folder", text="Open data folder", action=Action("open_folder")))
    items.append(
        Item(
            key="autostart",
            text="Start at login",
            enabled=ctx.autostart_available,
            checked=ctx.autostart_enabled,
            action=Action("autostart", enable=not ctx.autostart_enabled),
        )
    )
    items.append(Item(key="quit", text="Quit", action=Action("quit")))
    return MenuModel(
        items=tuple(items),
        header=header,
        tooltip=tooltip_text(s, cur, tz),
        shown_label=cur.label,
        block_id=block_id,
        version=s.version,
    )


def _today(s: AgentSnapshot, now: datetime, tz: tzinfo | None) -> Item:
    """The local day, newest first: the user's own labels over the model's blocks."""
    rows = today_rows(s.today_blocks, s.user_labels, now, tz)[::-1][:MAX_TODAY_ITEMS]
    if not rows:
        sub: tuple[Item, ...] = (Item(key="today.none", text="Nothing yet today", enabled=False),)
    else:
        sub = tuple(
            Item(
                key=f"today.row.{r.start.isoformat()}",
                text=(f"{hhmm(r.start, tz)}–{hhmm(r.end, tz)} {display_name(r.label, r.mapped_label)}"
                      + (" · yours" if r.yours else "")),
                enabled=False,
            )
            for r in rows
        )
    opener = Item(key="today.timeline", text="Open today's timeline", action=Action("open_timeline"))
    return Item(key="today", text="Today", submenu=(opener, _sep("today.sep"), *sub))


FORGET_MINUTES = 60


def _privacy_menu(s: AgentSnapshot) -> Item:
    """Forget the last hour, never track the app in front, delete everything (confirmed by a
    second item in its own submenu, so one slip of the mouse deletes nothing)."""
    app = s.foreground_app
    if app is not None:
        never = Item(key="privacy.exclude", text=f"Never track {app[1]}",
                     action=Action("exclude_app", app=app[0]))
    else:
        never = Item(key="privacy.exclude", text="Never track this app", enabled=False)
    confirm = (
        Item(key="privacy.delete.what", text="Removes the store, models, reports, logs and keys",
             enabled=False),
        Item(key="privacy.delete.yes", text="Yes, delete everything", action=Action("delete_all")),
    )
    return Item(
        key="privacy",
        text="Privacy",
        submenu=(
            Item(key="privacy.forget", text="Forget the last hour",
                 action=Action("forget", minutes=FORGET_MINUTES)),
            never,
            _sep("privacy.sep"),
            Item(key="privacy.delete", text="Delete all my data…", submenu=confirm),
        ),
    )


def _calibration_text(s: AgentSnapshot) -> str:
    """From the last prediction's calibrator when it came from this model, else the status."""
    last = s.last
    if last is not None and last.model_id == s.model.model_id:
        used = last.calibrator
        if used.startswith("user"):
            return "calibrated (user)"
        if used.startswith("global"):
            return "calibrated (global)"
        if used.startswith("identity"):
            return "not calibrated"
    # no bucket from this model yet: only a per-user calibrator is known for sure
    return "calibrated (user)" if s.model.calibrated_for_user else ""


def _model_menu(s: AgentSnapshot, ctx: MenuContext) -> Item:
    m = s.model
    sub: list[Item] = []
    if m.kind == "starting":
        status = "Starting…"
    elif m.kind == "starter":
        status = "Starter model (no model of your own yet)"
    elif m.kind == "rules" or not m.model_id:
        status = "Rules (no model yet)"
    else:
        parts = [m.model_id, _calibration_text(s)]
        if m.threshold is not None:
            parts.append(f"threshold {m.threshold:.2f}")
        status = " · ".join(p for p in parts if p)
    sub.append(Item(key="model.status", text=status, enabled=False))
    if m.last_good_in_use:
        sub.append(Item(key="model.last_good", text="Using the last good policy", enabled=False))
    if m.policy_error:
        sub.append(Item(key="model.error", text=f"⚠ {m.policy_error}", enabled=False))
    sub.append(Item(key="model.reload", text="Reload now", action=Action("reload")))
    sub.append(
        Item(
            key="model.retrain",
            text="Retrain now" if ctx.trainer_available else "Retrain now (trainer not installed)",
            enabled=ctx.trainer_available,
            action=Action("retrain") if ctx.trainer_available else None,
        )
    )
    return Item(key="model", text="Model", submenu=tuple(sub))
