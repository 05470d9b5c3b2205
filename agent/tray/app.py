"""pystray glue: the tray owns the main thread and shows the menu model of the latest snapshot.

Threading (spec 1.4): the runtime publishes snapshots from its worker thread; there we build
the pure menu model and the icon image (Pillow, cached), then hand only cheap UI calls to the
main thread: GLib idle callbacks for the GTK/AppIndicator backends, ``AppHelper.callAfter`` on
macOS (AppKit must only be touched from the main thread), direct calls elsewhere. Menu clicks
arrive on the main thread; label actions are bounded by the runtime (~0.3 s commit wait), the
rest is quick or handed to a background thread (retrain, open folder).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.snapshot import AgentSnapshot
from agent.tray.backends import TrayBackend, gtk_menu_texts, release_setup_thread
from agent.tray.icon import IconState, icon_state, render_icon
from agent.tray.menu_model import Action, Item, MenuContext, MenuModel, build_menu, hhmm

log = logging.getLogger("taskclf.tray")

DUMP_ENV = "TASKCLF_TRAY_DUMP"
NOTICE_SECONDS = 120.0
DEBOUNCE_SECONDS = 1.5
RETRAIN_LOG = "retrain.log"
HOST_GRACE_SECONDS = 10.0  # a panel starting at login may come up after the tray


class Runtime(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...
    def snapshot(self) -> AgentSnapshot: ...
    def subscribe(self, callback: Callable[[AgentSnapshot], None]) -> None: ...
    def confirm(self, block_id: int) -> Any: ...
    def correct(self, block_id: int, label: str) -> Any: ...
    def label_last(self, minutes: int, label: str) -> Any: ...
    def answer_prompt(self, bucket_start: str, label: str) -> Any: ...
    def pause(self, seconds: float | None) -> None: ...
    def resume(self) -> None: ...
    def reload_now(self) -> None: ...
    def forget_last(self, minutes: int) -> Any: ...
    def exclude_app(self, app_id: str) -> Any: ...


class Autostart(Protocol):
    def is_enabled(self) -> bool: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...


class Prompts(Protocol):
    def observe(self, snapshot: AgentSnapshot, now: datetime) -> str | None: ...


@dataclass
class Notice:
    text: str
    until: float


def trainer_command() -> list[str] | None:
    """How "Retrain now" starts the trainer: never ``sys.executable -m`` when frozen (spec 8)."""
    if getattr(sys, "frozen", False):
        exe_dir = Path(sys.executable).parent
        for name in ("taskclf-trainer", "taskclf-trainer.exe"):
            if (exe_dir / name).exists():
                return [str(exe_dir / name), "train", "all"]
    exe = shutil.which("taskclf")
    if exe is None:
        return None
    if not getattr(sys, "frozen", False):
        import importlib.util

        if importlib.util.find_spec("trainer") is None or importlib.util.find_spec("sklearn") is None:
            return None
    return [exe, "train", "all"]


def retrain_outcome(home: Path) -> str | None:
    """What the last training run did, in plain words (written by the trainer after it decided
    whether the new model is better): deployed, kept (and where the report is), or personalised
    instead."""
    from engine.jsonio import read_json
    from engine.paths import artifacts_dir

    try:
        obj = read_json(artifacts_dir(home) / "last_training.json", max_bytes=64 * 1024)
    except Exception:
        return None
    msg = obj.get("message") if isinstance(obj, dict) else None
    return msg[:300] if isinstance(msg, str) and msg else None


def open_folder_command(path: Path, platform: str = sys.platform) -> list[str] | None:
    if platform == "darwin":
        return ["open", str(path)]
    if platform.startswith("win"):
        return None  # os.startfile
    return ["xdg-open", str(path)]


class TrayApp:
    """One tray icon bound to one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        home: Path,
        *,
        backend: TrayBackend | None = None,
        autostart: Autostart | None = None,
        prompts: Prompts | None = None,
        notify_enabled: bool = False,
        trainer: list[str] | None = None,
        dump_path: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        tz: Any = None,
        spawn: Callable[..., Any] | None = None,
        start_runtime: bool = False,
        host_problem: Callable[[], str | None] | None = None,
        log_path: Path | None = None,
        host_grace: float = HOST_GRACE_SECONDS,
        open_page: Callable[[Path], bool] | None = None,
    ) -> None:
        self.runtime = runtime
        self.home = home
        self._backend = backend
        self.autostart = autostart
        self.prompts = prompts
        self.notify_enabled = notify_enabled
        self.trainer = trainer
        self.dump_path = dump_path if dump_path is not None else _dump_from_env()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._mono = monotonic
        self._tz = tz
        self._spawn = spawn or _spawn_detached
        self._lock = threading.RLock()
        self._snapshot: AgentSnapshot = runtime.snapshot()
        self._notice: Notice | None = None
        self._last_click: tuple[Action, float] | None = None
        self._icon: Any = None
        self._shown: tuple[IconState | None, str | None, dict[str, Any] | None] = (None, None, None)
        self._retrain_proc: Any = None
        self.start_runtime = start_runtime
        self.host_problem = host_problem
        self.log_path = log_path
        self.host_grace = host_grace
        self._quitting = threading.Event()
        self._open_page = open_page
        #: set by "Delete all my data": the caller starts the agent again, fresh, after run()
        self.restart_requested = False
        self.exit_code = 0
        self.model: MenuModel = self._build(self._snapshot)

    # ------------------------------------------------------------ model

    def _context(self, now: datetime) -> MenuContext:
        notice = None
        if self._notice is not None:
            if self._mono() < self._notice.until:
                notice = self._notice.text
            else:
                self._notice = None
        autostart_enabled = False
        if self.autostart is not None:
            try:
                autostart_enabled = self.autostart.is_enabled()
            except OSError:
                autostart_enabled = False
        return MenuContext(
            now=now,
            tz=self._tz,
            autostart_enabled=autostart_enabled,
            autostart_available=self.autostart is not None,
            trainer_available=self.trainer is not None,
            notice=notice,
        )

    def _build(self, s: AgentSnapshot) -> MenuModel:
        return build_menu(s, self._context(self._clock()))

    # ------------------------------------------------------------ snapshot -> UI

    def on_snapshot(self, s: AgentSnapshot) -> None:
        """Runtime callback (worker thread): rebuild the model, then refresh the UI."""
        try:
            if self.prompts is not None:
                prompt = self.prompts.observe(s, self._clock())
                if prompt is not None:
                    self._notify(f"What were you doing at {hhmm(prompt, self._tz)}? Answer from the menu.")
            with self._lock:
                self._snapshot = s
            self.refresh()
        except Exception:  # a bad snapshot must never kill the worker
            log.exception("tray refresh failed")

    def refresh(self) -> None:
        with self._lock:
            model = self._build(self._snapshot)
            self.model = model
            state = icon_state(self._snapshot)
            dumped = {k: v for k, v in model.to_json().items() if k != "version"}
            old_state, old_tip, old_menu = self._shown
            self._shown = (state, model.tooltip, dumped)
        icon = self._icon
        if icon is None:
            return
        image = render_icon(state, self.backend.icon_size) if state != old_state else None
        tip = model.tooltip if model.tooltip != old_tip else None
        menu_changed = dumped != old_menu
        if image is None and tip is None and not menu_changed:
            return

        def apply() -> None:
            if image is not None:
                icon.icon = image
            if tip is not None:
                icon.title = tip
            if menu_changed:
                icon.update_menu()
                # GTK rebuilds the menu in an idle callback of its own: dump after it ran
                self.ui_call(lambda: self._dump(model, state))
            else:
                self._dump(model, state)

        self.ui_call(apply)

    def ui_call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the thread that owns the UI (macOS and GTK need the main thread)."""
        loop = self.backend.ui_loop if self._icon is not None else "direct"
        if loop == "glib":
            from gi.repository import GLib

            def once() -> bool:
                _guard(fn)
                return False

            GLib.idle_add(once)
        elif loop == "appkit":
            from PyObjCTools import AppHelper

            AppHelper.callAfter(_guard, fn)
        else:
            _guard(fn)

    def _dump(self, model: MenuModel, state: IconState) -> None:
        """Test hook: write what the tray shows (the model and, on GTK, the real widgets)."""
        if self.dump_path is None:
            return
        data = model.to_json()
        data["icon"] = {"kind": state.kind, "text": state.text, "color": state.color,
                        "warning": state.warning}
        data["backend"] = self.backend.name
        data["written_at"] = time.time()
        gtk = gtk_menu_texts(self.backend, self._icon) if self._icon is not None else None
        if gtk is not None:
            data["gtk"], data["gtk_tooltip"] = gtk
        tmp = self.dump_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.dump_path)
        except OSError:
            log.warning("could not write the tray dump file")

    # ------------------------------------------------------------ pystray objects

    @property
    def backend(self) -> TrayBackend:
        if self._backend is None:
            from agent.tray.backends import choose_backend

            self._backend = choose_backend()
        return self._backend

    def pystray_items(self, items: tuple[Item, ...]) -> list[Any]:
        """The menu model as pystray items, within what the backend can show (its flags)."""
        b = self.backend
        out: list[Any] = []
        for it in items:
            if it.separator:
                out.append(b.Menu.SEPARATOR)
                continue
            action: Any
            if it.submenu is not None:
                action = b.Menu(*self.pystray_items(it.submenu))
            else:
                action = self._handler(it.action)
            checked = None if it.checked is None else _const(it.checked)
            out.append(
                b.MenuItem(
                    it.text, action, checked=checked, radio=it.radio and b.has_menu_radio,
                    default=it.default and b.has_default_action, enabled=it.enabled,
                )
            )
        return out

    def _handler(self, action: Action | None) -> Callable[[Any, Any], None]:
        def handler(icon: Any, item: Any) -> None:
            if action is not None:
                self.on_click(action)

        return handler

    # ------------------------------------------------------------ actions

    def on_click(self, action: Action) -> None:
        """A menu click (main thread). The action carries the block id the user saw."""
        now = self._mono()
        with self._lock:
            last = self._last_click
            if last is not None and last[0] == action and now - last[1] < DEBOUNCE_SECONDS:
                log.info("ignored a repeated click on %s", action.kind)
                return
            self._last_click = (action, now)
        try:
            self._perform(action)
        except Exception as exc:  # the tray stays up whatever an action does
            log.exception("menu action %s failed", action.kind)
            self._say(f"⚠ Could not {action.kind.replace('_', ' ')}: {_short(exc)}", failure=True)
        self.refresh()

    def _perform(self, a: Action) -> None:
        rt = self.runtime
        if a.kind == "confirm" and a.block_id is not None:
            self._result(rt.confirm(a.block_id), f"Confirmed: {a.label}")
        elif a.kind == "correct" and a.block_id is not None and a.label:
            self._result(rt.correct(a.block_id, a.label), f"Corrected to {a.label}")
        elif a.kind == "label_last" and a.minutes and a.label:
            self._result(rt.label_last(a.minutes, a.label), f"Labelled the last {a.minutes} min {a.label}")
        elif a.kind == "answer_prompt" and a.bucket_start and a.label:
            self._result(rt.answer_prompt(a.bucket_start, a.label), f"Thanks: {a.label}")
        elif a.kind == "pause":
            rt.pause(a.seconds)
        elif a.kind == "resume":
            rt.resume()
        elif a.kind == "reload":
            rt.reload_now()
            self._say("Reloading the model…")
        elif a.kind == "retrain":
            self._retrain()
        elif a.kind == "open_folder":
            self._open_folder()
        elif a.kind == "autostart" and self.autostart is not None:
            if a.enable:
                self.autostart.enable()
                self._say("✓ taskclf will start at login")
            else:
                self.autostart.disable()
                self._say("✓ taskclf will not start at login")
        elif a.kind == "open_timeline":
            self._background(self._open_timeline, "timeline")
        elif a.kind == "forget" and a.minutes:
            minutes = a.minutes
            self._say("Forgetting…")
            self._background(lambda: self._result(rt.forget_last(minutes),
                                                  f"Forgot the last {minutes} min"), "forget")
        elif a.kind == "exclude_app" and a.app:
            app_id = a.app
            self._say("Forgetting…")
            self._background(lambda: self._result(rt.exclude_app(app_id),
                                                  f"{app_id} is never tracked"), "exclude-app")
        elif a.kind == "delete_all":
            self._say("Deleting all taskclf data…")
            self._background(self._delete_all, "delete-all")
        elif a.kind == "quit":
            self.quit()
        else:
            log.warning("unknown or incomplete menu action %r", a)

    def _result(self, res: Any, fallback: str) -> None:
        ok = bool(getattr(res, "ok", False))
        saved = bool(getattr(res, "saved", ok))
        message = str(getattr(res, "message", "") or "")
        if ok and saved:
            self._say(f"✓ {message or fallback}")
        elif ok:  # queued durably: the runtime retries until the store takes it
            self._say(message if message.startswith("Saving") else f"Saving… {message}".strip())
        else:
            self._say(f"⚠ {message or 'Could not save'}", failure=True)

    def _say(self, text: str, *, failure: bool = False) -> None:
        with self._lock:
            self._notice = Notice(text[:120], self._mono() + NOTICE_SECONDS)
        if failure or self.notify_enabled:
            self._notify(text)

    def _notify(self, text: str) -> None:
        icon = self._icon
        if icon is None or not getattr(icon, "HAS_NOTIFICATION", False):
            return
        try:
            icon.notify(text, "taskclf")
        except Exception:
            log.warning("notification failed", exc_info=True)

    def _retrain(self) -> None:
        if self.trainer is None:
            self._say("⚠ The trainer is not installed (pip install 'taskclf[trainer]')", failure=True)
            return
        proc = self._retrain_proc
        if proc is not None and proc.poll() is None:
            self._say("Retraining is already running")
            return
        cmd = [*self.trainer, "--home", str(self.home)]
        output = self.log_path.with_name(RETRAIN_LOG) if self.log_path is not None else None
        self._retrain_proc = self._spawn(cmd, output=output)
        self._say("Retraining in the background; the new model loads by itself")

        def wait(p: Any = self._retrain_proc) -> None:
            rc = p.wait() if hasattr(p, "wait") else 0
            if rc == 0:
                self._say(retrain_outcome(self.home) or "✓ Retrain finished")
            else:
                self._say(f"⚠ Retrain failed (exit {rc}); see {self._shown_path(output)}", failure=True)
            self.refresh()

        threading.Thread(target=wait, name="taskclf-retrain-wait", daemon=True).start()

    def _background(self, fn: Callable[[], None], name: str) -> None:
        """Slow actions run off the main thread; their outcome shows as the menu notice."""

        def run() -> None:
            try:
                fn()
            except Exception as exc:
                log.exception("%s failed", name)
                self._say(f"⚠ {_short(exc)}", failure=True)
            self.refresh()

        threading.Thread(target=run, name=f"taskclf-{name}", daemon=True).start()

    def _open_timeline(self) -> None:
        from agent.dayview.report import open_page, write_report

        today = self._clock().astimezone(self._tz).date()
        written = write_report(self.home, today)
        opener = self._open_page or open_page
        if opener(written.html):
            self._say("✓ Today's timeline is open in your browser")
        else:
            self._say(f"Today's timeline: {written.html}")

    def _delete_all(self) -> None:
        """Stop the agent, delete everything it stored, and start again fresh (a new identity
        and title key); the restart happens after the tray's main loop has ended."""
        from agent.forget import delete_everything

        self.runtime.stop()
        delete_everything(self.home)
        self.restart_requested = True
        self.ui_call(self.quit)

    def _open_folder(self) -> None:
        cmd = open_folder_command(self.home)
        if cmd is None:
            os.startfile(str(self.home))  # type: ignore[attr-defined]  # Windows only
        elif shutil.which(cmd[0]) is None:
            self._say(f"Data folder: {self.home}")
        else:
            self._spawn(cmd)

    def _shown_path(self, path: Path | None) -> str:
        """A log file as the user can find it (``~`` for the home folder)."""
        if path is None:
            return "the terminal output (the log folder is not writable)"
        try:
            return "~/" + path.relative_to(Path.home()).as_posix()
        except ValueError:
            return str(path)

    def quit(self) -> None:
        self._quitting.set()
        icon = self._icon
        if icon is not None:
            icon.stop()

    # ------------------------------------------------------------ main loop

    def run(self) -> int:
        """Blocks the calling (main) thread until Quit.

        With ``start_runtime`` the runtime starts in pystray's setup thread once the icon is
        visible; the caller always stops it after this returns.
        """
        b = self.backend
        menu = b.Menu(lambda: self.pystray_items(self.model.items))
        self._icon = b.make_icon("taskclf", self.model.tooltip, menu)
        state = icon_state(self._snapshot)
        self._icon.icon = render_icon(state, b.icon_size)
        self._shown = (state, self.model.tooltip, None)
        self.runtime.subscribe(self.on_snapshot)
        icon = self._icon
        if threading.current_thread() is threading.main_thread() and b.ui_loop != "glib":
            signal.signal(signal.SIGTERM, lambda *_: self.quit())

        def setup(icon: Any) -> None:
            if self._quitting.is_set():  # the loop failed to start: nothing to set up
                return
            if b.ui_loop == "glib":  # the GLib loop runs now, so it can deliver the signals
                self._install_glib_signal_handlers()
            icon.visible = True
            self.refresh()
            if self.start_runtime:  # off the main thread, after the icon is visible
                try:
                    self.runtime.start()
                except Exception:
                    log.exception("the agent runtime failed to start")
                    self._say(f"⚠ The agent could not start; see {self._shown_path(self.log_path)}",
                              failure=True)
            self.on_snapshot(self.runtime.snapshot())
            self._check_tray_host()

        try:
            icon.run(setup=setup)
        except Exception:
            self._quitting.set()
            release_setup_thread(icon)
            raise
        finally:
            self._icon = None
        return self.exit_code

    def _install_glib_signal_handlers(self) -> None:
        from gi.repository import GLib

        def on_signal() -> bool:
            self.quit()
            return False

        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, on_signal)

    def _check_tray_host(self) -> None:
        """Say so when no system tray shows the icon (a tray started after us gets a grace)."""
        if self.host_problem is None:
            return
        problem = self.host_problem()
        if problem is not None and not self._quitting.wait(self.host_grace):
            problem = self.host_problem()
        if problem is None or self._quitting.is_set():
            return
        log.warning("%s", problem)  # the tray's console handler shows it on stderr too
        self._notify(problem)


def _const(value: bool) -> Callable[[Any], bool]:
    return lambda _item: value


def _guard(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        log.exception("tray UI update failed")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:80]


def _spawn_detached(cmd: list[str], output: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session; its output goes to ``output`` (0600) when given."""
    if output is None:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):  # an older file keeps no wider mode (POSIX only)
            os.fchmod(fd, 0o600)
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                start_new_session=True)
    finally:
        os.close(fd)


def _dump_from_env() -> Path | None:
    value = os.environ.get(DUMP_ENV)
    return Path(value) if value else None
