"""A tiny command registry that lets each package contribute (nested) subcommands.

Packages register through the ``taskclf.commands`` entry-point group a function
``register(reg: CommandRegistry)``. Command modules must stay cheap to import: heavy imports
(lightgbm, scikit-learn, GUI toolkits) happen inside the ``run`` functions.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int | None]


@dataclass
class Command:
    path: tuple[str, ...]
    help: str
    configure: Configure
    run: Run
    description: str | None = None


@dataclass
class CommandRegistry:
    commands: dict[tuple[str, ...], Command] = field(default_factory=dict)
    group_help: dict[tuple[str, ...], str] = field(default_factory=dict)

    def add(
        self,
        path: str | tuple[str, ...],
        *,
        help: str,
        configure: Configure,
        run: Run,
        description: str | None = None,
    ) -> None:
        key = tuple(path.split()) if isinstance(path, str) else tuple(path)
        if key in self.commands:
            raise ValueError(f"command {' '.join(key)!r} registered twice")
        self.commands[key] = Command(key, help, configure, run, description)

    def group(self, path: str | tuple[str, ...], help: str) -> None:
        key = tuple(path.split()) if isinstance(path, str) else tuple(path)
        self.group_help.setdefault(key, help)
