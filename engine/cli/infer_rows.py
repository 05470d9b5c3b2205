"""Placeholder until the command lands; refuses to run."""

from __future__ import annotations

import argparse

from engine.errors import TaskclfError


def configure(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise TaskclfError("not available yet")
