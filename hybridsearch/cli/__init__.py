"""The ``hybridsearch`` command line: one module per command."""

from hybridsearch.cli.main import main

__all__ = ["main"]
