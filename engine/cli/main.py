"""Entry point of the ``taskclf`` console script."""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any, NoReturn

from engine.cli.registry import Command, CommandRegistry
from engine.errors import TaskclfError
from engine.paths import check_home, resolve_home

#: Commands contributed by optional packages, so a missing one gets a helpful message.
OPTIONAL_COMMANDS: dict[str, str] = {
    "train": "trainer",
    "synth": "trainer",
    "demo": "trainer",
    "labels": "trainer",
}
ENTRY_POINT_GROUP = "taskclf.commands"


def _load_registry() -> CommandRegistry:
    reg = CommandRegistry()
    seen: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            register = ep.load()
        except ImportError:
            continue  # a package of this install is absent (e.g. the agent-only build)
        register(reg)
    if "engine" not in seen:  # running from a source tree without an install
        from engine.cli.commands import register as register_engine

        register_engine(reg)
    return reg


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help="data directory (default: $TASKCLF_HOME or the platform's user data dir)",
    )
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line on stderr (the option and the problem), like every other
    error of the command line; ``--help`` still shows the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser(reg: CommandRegistry) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="taskclf",
        description="taskclf: what kind of work are you doing right now? Local-first, private.",
    )
    parser.add_argument("--home", default=None, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version="taskclf 0.1.0")
    subparsers: dict[tuple[str, ...], Any] = {(): parser.add_subparsers(dest="cmd0", metavar="COMMAND")}
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}

    def ensure_group(path: tuple[str, ...]) -> Any:
        if path in subparsers:
            return subparsers[path]
        parent_sp = ensure_group(path[:-1])
        gp = parent_sp.add_parser(path[-1], help=reg.group_help.get(path, f"{path[-1]} commands"))
        gp.set_defaults(_group_parser=gp)  # `taskclf train` alone prints the train group's help
        parsers[path] = gp
        sp = gp.add_subparsers(dest=f"cmd{len(path)}", metavar="COMMAND")
        subparsers[path] = sp
        return sp

    for path in sorted(reg.commands):
        cmd = reg.commands[path]
        sp = ensure_group(path[:-1])
        p = sp.add_parser(path[-1], help=cmd.help, description=cmd.description or cmd.help)
        _add_common(p)
        cmd.configure(p)
        p.set_defaults(_command=cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    reg = _load_registry()
    parser = build_parser(reg)
    if args_list and args_list[0] in OPTIONAL_COMMANDS and not any(
        p[0] == args_list[0] for p in reg.commands
    ):
        print(
            f"taskclf: '{args_list[0]}' needs the {OPTIONAL_COMMANDS[args_list[0]]}: "
            f"install taskclf[{OPTIONAL_COMMANDS[args_list[0]]}] for this command",
            file=sys.stderr,
        )
        return 2
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # a usage error (one line, already printed), --help or --version
        return exc.code if isinstance(exc.code, int) else 2
    cmd: Command | None = getattr(args, "_command", None)
    if cmd is None:
        getattr(args, "_group_parser", parser).print_help(sys.stderr)
        return 2
    if getattr(args, "home", None):
        os.environ["TASKCLF_HOME"] = str(args.home)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="taskclf: %(levelname)s: %(message)s",
    )
    try:
        check_home(resolve_home(None))
        rc = cmd.run(args)
    except TaskclfError as exc:
        print(f"taskclf: error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:  # the store: disk full, read-only folder, locked...
        print(f"taskclf: error: the store could not be written or read ({_one_line(exc)})", file=sys.stderr)
        return 1
    except OSError as exc:  # a folder or file the command needs: disk full, permissions...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"taskclf: error: {where}{exc.strerror or _one_line(exc)}", file=sys.stderr)
        return 1
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing and missing.split(".")[0] in {"sklearn", "scipy"}:
            print("taskclf: error: install taskclf[trainer] for this command", file=sys.stderr)
        else:
            print(f"taskclf: error: missing dependency: {missing}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(rc or 0)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
