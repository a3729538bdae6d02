"""Pairing a query model with an index's passage vectors (``hybridsearch adapt --query-only``).

An index adapted on the query side keeps the passage vectors of its model and records, beside
it, the query model trained against them (``query_model`` / ``query_model_source`` in its
manifest). Such an index accepts queries encoded by either model and refuses any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.errors import ModelMismatchError
from hybridsearch.index.building import model_source
from hybridsearch.index.models import check_same_model

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder

__all__ = ["check_query_encoder", "pairing_fields", "query_model_of", "read_query_model"]


def query_model_of(encoder: Encoder) -> tuple[Any, str]:
    """The pairing to record for ``encoder``: its identity and what a load reopens."""
    return encoder.identity, model_source(encoder.identity.name)


def pairing_fields(identity: Any, source: str | None) -> dict[str, Any]:
    """The manifest fields that record a pairing (none when there is no query model)."""
    if identity is None:
        return {}
    return {"query_model": identity.to_dict(), "query_model_source": source}


def read_query_model(directory: Path, commit: Any = None) -> tuple[Any, str | None]:
    """The query model an index is paired with (identity, source), or (None, None).

    Read from ``commit``'s manifest fields where it records them (so settings, model and
    segments come from one commit point), else from ``manifest.json``.
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


def check_query_encoder(
    passage_identity: Any, query_identity: Any, encoder: Encoder, where: str
) -> None:
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
