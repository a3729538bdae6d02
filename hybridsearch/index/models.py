"""Which encoder an index uses: the one given, or the model it records, and whether they match."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.dense.identity import model_mismatch_message
from hybridsearch.errors import ModelLoadError, ModelMismatchError

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder

__all__ = ["check_same_model", "encoder_for", "make_encoder"]


def make_encoder(
    model: str | Path | Encoder | None, progress: bool = False, batch_size: int | None = None
) -> Encoder:
    """An Encoder passed in as it is (it keeps its own settings), else one made."""
    from hybridsearch.dense.encoder import Encoder

    if isinstance(model, Encoder):
        return model
    if batch_size is None:
        return Encoder(model, progress=progress)
    return Encoder(model, progress=progress, batch_size=batch_size)


def encoder_for(path: Any, model: Any, recorded: str | None) -> Encoder:
    """The encoder to query a stored index with: the one given, else the recorded model."""
    if model is not None:
        return make_encoder(model)
    try:
        return make_encoder(recorded)
    except ModelLoadError as error:
        raise ModelLoadError(
            f"the index at {path} was built with the model {recorded!r}, which cannot be "
            f"loaded here ({error}); pass the model folder (model=..., or --model on the "
            "command line)"
        ) from error


def check_same_model(expected: Any, encoder: Encoder, where: str) -> None:
    """Refuse an encoder of another model than the one the vectors were made with."""
    if not encoder.identity.same_model_as(expected):
        raise ModelMismatchError(
            model_mismatch_message(expected, encoder.identity, where, "the model given")
        )


def read_query_model(directory: Path, commit: Any = None) -> tuple[Any, str | None]:
    """The query model an index is paired with (identity, source), or (None, None).

    Read from ``commit``'s manifest fields where it records them (so settings, model and
    segments come from one commit point), else from ``manifest.json``.

    An index adapted on the query side only (``hybridsearch adapt --query-only``) keeps the
    passage vectors of its model and records, beside it, the query model trained against
    them under ``query_model`` / ``query_model_source`` in its manifest.
    """
    from hybridsearch.dense.identity import ModelIdentity
    from hybridsearch.index import storage

    manifest = getattr(commit, "manifest", None)
    if manifest is None:
        manifest = storage.read_manifest(directory, verify_checksums=False)
    if manifest.get("query_model") is None:
        return None, None
    where = f"{Path(directory) / storage.MANIFEST_NAME}: query_model"
    identity = ModelIdentity.from_dict(manifest["query_model"], where=where)
    return identity, manifest.get("query_model_source")


def check_query_encoder(passage_identity: Any, query_identity: Any, encoder: Encoder, where: str):
    """Refuse a query encoder that is neither the passage model nor the query model paired.

    Raises:
        ModelMismatchError: naming the models the index accepts and the one given.
    """
    if query_identity is None:
        check_same_model(passage_identity, encoder, where)
        return
    found = encoder.identity
    if found.same_model_as(query_identity) or found.same_model_as(passage_identity):
        return
    raise ModelMismatchError(
        f"{where} holds passage vectors of {passage_identity.describe()} and is paired with "
        f"the query model {query_identity.describe()}; the model given, {found.describe()}, "
        "is neither (a query model trained against other vectors cannot search these): use "
        "the paired query model, or the passage model"
    )
