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
