"""Load a model folder's tokenizer and transformer onto a device, configured as the folder says.

The tokenizer is made to agree with the encoder (its ``model_max_length`` is the length the
encoder truncates at, lowercasing happens inside it where the folder asks), so callers that
count or cut tokens with it (the chunker) cut where the encoder would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.dense.threads import prepare_torch
from hybridsearch.errors import InvalidInputError, ModelLoadError

if TYPE_CHECKING:
    import torch

    from hybridsearch.dense.model_folder import ModelFolder

__all__ = ["LoadedTransformer", "load_transformer"]


@dataclass(frozen=True)
class LoadedTransformer:
    """A model folder's tokenizer and transformer, ready to run.

    Attributes:
        tokenizer: The fast tokenizer (``model_max_length`` set to ``max_seq_length``).
        model: The bare transformer in eval mode, on ``device``.
        device: The torch device it runs on.
        max_seq_length: Tokens per text, prompt and special tokens included.
        dimension: The transformer's hidden size (the vectors' length).
    """

    tokenizer: Any
    model: Any
    device: torch.device
    max_seq_length: int
    dimension: int


def load_transformer(
    folder: ModelFolder, *, device: str, max_seq_length: int | None = None
) -> LoadedTransformer:
    """Load ``folder``'s tokenizer and transformer onto ``device``.

    Args:
        folder: The model folder, as read by
            :func:`~hybridsearch.dense.model_folder.read_model_folder`.
        device: A torch device name ("cpu", "cuda", "cuda:1", ...).
        max_seq_length: Override the folder's length (at most the model's positions); None
            takes the folder's, else the tokenizer's (at most 512), capped at the positions.

    Raises:
        InvalidInputError: ``device`` is not a usable torch device, or ``max_seq_length``
            exceeds the model's position embeddings.
        ModelLoadError: The files cannot be loaded, or the pooling config's dimension is not
            the transformer's hidden size.
    """
    # Passive OpenMP and HYBRIDSEARCH_TORCH_THREADS before torch starts (dense/threads.py).
    torch = prepare_torch()

    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidInputError(f"device {device!r} is not a torch device: {error}") from error
    tokenizer, model = _load_pretrained(folder.transformer_path, folder.name)
    try:
        model = model.to(torch_device)
    except (RuntimeError, AssertionError) as error:
        raise InvalidInputError(f"cannot move the model to device {device!r}: {error}") from error
    model.eval()

    max_seq_length = _fit_max_seq_length(max_seq_length, folder, tokenizer, model)
    tokenizer.model_max_length = max_seq_length
    if folder.do_lower_case:
        _add_lowercase_normalizer(tokenizer, folder.path)

    hidden_size = int(model.config.hidden_size)
    if folder.pooling_dimension is not None and int(folder.pooling_dimension) != hidden_size:
        raise ModelLoadError(
            f"{folder.path}: pooling config says dimension {folder.pooling_dimension} "
            f"but the transformer's hidden size is {hidden_size}"
        )
    return LoadedTransformer(tokenizer, model, torch_device, max_seq_length, hidden_size)


def _load_pretrained(folder: Path, name: str) -> tuple[Any, Any]:
    """Load the fast tokenizer and the bare transformer, wrapping any failure."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # transformers 5 shows a "Loading weights" bar on every load: noise for a 90 MB
    # model that loads in a second. Its switch is process-wide, so it is put back after.
    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
        transformer = AutoModel.from_pretrained(str(folder))
    except Exception as error:
        raise ModelLoadError(
            f"cannot load model {name!r} from {folder}: {type(error).__name__}: {error}"
        ) from error
    finally:
        if bars_were_on:
            transformers_logging.enable_progress_bar()
    return tokenizer, transformer


def _fit_max_seq_length(
    requested: int | None, folder: ModelFolder, tokenizer: Any, model: Any
) -> int:
    """The length the encoder truncates at: the request, else the folder's, within positions."""
    position_limit = getattr(model.config, "max_position_embeddings", None)
    if requested is not None:
        if position_limit is not None and 0 < position_limit < requested:
            raise InvalidInputError(
                f"max_seq_length={requested} exceeds the model's "
                f"max_position_embeddings={position_limit}"
            )
        return requested
    max_seq_length = folder.max_seq_length
    if max_seq_length is None:
        max_seq_length = min(int(tokenizer.model_max_length), 512)
    if position_limit is not None and position_limit > 0:
        # A folder asking for more than the model has positions: cap, as ST does.
        max_seq_length = min(int(max_seq_length), position_limit)
    return max_seq_length


def _add_lowercase_normalizer(tokenizer: Any, folder: Path) -> None:
    """Lowercase inside the tokenizer (sentence_bert_config do_lower_case), as ST does.

    Doing it in the tokenizer rather than on the strings keeps offsets valid for the chunker.
    """
    from tokenizers.normalizers import Lowercase
    from tokenizers.normalizers import Sequence as NormalizerSequence

    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{folder}: do_lower_case needs a fast tokenizer")
    backend = tokenizer.backend_tokenizer
    current = backend.normalizer
    if current is not None and "Lowercase" in repr(current):
        return
    steps = [Lowercase()]
    if isinstance(current, NormalizerSequence):
        steps += list(current)
    elif current is not None:
        steps.append(current)
    backend.normalizer = NormalizerSequence(steps)
