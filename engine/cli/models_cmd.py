"""``taskclf models install | list | pack``: shared bundles (see engine.model_install)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure_install(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder or a .tar.gz with SHA256SUMS")
    p.add_argument("--no-personalize", action="store_true",
                   help="do not refit this user's calibration against the new model")


def run_install(args: argparse.Namespace) -> int:
    from engine.model_install import install_bundle, personalise_this_user
    from engine.paths import resolve_home

    out = install_bundle(resolve_home(None), Path(args.bundle),
                         personalise=None if args.no_personalize else personalise_this_user)
    verb = "already installed" if out.already_installed else "installed"
    sys.stdout.write(f"{out.run_id}: {verb} and live ({out.bundle_dir})\n"
                     f"policy written: {out.policy_path}\n"
                     f"personalisation: {out.personalisation}\n")
    return 0


def configure_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object")


def run_list(args: argparse.Namespace) -> int:
    from engine.model_install import list_models
    from engine.paths import resolve_home

    models, note = list_models(resolve_home(None))
    if args.json:
        sys.stdout.write(json.dumps({"models": [m.to_json() for m in models], "note": note},
                                    sort_keys=True) + "\n")
        return 0
    if not models:
        sys.stdout.write("no models installed\n")
    for m in models:
        mark = "*" if m.live else " "
        detail = m.problem or (f"created {m.created_at or '?'}, {m.data_provenance or '?'} data"
                               + (f", {m.users} users" if m.users is not None else "")
                               + (f", {m.n_train_rows:,} training buckets" if m.n_train_rows is not None else ""))
        sys.stdout.write(f"{mark} {m.run_id}  {detail}{'  (live)' if m.live else ''}\n")
    if note:
        sys.stdout.write(f"{note}\n")
    return 0


def configure_pack(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="the archive to write (*.tar.gz)")
    p.add_argument("--run-id", default=None, help="this bundle of models/ (default: the live one)")


def run_pack(args: argparse.Namespace) -> int:
    from engine.model_install import pack_live_bundle
    from engine.paths import resolve_home

    out = pack_live_bundle(resolve_home(None), Path(args.out), args.run_id)
    sys.stdout.write(f"wrote {out}\n")
    return 0
