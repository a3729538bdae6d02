"""Opening a stored index: :meth:`HybridIndex.load` (read only) and :meth:`HybridIndex.open`.

Both read one commit point (settings, model, segments and search defaults together) and pick
the query encoder: the one given, else the model the index records (or the query model paired
with it, :mod:`hybridsearch.index.query_pairing`). ``open`` does so under the write lock, after
clearing what a crashed writer left uncommitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.errors import InvalidInputError
from hybridsearch.index import storage
from hybridsearch.index.building import BuildInfo
from hybridsearch.index.commit import WriteLock, collect_garbage
from hybridsearch.index.models import encoder_for, make_encoder
from hybridsearch.index.query_pairing import check_query_encoder, read_query_model
from hybridsearch.index.reader import read_index, read_manifest
from hybridsearch.search.tuned import TunedFusion

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = ["load_index", "open_commit_point", "open_index", "start_verification"]


def load_index(
    cls: type[HybridIndex],
    path: str | Path,
    *,
    model: Any,
    mmap: bool,
    verify_checksums: bool | str,
    warm_up: bool,
) -> HybridIndex:
    """See :meth:`HybridIndex.load`."""
    background = verify_checksums == "background"
    if not background and not isinstance(verify_checksums, bool):
        raise InvalidInputError(
            f"verify_checksums must be True, False or 'background', got {verify_checksums!r}"
        )
    verify_now = False if background else bool(verify_checksums)
    index = open_commit_point(cls, path, model, mmap, verify_now, lock=None, origin="loaded")
    if background:
        start_verification(index)
    if warm_up:
        index.encoder.warm_up_in_background()
    return index


def start_verification(index: HybridIndex) -> None:
    """Hash the index's segment files in a background thread (``verify_checksums=
    "background"``); its searches then raise ChecksumError once a mismatch is found."""
    from hybridsearch.index.verification import BackgroundVerification, segment_checksums

    folders = [segment.directory for segment in index.snapshot.segments]
    index._verification = BackgroundVerification(segment_checksums(folders))


def open_index(
    cls: type[HybridIndex],
    path: str | Path,
    *,
    model: Any,
    embedding_cache: str | Path | None,
    batch_size: int | None,
    warm_up: bool,
) -> HybridIndex:
    """See :meth:`HybridIndex.open`."""
    directory = storage.resolve_index_directory(path)
    read_manifest(directory)  # not an index: say so before creating a lock file there
    lock = WriteLock(directory)
    lock.acquire()
    try:
        collect_garbage(directory)  # what a crashed writer left uncommitted
        if batch_size is not None:  # the recorded (or given) model, with this batch size
            recorded = read_manifest(directory)[2]
            model = make_encoder(model if model is not None else recorded, False, batch_size)
        index = open_commit_point(cls, directory, model, True, False, lock=lock, origin="opened")
        index.embedding_cache = embedding_cache
        if warm_up:
            index.encoder.warm_up_in_background()
        return index
    except BaseException:
        lock.release()
        raise


def open_commit_point(
    cls: type[HybridIndex],
    path: Any,
    model: Any,
    mmap: bool,
    verify: bool,
    lock: WriteLock | None,
    origin: str,
) -> HybridIndex:
    """The index at ``path`` as its newest commit records it, queried by ``model``.

    Raises:
        IndexFormatError, IndexVersionError, ChecksumError: as :func:`read_index` does.
        ModelMismatchError: ``model`` is neither the passage model nor the paired query model.
    """
    opened = read_index(path, verify_checksums=verify, mmap=mmap)
    defaults = opened.commit.search_defaults
    tuned = (
        None
        if defaults is None
        else TunedFusion.from_dict(
            defaults, where=f"{path}: commit {opened.commit.generation}: search_defaults"
        )
    )
    query_identity, query_source = read_query_model(opened.directory, opened.commit)
    encoder = encoder_for(path, model, query_source or opened.model_source)
    check_query_encoder(opened.model_identity, query_identity, encoder, f"the index at {path}")
    return cls(
        opened.snapshot,
        directory=opened.directory,
        settings=opened.settings,
        encoder=encoder,
        model_identity=opened.model_identity,
        info=BuildInfo.from_dict(opened.commit.info, model_source=opened.model_source),
        commit=opened.commit,
        lock=lock,
        origin=f"{origin} {path}",
        tuned=tuned,
        query_model=(query_identity, query_source),
    )
