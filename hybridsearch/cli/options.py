"""What several commands share: the search modes and fusions offered, the ``--model`` option
of commands that open an index, and opening it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hybridsearch import HybridIndex

MODES = ("bm25", "dense", "hybrid")
FUSIONS = ("rrf", "convex")


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model`` for commands that open an index built elsewhere."""
    parser.add_argument(
        "--model",
        help="the model folder the index was built with, if it "
        "moved (default: the one recorded in the index)",
    )


def load_index(path: str, model: str | None = None) -> HybridIndex:
    """The index saved at ``path``, with its encoder (``model`` if the folder moved)."""
    from hybridsearch import HybridIndex  # loads torch: only when a command runs

    return HybridIndex.load(path, model=model)
