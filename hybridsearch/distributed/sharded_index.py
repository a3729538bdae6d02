"""ShardedIndex: one index spread over shards served by Ray actors, searched as one.

Build with :meth:`ShardedIndex.build` (each shard chunked, analysed and encoded by a Ray task),
open with :meth:`ShardedIndex.open`, query with :meth:`ShardedIndex.search` (the options of
:meth:`HybridIndex.search <hybridsearch.HybridIndex.search>`, filters included). The
coordinator (:mod:`hybridsearch.index.sharding`) runs in this process: it encodes the query
once, gathers the global BM25 statistics, fans the legs out to the shard actors, merges their
candidates into global per-leg rankings, then fuses and aggregates; the results equal those of
one index over the same corpus (documents, spans, order and scores; passage ids differ).

Adds, updates and deletes go to the shard that owns each document id (a stable hash,
:func:`~hybridsearch.index.shard_routing.shard_of`); statistics stay global because they are
gathered again after every write. ``commit()`` commits every changed shard; the shards commit
one after another, not atomically together (a crash between two leaves some shards at the new
commit, which a later ``commit`` of the same changes completes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hybridsearch.corpus.documents import Document
from hybridsearch.distributed.actors import build_shard_task
from hybridsearch.distributed.cluster import ensure_ray
from hybridsearch.distributed.group import RayShardGroup
from hybridsearch.errors import DuplicateDocumentError, InvalidInputError, UnknownDocumentError
from hybridsearch.index.building import checked_documents
from hybridsearch.index.shard_routing import (
    ShardedManifest,
    read_sharded_manifest,
    shard_of,
    with_positions,
)
from hybridsearch.index.sharded_build import ShardJob, build_shard, build_sharded, open_coordinator
from hybridsearch.index.sharding import ShardedCoordinator, ShardedHits
from hybridsearch.validation import string_list

__all__ = ["ShardedIndex"]

_SETTINGS = ("chunking", "analyzer", "bm25", "vectors")


def _ray_builder(model: Any) -> Any:
    """A ``build_shards`` that runs each shard's build as a Ray task (one CPU each)."""

    def build_shards(jobs: Sequence[ShardJob]) -> list[dict]:
        ray = ensure_ray()
        task = ray.remote(num_cpus=1, max_retries=1)(build_shard_task)
        return ray.get([task.remote(job, model) for job in jobs])

    return build_shards


class ShardedIndex:
    """A sharded hybrid index served by Ray actors (see the module docstring).

    Attributes:
        directory: The sharded index directory.
        num_shards: How many shards document ids are routed over.
    """

    def __init__(self, coordinator: ShardedCoordinator, manifest: ShardedManifest) -> None:
        self._coordinator = coordinator
        self._manifest = manifest
        self.directory = manifest.directory
        self.num_shards = manifest.num_shards
        self._next_position = 1 + max(
            (count.max_position for count in coordinator.overview.counts.values()), default=-1
        )
        self._changed: set[int] = set()

    # -- making one -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        documents: Iterable[Document],
        path: str | Path,
        *,
        shards: int,
        model: str | Path | None = None,
        ray_address: str | None = None,
        embedding_cache: str | Path | None = None,
        batch_size: int | None = None,
        **settings: Any,
    ) -> ShardedIndex:
        """Build a sharded index at ``path`` on Ray (local, or the cluster at ``ray_address``).

        Args:
            documents: The corpus.
            path: The sharded index directory (every Ray node must see it at this path).
            shards: How many shards (>= 1).
            model: A model folder or hub name (every node loads it), or None for the default.
            ray_address: A Ray cluster to run on; None starts a local instance.
            embedding_cache: A passage-vector cache folder (see :meth:`HybridIndex.build`).
            batch_size: Passages per encoder batch.
            **settings: ``chunking``, ``analyzer``, ``bm25``, ``vectors`` as for
                :meth:`HybridIndex.build`.
        """
        if model is not None and not isinstance(model, str | Path):
            raise InvalidInputError(
                "a sharded build loads the model in each Ray task: pass its folder or name, "
                f"not a {type(model).__name__}"
            )
        ensure_ray(ray_address)
        options = dict(settings)
        options.update(embedding_cache=embedding_cache, batch_size=batch_size)
        model_name = None if model is None else str(model)
        build_sharded(documents, path, shards, _ray_builder(model_name), build_options=options)
        return cls.open(path, ray_address=ray_address, embedding_cache=embedding_cache)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        model: Any = None,
        ray_address: str | None = None,
        embedding_cache: str | Path | None = None,
        timeout_s: float = 120.0,
    ) -> ShardedIndex:
        """Open a sharded index: one Ray actor per shard, the coordinator in this process.

        Raises:
            IndexFormatError: not a sharded index, or a shard is damaged.
            RayUnavailableError: Ray is not installed or could not start.
        """
        ensure_ray(ray_address)

        def group_for(manifest: ShardedManifest) -> RayShardGroup:
            directories = {
                number: manifest.shard_directory(number)
                for number, present in enumerate(manifest.present)
                if present
            }
            return RayShardGroup(
                directories,
                manifest.num_shards,
                embedding_cache=embedding_cache,
                timeout_s=timeout_s,
            )

        coordinator = open_coordinator(path, group_for, model=model)
        return cls(coordinator, read_sharded_manifest(path))

    # -- searching --------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, **options: Any) -> ShardedHits:
        """Search every shard, as :meth:`HybridIndex.search` searches one index.

        The hits' ``shards_answered`` and ``missing_shards`` say which shards are in them; a
        shard that did not answer after a restart is left out with a warning.
        """
        return self.search_batch([query], k, **options)[0]

    def search_batch(
        self, queries: Sequence[str], k: int = 10, **options: Any
    ) -> list[ShardedHits]:
        """Search several queries (their dense encodings share one batch)."""
        queries = string_list("queries", queries, what="query strings")
        return self._coordinator.search_batch(queries, k, options)

    # -- changing it ------------------------------------------------------------------------

    def add(self, documents: Iterable[Document]) -> int:
        """Add new documents, each to the shard its id routes to; returns how many."""
        return self._write("add", documents)

    def update(self, documents: Iterable[Document]) -> int:
        """Replace documents by id (adding the ids not held), each in its owning shard."""
        return self._write("update", documents)

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Delete documents by id from their shards; an unknown id deletes nothing.

        Raises:
            UnknownDocumentError: an id is in no shard (then nothing is deleted).
        """
        ids = list(dict.fromkeys(string_list("doc_ids", doc_ids, what="document ids")))
        routed = self._route(ids, key=lambda doc_id: doc_id)
        group = self._coordinator.group
        unknown = [
            doc_id
            for number, part in routed.items()
            for doc_id, found in zip(part, _found(group, number, part), strict=True)
            if not found
        ]
        if unknown:
            raise UnknownDocumentError(
                f"{len(unknown)} id(s) are in no shard, so nothing was deleted: "
                f"{', '.join(map(repr, unknown[:10]))}"
            )
        for number, part in routed.items():
            group.write(number, "delete", part)
            self._changed.add(number)
        self._coordinator.refresh()
        return len(ids)

    def commit(self) -> None:
        """Commit every shard changed since the last commit."""
        for number in sorted(self._changed):
            self._coordinator.group.write(number, "commit")
        self._changed.clear()

    def close(self) -> None:
        """Release the shards' write locks and end their actors (uncommitted work is lost)."""
        self._coordinator.group.shutdown()

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- facts ------------------------------------------------------------------------------

    @property
    def num_documents(self) -> int:
        """Live documents over all shards."""
        return sum(count.documents for count in self._coordinator.overview.counts.values())

    @property
    def num_passages(self) -> int:
        """Live passages over all shards."""
        return self._coordinator.overview.passages

    @property
    def coordinator(self) -> ShardedCoordinator:
        """The coordinator (its ``group`` holds the shard actors)."""
        return self._coordinator

    # -- internals --------------------------------------------------------------------------

    def _route(self, items: Sequence[Any], key: Any) -> dict[int, list[Any]]:
        routed: dict[int, list[Any]] = {}
        for item in items:
            routed.setdefault(shard_of(key(item), self.num_shards), []).append(item)
        return routed

    def _write(self, method: str, documents: Iterable[Document]) -> int:
        placed = with_positions(checked_documents(documents), self._next_position)
        group = self._coordinator.group
        routed = self._route(placed, key=lambda document: document.id)
        if method == "add":  # refuse before any shard changes, as one index would
            held = [
                d.id
                for n, part in routed.items()
                for d, found in zip(part, _found(group, n, [d.id for d in part]), strict=True)
                if found
            ]
            if held:
                raise DuplicateDocumentError(
                    f"{len(held)} id(s) are already in the index (use update), nothing was "
                    f"added: {', '.join(map(repr, held[:10]))}"
                )
        for number, part in routed.items():
            if number in group.actors:
                group.write(number, method, part)
            else:  # the shard's first documents: build it, then serve it
                directory = self._manifest.shard_directory(number)
                settings = self._coordinator.settings
                options = {name: getattr(settings, name) for name in _SETTINGS}
                build_shard(ShardJob(number, part, directory, options), self._coordinator.encoder)
                group.add_shard(number, directory)
                self._coordinator.present_shards = tuple(sorted(group.actors))
            self._changed.add(number)
        self._next_position += len(placed)
        self._coordinator.refresh()
        return len(placed)


def _found(group: RayShardGroup, number: int, doc_ids: list[str]) -> list[bool]:
    """Whether each id is live in shard ``number`` (False for all if the shard is absent)."""
    if number not in group.actors:
        return [False] * len(doc_ids)
    answer = group.call("find", doc_ids, shards=[number])
    return answer.get(number, [False] * len(doc_ids))
