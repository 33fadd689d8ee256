"""`deeprag` subcommands for the answer half (filled in by its issue)."""

import argparse


def register(sub: "argparse._SubParsersAction") -> None:
    """Add this module's subcommands; each sets `handler(args, config) -> int`."""
