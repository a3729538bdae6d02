"""Building a sharded index, and serving one in-process (simulated shards, tests, benchmarks).

:func:`build_sharded` does what does not depend on where shards are built: it checks the
documents, records each one's corpus position, routes them to shards by a stable hash of their
ids, has each shard built (by ``build_shards``: in this process, or as Ray tasks in
:mod:`hybridsearch.distributed`), and writes the top manifest, atomically: the shards are
written into a staging directory that is renamed into place at the end, so a crash leaves the
previous index (or none) at ``path``.

:class:`LocalShardGroup` is a :class:`~hybridsearch.index.sharding.ShardGroup` whose shards are
:class:`~hybridsearch.index.shard_searcher.ShardSearcher` objects of this process: the same
coordinator and shard code as a Ray deployment, without the transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridsearch.corpus.documents import Document
from hybridsearch.index import storage
from hybridsearch.index.building import checked_documents
from hybridsearch.index.hybrid_index import HybridIndex
from hybridsearch.index.models import check_same_model, encoder_for
from hybridsearch.index.reader import read_manifest
from hybridsearch.index.shard_routing import (
    SHARDED_FORMAT,
    SHARDED_FORMAT_VERSION,
    SHARDS_DIR,
    ShardedManifest,
    read_sharded_manifest,
    shard_name,
    split_by_shard,
    with_positions,
)
from hybridsearch.index.shard_searcher import ShardSearcher
from hybridsearch.index.sharding import ShardedCoordinator
from hybridsearch.validation import positive_int

__all__ = [
    "LocalShardGroup",
    "ShardJob",
    "build_shard",
    "build_sharded",
    "build_shards_in_process",
    "open_coordinator",
]


@dataclass(frozen=True)
class ShardJob:
    """One shard to build: its documents (positions recorded) and where to write it."""

    number: int
    documents: list[Document]
    directory: Path
    build_options: dict[str, Any]


def build_shard(job: ShardJob, model: Any) -> dict[str, Any]:
    """Build and save one shard; returns its counts and seconds per stage."""
    started = time.perf_counter()
    index = HybridIndex.build(job.documents, model=model, **job.build_options)
    index.save(job.directory)
    return {
        "shard": job.number,
        "documents": index.num_documents,
        "passages": index.num_passages,
        "stage_seconds": dict(index.build_info.seconds),
        "seconds": time.perf_counter() - started,
    }


def build_shards_in_process(model: Any) -> Callable[[Sequence[ShardJob]], list[dict]]:
    """A ``build_shards`` that builds one shard after another here, with ``model``."""
    return lambda jobs: [build_shard(job, model) for job in jobs]


def build_sharded(
    documents: Iterable[Document],
    path: str | Path,
    num_shards: int,
    build_shards: Callable[[Sequence[ShardJob]], list[dict]],
    *,
    build_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a sharded index of ``documents`` at ``path``; returns the top manifest.

    Args:
        documents: The corpus.
        path: The sharded index directory (an existing index there is replaced atomically).
        num_shards: How many shards document ids are routed over (fixed for the index).
        build_shards: Builds the jobs it is given (each writes one shard directory) and
            returns their reports.
        build_options: Passed to :meth:`HybridIndex.build` for every shard (settings,
            embedding cache, batch size, progress).

    Raises:
        EmptyCorpusError, DuplicateDocumentError, InvalidInputError: as
            :meth:`HybridIndex.build`, for the whole corpus.
    """
    num_shards = positive_int("num_shards", num_shards)
    started = time.perf_counter()
    placed = with_positions(checked_documents(documents), 0)
    parts = split_by_shard(placed, num_shards)
    manifest: dict[str, Any] = {
        "format": SHARDED_FORMAT,
        "format_version": SHARDED_FORMAT_VERSION,
        "num_shards": num_shards,
        "routing": "sha256(utf-8 id)[:8] big-endian mod num_shards",
        "documents": len(placed),
    }

    def write_files(staging: Path) -> None:
        # Runs before the manifest is written: the shards' reports go into it.
        (staging / SHARDS_DIR).mkdir()
        jobs = [
            ShardJob(number, part, staging / SHARDS_DIR / shard_name(number), build_options or {})
            for number, part in enumerate(parts)
            if part
        ]
        reports = sorted(build_shards(jobs), key=lambda report: report["shard"])
        manifest["passages"] = sum(report["passages"] for report in reports)
        manifest["shards"] = reports
        manifest["build_seconds"] = round(time.perf_counter() - started, 3)

    return storage.write_index_directory(path, write_files, manifest, list_files=False)


class LocalShardGroup:
    """Shards as :class:`ShardSearcher` objects of this process (a ``ShardGroup``).

    Args:
        searchers: Shard number -> its searcher.
        num_shards: How many shards ids are routed over.
    """

    def __init__(self, searchers: dict[int, ShardSearcher], num_shards: int) -> None:
        self.searchers = dict(searchers)
        self.num_shards = num_shards

    def call(self, method: str, *args: Any, shards: Sequence[int] | None = None) -> dict[int, Any]:
        """Call ``method`` on each shard in turn."""
        numbers = self.searchers if shards is None else shards
        return {
            number: getattr(self.searchers[number], method)(*args)
            for number in numbers
            if number in self.searchers
        }


def shard_model(manifest: ShardedManifest) -> tuple[Any, Any, str | None]:
    """The settings, model identity and model source every shard records (the first's)."""
    first = next(n for n, present in enumerate(manifest.present) if present)
    return read_manifest(manifest.shard_directory(first))


def open_coordinator(
    path: str | Path,
    group_for: Callable[[ShardedManifest], Any] | None = None,
    *,
    model: Any = None,
) -> ShardedCoordinator:
    """A coordinator over the sharded index at ``path``.

    Args:
        path: The sharded index directory.
        group_for: Makes the shard group from the manifest (default: in-process shards).
        model: The query encoder (an Encoder, a model folder or name), or None for the
            recorded model.

    Raises:
        IndexFormatError: not a sharded index, or a shard is damaged.
        ModelMismatchError: ``model`` is not the model the shards were built with.
    """
    manifest = read_sharded_manifest(path)
    settings, identity, source = shard_model(manifest)
    encoder = encoder_for(path, model, source)
    check_same_model(identity, encoder, f"the sharded index at {path}")
    if group_for is None:
        searchers = {
            number: ShardSearcher.open(manifest.shard_directory(number))
            for number, present in enumerate(manifest.present)
            if present
        }
        group = LocalShardGroup(searchers, manifest.num_shards)
    else:
        group = group_for(manifest)
    present = [number for number, flag in enumerate(manifest.present) if flag]
    return ShardedCoordinator(group, present, settings, encoder, identity)

