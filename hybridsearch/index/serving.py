"""What a long-running service needs of a HybridIndex, beyond one process's searches.

- :func:`batch_query_encodes` switches on micro-batching of query encodes
  (:class:`~hybridsearch.dense.batching.BatchingEncoder`): concurrent searches share encoder
  batches while BM25 and FAISS still run per search. The server may not import ``dense/``
  (the layering contract), so it switches batching on through here. (The server now batches
  whole searches, :mod:`hybridsearch.index.search_batching`, and uses the wrapper with no wait
  only to serialise the model's calls, writes' tokenizer calls included.)
- :func:`write_and_commit` makes a write durable before it is acknowledged, and leaves the
  index as it was when the write or its commit fails.
- :func:`index_stats` is what the index holds and how it was made, with no file path in it.
- :func:`word_matcher_settings` and :func:`word_matcher` give a helper process the index's
  way of matching a passage's words to query terms (snippets), rebuilt from plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hybridsearch.dense.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, BatchingEncoder
from hybridsearch.sparse.analysis import Analyzer, AnalyzerSettings

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = [
    "batch_query_encodes",
    "batching_stats",
    "index_stats",
    "stop_batching",
    "word_matcher",
    "word_matcher_settings",
    "write_and_commit",
]

T = TypeVar("T")


def batch_query_encodes(
    index: HybridIndex,
    *,
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> None:
    """Make concurrent searches of ``index`` share encoder batches (idempotent settings swap).

    Query encodes that arrive within ``max_wait_ms`` of the first queued one are encoded as
    one batch of at most ``max_batch`` queries; each search gets the vector the encoder gives
    its query in that batch. Writes' passage encodes go to the same encoder, serialised with
    the query batches. Undo with :func:`stop_batching`.

    Raises:
        InvalidInputError: ``max_wait_ms`` is negative or ``max_batch`` is not positive.
    """
    encoder = index.encoder
    if isinstance(encoder, BatchingEncoder):
        stop_batching(index)
        encoder = index.encoder
    index.encoder = BatchingEncoder(encoder, max_wait_ms=max_wait_ms, max_batch=max_batch)


def stop_batching(index: HybridIndex) -> None:
    """Refuse further batched queries and restore the plain encoder."""
    encoder = index.encoder
    if isinstance(encoder, BatchingEncoder):
        encoder.close()
        index.encoder = encoder.wrapped


def batching_stats(index: HybridIndex) -> dict[str, int] | None:
    """The batching counters (requests, texts, batches, largest batch), or None when off."""
    encoder = index.encoder
    return encoder.stats.to_dict() if isinstance(encoder, BatchingEncoder) else None


def write_and_commit(index: HybridIndex, write: Callable[[], T]) -> tuple[T, int | None]:
    """Run ``write`` (an add, update or delete of ``index``), then commit it.

    An index opened for writing (``HybridIndex.open``) commits, so the change is durable when
    this returns; an index built in memory (``HybridIndex.build``) has nothing to commit to,
    and the generation is None. If the write or the commit fails, the index is left as it was
    before (searches never saw a change that was not committed, bar the moment in between).
    The caller serialises writes (the index's own lock covers one write, not write + commit).

    Returns:
        What ``write`` returned, and the commit's generation (None in memory).

    Raises:
        Whatever ``write`` or ``commit`` raised (IndexWriteError for a full disk, ...).
    """
    view, build_info = index._view, index.build_info
    try:
        result = write()
        generation = index.commit() if _commits(index) else None
    except BaseException:
        index._view, index.build_info = view, build_info
        raise
    return result, generation


def _commits(index: HybridIndex) -> bool:
    lock = index._lock
    return lock is not None and lock.held


def index_stats(index: HybridIndex) -> dict[str, Any]:
    """Counts, model, settings, build information and commit of ``index`` (one snapshot).

    File paths (the index directory, the corpus path, the model folder) are left out: this is
    what a service shows to its clients.
    """
    snapshot = index.snapshot
    info = index.build_info.to_dict()
    info["source"] = {key: value for key, value in info["source"].items() if key != "path"}
    model = index.model_identity.to_dict()
    model["name"] = _last_path_part(str(model.get("name", "")))
    return {
        "documents": snapshot.num_documents,
        "passages": snapshot.num_passages,
        "segments": len(snapshot.segments),
        "generation": index.generation,
        "writable": _commits(index) or index._temporary,
        "model": model,
        "settings": index.settings.to_dict(),
        "build": info,
        "query_batching": batching_stats(index),
    }


def _last_path_part(name: str) -> str:
    """A model's name without the folder it sits in (a hub name ``org/model`` stays)."""
    if name.startswith(("/", "~", ".")) or "\\" in name:
        return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name


def word_matcher_settings(index: HybridIndex) -> dict[str, Any] | None:
    """The index's analyzer settings as plain data, from which another process builds the
    same word matcher (:func:`word_matcher`); None when that cannot be done: a custom
    tokenizer (a callable, not data) or an analyzer that is not this package's."""
    settings = getattr(getattr(index, "analyzer", None), "settings", None)
    if not isinstance(settings, AnalyzerSettings) or settings.tokenizer == "custom":
        return None
    return settings.to_dict()


def word_matcher(settings: dict[str, Any]) -> Any:
    """What the index's hits match words with (``Analyzer.word_terms``, as the planner hands
    them), built afresh from :func:`word_matcher_settings`: it maps every word to the terms
    the index's own analyzer gives it."""
    return Analyzer.from_settings(AnalyzerSettings.from_dict(settings)).word_terms
