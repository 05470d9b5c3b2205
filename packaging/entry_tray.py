"""Frozen entry point of taskclf-tray (windowed; ``--self-test`` works without a display)."""

import sys

from agent.tray_main import main

if __name__ == "__main__":
    sys.exit(main())
