"""What several commands share: the search modes and fusions offered, the ``--model`` option
of commands that open an index, opening it (to read, or to write), and the one-line state of
an index the writing commands end with."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridsearch import HybridIndex

MODES = ("bm25", "dense", "hybrid")
FUSIONS = ("rrf", "convex", "dbsf")


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model`` for commands that open an index built elsewhere."""
    parser.add_argument(
        "--model",
        help="the model folder the index was built with, if it "
        "moved (default: the one recorded in the index)",
    )


def load_index(path: str, model: str | None = None) -> HybridIndex:
    """The index saved at ``path``, with its encoder (``model`` if the folder moved).

    A sharded index (``build --shards``) opens on Ray (the cluster at ``$RAY_ADDRESS``, else a
    local instance) and searches as one index does.
    """
    from hybridsearch import HybridIndex  # loads torch: only when a command runs
    from hybridsearch.index.shard_routing import is_sharded_index

    if is_sharded_index(path):
        from hybridsearch.distributed.sharded_index import ShardedIndex

        return ShardedIndex.open(path, model=model)  # type: ignore[return-value]
    return HybridIndex.load(path, model=model)


def open_index(path: str, model: str | None = None, **options: Any) -> HybridIndex:
    """The index at ``path`` opened for writing: its lock is held until ``close()``.

    Raises:
        IndexLockedError: another writer has it open.
    """
    from hybridsearch import HybridIndex  # loads torch: only when a command runs

    return HybridIndex.open(path, model=model, **options)


def counted(number: int, noun: str) -> str:
    """``1 segment``, ``2 segments``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def index_state(index: HybridIndex) -> str:
    """``7 documents, 9 passages in 2 segments``: what the index holds now."""
    return (
        f"{counted(index.num_documents, 'document')}, {counted(index.num_passages, 'passage')} "
        f"in {counted(index.num_segments, 'segment')}"
    )


def commit_and_report(index: HybridIndex, done: str, start: float) -> None:
    """Commit, then print (stderr) what was done, the index now and the seconds since ``start``.

    ``added 2 documents: 7 documents, 9 passages in 2 segments; commit 3 (4.2 s)``.
    """
    generation = index.commit()
    seconds = time.perf_counter() - start
    print(f"{done}: {index_state(index)}; commit {generation} ({seconds:.1f} s)", file=sys.stderr)
