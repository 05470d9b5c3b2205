"""The engine's own commands: ``infer rows``, ``features build`` and ``personalize``.

Implementations live in sibling modules; their heavy imports happen inside ``run``.
"""

from __future__ import annotations

from engine.cli.registry import CommandRegistry


def register(reg: CommandRegistry) -> None:
    reg.group("infer", "run the engine on feature rows or stored buckets")
    reg.group("features", "build v2 feature rows from activity records")
    from engine.cli import features_build, infer_rows, personalize_cmd

    reg.add(
        "infer rows",
        help="run the engine on JSON-lines feature rows (stdin or --input)",
        configure=infer_rows.configure,
        run=infer_rows.run,
    )
    reg.add(
        "features build",
        help="build v2 feature rows (JSON lines) from activity records (JSON lines)",
        configure=features_build.configure,
        run=features_build.run,
    )
    reg.add(
        "personalize",
        help="refit each user's calibration against the deployed model (only kept when it helps)",
        configure=personalize_cmd.configure,
        run=personalize_cmd.run,
    )
