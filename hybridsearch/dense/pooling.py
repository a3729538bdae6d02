"""Pooling: token embeddings of a batch to one vector per text, as sentence-transformers does.

Pure torch functions over float32 tensors. torch is imported inside them, so the pooling names
(:data:`POOLING_MODES`) can be read by the model-folder and identity modules without loading
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hybridsearch.validation import check_choice

if TYPE_CHECKING:
    import torch

__all__ = ["POOLING_MODES", "pool"]

#: The pooling modes the encoder implements (sentence-transformers' single modes that need no
#: weights or prompt lengths).
POOLING_MODES = ("mean", "cls", "max", "lasttoken")


def pool(
    token_embeddings: torch.Tensor, attention_mask: torch.Tensor, pooling: str
) -> torch.Tensor:
    """Pool (batch, tokens, dim) float32 embeddings to (batch, dim), ignoring padding.

    Mirrors sentence-transformers' Pooling module for one mode, for left or right padding.

    Args:
        token_embeddings: The transformer's last hidden state, float32.
        attention_mask: (batch, tokens), 1 for real tokens and 0 for padding.
        pooling: One of :data:`POOLING_MODES`.

    Raises:
        InvalidInputError: ``pooling`` is not one of :data:`POOLING_MODES`.
    """
    import torch

    check_choice("pooling", pooling, POOLING_MODES)
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if pooling == "mean":
        summed = (token_embeddings * mask).sum(dim=1)
        return summed / torch.clamp(mask.sum(dim=1), min=1e-9)
    if pooling == "max":
        return token_embeddings.masked_fill(mask == 0, float("-inf")).max(dim=1).values
    if pooling == "cls":
        # The first real token (index 0 with right padding).
        positions = attention_mask.to(torch.int32).argmax(dim=1)
    else:  # lasttoken
        # The last real token: search from the right for the first 1 in the mask.
        seq_len = attention_mask.shape[1]
        values, from_right = attention_mask.flip(1).max(dim=1)
        from_right = torch.where(values == 0, seq_len - 1, from_right)
        positions = seq_len - from_right - 1
    hidden = token_embeddings.shape[-1]
    gather_index = positions.view(-1, 1, 1).expand(-1, 1, hidden)
    return torch.gather(token_embeddings * mask, 1, gather_index).squeeze(1)
