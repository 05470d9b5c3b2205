"""Frozen entry point of the taskclf command line."""

import sys

from engine.cli.main import main

if __name__ == "__main__":
    from engine.bundle_probe import run_frozen_probe

    probed = run_frozen_probe(sys.argv[1:])  # the agent probes new models in a subprocess
    sys.exit(probed if probed is not None else main())
