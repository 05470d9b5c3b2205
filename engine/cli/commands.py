"""The engine's own commands: ``infer rows``, ``features build``, ``personalize`` and ``models``.

Implementations live in sibling modules; their heavy imports happen inside ``run``.
"""

from __future__ import annotations

from engine.cli.registry import CommandRegistry


def register(reg: CommandRegistry) -> None:
    reg.group("infer", "run the engine on feature rows or stored buckets")
    reg.group("features", "build v2 feature rows from activity records")
    reg.group("models", "install, list and pack shared model bundles")
    from engine.cli import features_build, infer_rows, models_cmd, personalize_cmd

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
    reg.add(
        "models install",
        help="verify a shared bundle (folder or .tar.gz) and make it the live model",
        configure=models_cmd.configure_install,
        run=models_cmd.run_install,
    )
    reg.add("models list", help="installed bundles and which one is live",
            configure=models_cmd.configure_list, run=models_cmd.run_list)
    reg.add("models pack", help="write a bundle and its global calibration as a shareable .tar.gz",
            configure=models_cmd.configure_pack, run=models_cmd.run_pack)
