"""``taskclf doctor [--json]``: what works on this machine and what does not.

Reports the paths, which sampler backends can run (and which one the agent would pick), the
signals and permissions of that backend, the session type (Wayland, a tray host), the store,
and the model/policy status, without starting the agent or changing anything.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _session_info() -> dict[str, Any]:
    env = os.environ
    wayland = bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"
    out: dict[str, Any] = {
        "platform": sys.platform,
        "display": env.get("DISPLAY"),
        "wayland": wayland,
        "desktop": env.get("XDG_CURRENT_DESKTOP"),
    }
    if sys.platform.startswith("linux"):
        out["tray_host"] = _tray_host_present()
    return out


def _tray_host_present() -> bool | None:
    """Is there a StatusNotifier watcher or an XEmbed system tray? None when unknown."""
    if not os.environ.get("DISPLAY"):
        return None
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            owner = d.get_selection_owner(atom)
            return bool(owner and getattr(owner, "id", 0))
        finally:
            d.close()
    except Exception:
        return None


def _backend_report(name: str, aw_url: str | None) -> dict[str, Any]:
    from agent.sampler import AW_NOT_CONFIGURED, BackendUnavailable, create_backend

    if name == "activitywatch" and not aw_url:
        return {"name": name, "available": False, "reason": AW_NOT_CONFIGURED}
    try:
        b = create_backend(name, activitywatch_url=aw_url)
        if name == "activitywatch":
            b.start()
    except BackendUnavailable as exc:
        return {"name": name, "available": False, "reason": str(exc)}
    except Exception as exc:
        return {"name": name, "available": False, "reason": f"{type(exc).__name__}: {exc}"}
    try:
        return {
            "name": name,
            "available": True,
            "signals": b.capabilities(),
            "missing_signals": list(b.missing_signals()),
            "permissions": b.permissions(),
            "notes": b.notes(),
        }
    finally:
        try:
            b.stop()
        except Exception:
            pass


def _wayland_report(aw_url: str | None) -> dict[str, Any]:
    """On a Wayland session: does an ActivityWatch server answer on loopback (the configured
    URL or its default port)? Foreground windows can only be read through it."""
    from agent.sampler import is_wayland_session, wayland_activitywatch_url

    session = sys.platform.startswith("linux") and is_wayland_session()
    found = wayland_activitywatch_url(aw_url) if session else None
    return {"session": session, "activitywatch_url": found, "advice": None}


def _policy_report(home: Path) -> dict[str, Any]:
    from agent.reload import build_policy_engine
    from engine.paths import last_good_policy_path, policy_path

    path = policy_path(home)
    out: dict[str, Any] = {"policy_file": str(path), "exists": path.exists()}
    if not path.exists():
        out["status"] = "rules (no model yet)"
        return out
    try:
        built = build_policy_engine(home, path, None)
        out["status"] = "ok"
        out["model_id"] = built.model_id
        out["reject_threshold"] = getattr(built.engine, "reject_threshold", None)
    except Exception as exc:
        out["status"] = "refused"
        out["reason"] = str(exc)
        out["last_good_exists"] = last_good_policy_path(home).exists()
    return out


def _store_report(home: Path) -> dict[str, Any]:
    from engine.paths import store_path

    path = store_path(home)
    out: dict[str, Any] = {"file": str(path), "exists": path.exists()}
    if not path.exists():
        return out
    try:
        from engine.store import Store

        st = Store.open(path, readonly=True)
        try:
            out["schema_version"] = st.schema_version()
            out["records"] = st.count_records()
        finally:
            st.close()
    except Exception as exc:
        out["error"] = str(exc)
    out["writable"] = os.access(path.parent, os.W_OK)
    return out


def _personal_report(home: Path) -> dict[str, Any]:
    """This user's progress toward personal tuning, counted as ``taskclf personalize`` counts."""
    from agent.identity import Identity
    from engine.eligibility import store_eligibility, trained_days
    from engine.jsonio import read_json
    from engine.paths import identity_path, store_path

    out: dict[str, Any] = {}
    try:
        obj = read_json(identity_path(home), max_bytes=64 * 1024) if identity_path(home).exists() else None
        if not isinstance(obj, dict) or not isinstance(obj.get("user_id"), str):
            return {"status": "no identity yet (start the agent once)"}
        ident = Identity(user_id=obj["user_id"], device_id=str(obj.get("device_id")))
        bundle = None
        try:
            from engine.policy import load_policy

            loaded = load_policy(home)
            bundle = loaded.bundle
            out["calibrator"] = loaded.store.lookup(ident.user_id)[1] if loaded.store is not None else "identity"
        except Exception:
            out["calibrator"] = None
        if not store_path(home).exists():
            return {**out, "status": "no store yet"}
        from engine.store import Store

        with Store.open(store_path(home), readonly=True) as st:
            e = store_eligibility(st, ident.user_id, trained_days(bundle).get(ident.user_id))
        out.update(e.to_json())
        out["status"] = e.line()
    except Exception as exc:
        out["status"] = f"unknown ({exc})"
    return out


def collect(home: Path) -> dict[str, Any]:
    from agent.engines import load_config, load_user_taxonomy
    from agent.sampler import BACKEND_NAMES, WAYLAND_NO_WINDOWS, default_backend_name
    from engine.paths import identity_path, logs_dir, models_dir, title_key_path

    config, config_warnings = load_config(home)
    _taxonomy, taxonomy_warning = load_user_taxonomy(home, config)
    aw_url = getattr(config, "activitywatch_url", None)
    wayland = _wayland_report(aw_url)
    if wayland["activitywatch_url"]:
        aw_url = wayland["activitywatch_url"]
    chosen = default_backend_name(activitywatch_url=aw_url,
                                  probe=lambda url: bool(wayland["activitywatch_url"]))
    backends = {n: _backend_report(n, aw_url) for n in BACKEND_NAMES}
    active = chosen if backends[chosen]["available"] else "none"
    if wayland["session"] and active != "activitywatch":
        wayland["advice"] = WAYLAND_NO_WINDOWS
    return {
        "home": str(home),
        "paths": {
            "home": str(home),
            "identity": str(identity_path(home)),
            "title_key": str(title_key_path(home)),
            "models": str(models_dir(home)),
            "logs": str(logs_dir(home)),
        },
        "session": _session_info(),
        "wayland": wayland,
        "backend": active,
        "backend_preferred": chosen,
        "backends": backends,
        "config_warnings": list(config_warnings),
        "taxonomy_warning": taxonomy_warning,
        "store": _store_report(home),
        "model": _policy_report(home),
        "personal_tuning": _personal_report(home),
    }


def _print_text(report: dict[str, Any]) -> None:
    print(f"home:      {report['home']}")
    sess = report["session"]
    print(f"session:   {sess['platform']}, DISPLAY={sess.get('display') or '-'}"
          + (", Wayland" if sess["wayland"] else "")
          + ("" if sess.get("tray_host") in (None, True) else ", no system tray host found"))
    wl = report.get("wayland") or {}
    if wl.get("advice"):
        print(f"windows:   {wl['advice']}")
    elif wl.get("activitywatch_url"):
        print(f"windows:   Wayland desktop: read from ActivityWatch at {wl['activitywatch_url']}")
    print(f"backend:   {report['backend']}"
          + ("" if report["backend"] == report["backend_preferred"]
             else f" (preferred {report['backend_preferred']} is unavailable)"))
    for name, b in report["backends"].items():
        if b["available"]:
            missing = ", ".join(b["missing_signals"]) or "none"
            perms = ", ".join(f"{k}={v}" for k, v in b["permissions"].items()) or "-"
            print(f"  {name:<8} ok; missing signals: {missing}; permissions: {perms}")
            for note in b["notes"]:
                print(f"           {note}")
        else:
            print(f"  {name:<8} unavailable: {b['reason']}")
    problems = [*report["config_warnings"], *filter(None, [report.get("taxonomy_warning")])]
    print(f"settings:  {'ok' if not problems else f'{len(problems)} problem(s)'}")
    for problem in problems:
        print(f"  {problem}")
    st = report["store"]
    if st.get("exists"):
        extra = st.get("error") or f"schema v{st.get('schema_version')}, {st.get('records')} buckets"
        print(f"store:     {st['file']} ({extra})")
    else:
        print(f"store:     {st['file']} (not created yet)")
    m = report["model"]
    if m["status"] == "ok":
        print(f"model:     {m['model_id']} (policy ok, threshold {m.get('reject_threshold')})")
    elif m["status"] == "refused":
        print(f"model:     policy refused: {m['reason']}")
    else:
        print(f"model:     {m['status']}")
    pt = report.get("personal_tuning") or {}
    if pt:
        cal = pt.get("calibrator")
        print(f"personal:  {pt.get('status')}" + (f" (calibrator in use: {cal})" if cal else ""))


def run_doctor(*, as_json: bool = False, home: Path | None = None) -> int:
    from engine.paths import resolve_home

    report = collect(home or resolve_home(None))
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_text(report)
    return 0
