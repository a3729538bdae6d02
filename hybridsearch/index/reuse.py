"""Reusing an index when it already holds a corpus: :meth:`HybridIndex.open_or_build`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import HybridSearchError
from hybridsearch.index.building import corpus_fingerprint
from hybridsearch.index.commit import latest_generation, read_commit
from hybridsearch.index.models import make_encoder
from hybridsearch.index.reader import read_manifest
from hybridsearch.index.settings import IndexSettings
from hybridsearch.index.storage import check_index_destination

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = ["open_or_build"]


def open_or_build(
    cls: type[HybridIndex],
    path: str | Path,
    corpus: str | Path | Iterable[Document],
    *,
    model: Any,
    progress: bool,
    embedding_cache: str | Path | None,
    batch_size: int | None,
    rebuild: bool,
    settings: dict[str, Any],
) -> HybridIndex:
    """See :meth:`HybridIndex.open_or_build`."""
    from hybridsearch.corpus.readers import read_corpus

    # Before reading the corpus and loading the model: a wrong destination fails in a moment.
    check_index_destination(path)
    source_path = Path(corpus) if isinstance(corpus, str | Path) else None
    documents = list(read_corpus(source_path) if source_path else corpus)
    wanted = IndexSettings.coerce(**settings)
    encoder = make_encoder(model, progress, batch_size)
    reason = (
        "a rebuild was asked for" if rebuild else _reuse_blocker(path, documents, wanted, encoder)
    )
    if reason is None:
        index = cls.load(path, model=encoder)
        index.origin = f"reused {path}: corpus, settings and model unchanged"
        return index
    index = cls.build(
        documents,
        model=encoder,
        progress=progress,
        embedding_cache=embedding_cache,
        source_path=source_path,
        chunking=wanted.chunking,
        analyzer=wanted.analyzer,
        bm25=wanted.bm25,
        vectors=wanted.vectors,
    )
    index.save(path)
    index.origin = f"built {path}: {reason}"
    return index


def _reuse_blocker(
    path: str | Path, documents: list[Document], wanted: IndexSettings, encoder: Encoder
) -> str | None:
    """Why the index at ``path`` cannot serve this corpus and settings, or None if it can."""
    try:
        directory = Path(path)
        settings, identity, _ = read_manifest(directory)
        generation = latest_generation(directory)
        if generation is None:
            return "no usable index there (no commit)"
        info = read_commit(directory, generation).info
    except (HybridSearchError, OSError) as error:
        return f"no usable index there ({error})"
    if (info.get("source") or {}).get("fingerprint") != corpus_fingerprint(documents):
        return "the corpus changed"
    if settings != wanted:
        return "settings changed (" + "; ".join(wanted.differences(settings)) + ")"
    if not encoder.identity.same_model_as(identity):
        return f"the model changed ({identity.describe()} -> {encoder.identity.describe()})"
    return None
