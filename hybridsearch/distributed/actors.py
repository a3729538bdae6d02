"""The Ray actor that serves one shard, and the task that builds one.

The actor opens its shard's directory (the newest commit) and answers the coordinator's calls
with :class:`~hybridsearch.index.shard_searcher.ShardSearcher`; for writes it opens the shard
as the one writer (:meth:`HybridIndex.open`) and serves searches from the writer's snapshot,
so its own changes are searchable at once, as in one index. A restarted actor reads the
directory again: it has the shard as last committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybridsearch.index.hybrid_index import HybridIndex
from hybridsearch.index.shard_searcher import ShardSearcher
from hybridsearch.index.sharded_build import ShardJob, build_shard

__all__ = ["ShardActor", "build_shard_task"]


class ShardActor:
    """Serves one shard (wrapped with ``ray.remote`` by :mod:`hybridsearch.distributed.group`).

    Args:
        directory: The shard's index directory.
        embedding_cache: The passage-vector cache adds and updates encode through, or None.
    """

    def __init__(self, directory: str, embedding_cache: str | None = None) -> None:
        self.directory = Path(directory)
        self.embedding_cache = embedding_cache
        self._writer: HybridIndex | None = None
        self._searcher = ShardSearcher.open(self.directory)

    def call(self, method: str, *args: Any) -> Any:
        """Run one :class:`ShardSearcher` method (the coordinator's read calls)."""
        return getattr(self._searcher, method)(*args)

    def ready(self) -> bool:
        """True once the shard is open (the coordinator waits on it)."""
        return True

    # -- writes -----------------------------------------------------------------------------

    def write(self, method: str, *args: Any) -> Any:
        """``add``, ``update``, ``delete`` or ``commit`` on the shard; searches see it at once."""
        if method not in ("add", "update", "delete", "commit"):
            raise ValueError(f"unknown shard write {method!r}")
        if self._writer is None:
            self._writer = HybridIndex.open(self.directory, embedding_cache=self.embedding_cache)
        result = getattr(self._writer, method)(*args)
        self._searcher = ShardSearcher(self._writer.snapshot, self._writer.settings)
        return result

    def close(self) -> None:
        """Release the shard's write lock (uncommitted changes are dropped)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._searcher = ShardSearcher.open(self.directory)


def build_shard_task(job: ShardJob, model: Any) -> dict[str, Any]:
    """Build one shard (run as a Ray task; ``model`` is a folder, a name or None)."""
    return build_shard(job, model)
