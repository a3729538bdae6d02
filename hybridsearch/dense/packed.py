"""Queries of several padded lengths in one forward pass, each row as its own pass gives it.

A query pass holds queries of one *bucket* (padded length,
:mod:`~hybridsearch.dense.query_batches`), so that a query's vector never depends on its
company. A batch of 16 scifact queries spans 4-5 buckets, so it costs 4-5 passes, and each
pass reads all the weights from memory once (~5 ms here, the cost of ~17 tokens): at 8-16
queries a batch, that is most of the gap to one call of hundreds (7.3 ms of CPU per query in
one call of 320, 11.2 in calls of 8).

Of a BERT layer's operations only attention mixes the tokens of a query; everything else
(the linear layers, layer norms, GELU, residual sums) works row by row, and at one thread a
row's result does not depend on how many rows share the call (the module documentation of
:mod:`~hybridsearch.dense.query_batches`). So :class:`PackedBert` runs every row of every
bucket through each linear layer as one matrix, and attention bucket by bucket, on views
with the strides a pass of that bucket alone would have: one pass, whatever the buckets,
and each query's vector identical to the bit to the one it gets alone. That is checked, not
assumed: :func:`packed_forward` compares the packed module against the per-bucket forward on
probes when it is made, and returns None (the caller keeps one bucket per pass) if any
output differs, if the model is not a BERT encoder this module knows (sdpa attention, GELU,
absolute positions), or if the pooling is not mean pooling. ``HYBRIDSEARCH_PACKED_QUERIES=0``
switches it off.

The module is TorchScript (``torch.jit.script``): a pass runs from C++ without the GIL, as
the traced per-bucket forward does (:mod:`~hybridsearch.dense.traced`), so it runs beside a
busy Python thread (a server's legs) without waiting on it. Written here rather than taken
from transformers: its BERT cannot take rows of several lengths in one call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["PACKED_QUERIES_VARIABLE", "PackedPass", "packed_forward"]

#: "0" keeps one bucket per pass.
PACKED_QUERIES_VARIABLE = "HYBRIDSEARCH_PACKED_QUERIES"

#: (pass of several buckets) -> its sentence vectors, one row per query in the pass's order
PackedForward = Callable[["PackedPass"], Any]


class PackedPass:
    """The token tensors of queries of several buckets, packed row after row.

    Args:
        groups: Per bucket, its queries' token tensors as the tokenizer gives them for a
            pass of that bucket alone (``input_ids``, ``token_type_ids``, ``attention_mask``,
            each (queries, padded length)).
    """

    def __init__(self, groups: Sequence[Any]) -> None:
        import torch

        self.input_ids = torch.cat([group["input_ids"].reshape(-1) for group in groups])
        self.token_type_ids = torch.cat(
            [group["token_type_ids"].reshape(-1) for group in groups]
        )
        self.position_ids = torch.cat(
            [
                torch.arange(group["input_ids"].shape[1]).repeat(group["input_ids"].shape[0])
                for group in groups
            ]
        )
        self.masks = [group["attention_mask"] for group in groups]
        # What BERT's attention is given for a padded pass: True where the key is a real
        # token, (queries, 1, length, length).
        self.attention_masks = [
            (mask[:, None, None, :] != 0).expand(-1, 1, mask.shape[1], -1).contiguous()
            for mask in self.masks
        ]


def packed_forward(
    model: Any,
    tokenizer: Any,
    reference: Callable[[Any], Any],
    *,
    pooling: str,
    normalize: bool,
    max_length: int,
    environ: Mapping[str, str] | None = None,
) -> PackedForward | None:
    """A forward pass over queries of several buckets at once, or None (keep one bucket per
    pass).

    Args:
        model: The transformers encoder (eval mode, CPU).
        tokenizer: Its tokenizer (makes the probes).
        reference: The per-bucket forward the packed one must equal: token tensors of one
            bucket -> their pooled, normalised vectors.
        pooling: The encoder's pooling (only ``mean`` is packed).
        normalize: Whether the vectors are normalised.
        max_length: The longest input the model takes (one probe is cut there).
        environ: Where to read ``HYBRIDSEARCH_PACKED_QUERIES`` (default ``os.environ``).

    Returns:
        A function of a :class:`PackedPass` returning its vectors (a float32 tensor, one row
        per query, buckets in the order given), identical to ``reference`` bucket by bucket
        on every probe; None when switched off, where the model is not one this module
        knows, where scripting fails, or where any probe differs.
    """
    environ = os.environ if environ is None else environ
    if environ.get(PACKED_QUERIES_VARIABLE, "1").strip() == "0":
        return None
    import torch

    if pooling != "mean" or not _is_plain_bert(model):
        return None
    try:
        with warnings.catch_warnings():
            # Deprecated in recent torch, like tracing (dense/traced.py says why it is used
            # all the same); the check below is what decides.
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")
            scripted = torch.jit.script(_packed_bert(model, normalize=normalize).eval())
    except Exception:  # an unexpected layout: keep one bucket per pass
        return None

    def forward(packed: PackedPass) -> Any:
        return scripted(
            packed.input_ids,
            packed.token_type_ids,
            packed.position_ids,
            packed.masks,
            packed.attention_masks,
        )

    if not _same_as_reference(forward, reference, tokenizer, max_length):
        return None
    return forward


def _is_plain_bert(model: Any) -> bool:
    """Whether ``model`` is a BERT encoder :class:`PackedBert` reproduces operation for
    operation: sdpa attention, exact GELU, absolute positions, not a decoder."""
    config = getattr(model, "config", None)
    return (
        type(model).__name__ == "BertModel"
        and getattr(config, "_attn_implementation", None) == "sdpa"
        and getattr(config, "hidden_act", None) == "gelu"
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "add_cross_attention", False)
        and getattr(model, "embeddings", None) is not None
    )


def _same_as_reference(
    forward: PackedForward, reference: Callable[[Any], Any], tokenizer: Any, max_length: int
) -> bool:
    """Whether the packed forward gives each bucket's rows exactly as ``reference`` does, on
    probes of several buckets (padded, unpadded, cut at the maximum length) in both orders.

    The probes are few and short (~1,200 tokens in all, ~0.5-0.7 s here with the scripted
    module's first calls): an encoder pays for them once, on its first small batch or in
    ``Encoder.warm_up_batches``.
    """
    import torch

    short, longer = "a short query", "a somewhat longer query about proteins in cells"
    probes = [
        (8, ["cells " * 6]),  # [CLS] + 6 + [SEP]: exactly its bucket, no padding
        (16, [short, longer]),
        (24, [short, longer, "cells"]),
        (min(40, max_length), ["what do the mitochondria of a muscle cell do without oxygen"]),
        (max_length, ["cells " * max_length]),  # cut at the cap
    ]
    groups = [
        tokenizer(
            probe_texts,
            padding="max_length",
            max_length=length,
            truncation=True,
            return_tensors="pt",
        )
        for length, probe_texts in probes
    ]
    # All of them (the longest cut at the cap); the shorter ones in the other order; one alone.
    try:
        with torch.inference_mode():
            for chosen in (groups, groups[-2::-1], groups[1:2]):
                packed = forward(PackedPass(chosen))
                expected = torch.cat([reference(group) for group in chosen])
                if not torch.equal(packed, expected):
                    return False
    except Exception:
        return False
    return True


def _packed_bert_class() -> Any:
    import torch
    import torch.nn.functional as F

    class PackedLayer(torch.nn.Module):
        """One BERT layer over packed rows (the model's own modules, called as it calls
        them)."""

        def __init__(self, layer: Any, heads: int) -> None:
            super().__init__()
            attention = layer.attention
            self.query = attention.self.query
            self.key = attention.self.key
            self.value = attention.self.value
            self.scaling = float(attention.self.scaling)
            self.attention_dense = attention.output.dense
            self.attention_norm = attention.output.LayerNorm
            self.intermediate = layer.intermediate.dense
            self.output_dense = layer.output.dense
            self.output_norm = layer.output.LayerNorm
            self.heads = heads

        def forward(
            self,
            hidden: torch.Tensor,
            masks: list[torch.Tensor],
            attention_masks: list[torch.Tensor],
        ) -> torch.Tensor:
            query = self.query(hidden)
            key = self.key(hidden)
            value = self.value(hidden)
            width = query.shape[1]
            head_size = width // self.heads
            parts: list[torch.Tensor] = []
            start = 0
            for number in range(len(masks)):
                queries, length = masks[number].shape[0], masks[number].shape[1]
                end = start + queries * length
                shape = [queries, length, self.heads, head_size]
                attended = F.scaled_dot_product_attention(
                    query[start:end].view(shape).transpose(1, 2),
                    key[start:end].view(shape).transpose(1, 2),
                    value[start:end].view(shape).transpose(1, 2),
                    attn_mask=attention_masks[number],
                    dropout_p=0.0,
                    is_causal=False,
                    scale=self.scaling,
                )
                attended = attended.reshape(queries, -1, length, head_size)
                attended = attended.transpose(1, 2).contiguous()
                parts.append(attended.reshape(queries, length, width).contiguous().view(-1, width))
                start = end
            attended_rows = torch.cat(parts)
            attention_out = self.attention_norm(self.attention_dense(attended_rows) + hidden)
            intermediate = F.gelu(self.intermediate(attention_out))
            return self.output_norm(self.output_dense(intermediate) + attention_out)

    class PackedBert(torch.nn.Module):
        """BERT over queries of several buckets packed row after row, mean-pooled per query
        (see the module's documentation)."""

        def __init__(self, model: Any, normalize: bool) -> None:
            super().__init__()
            embeddings = model.embeddings
            self.word_embeddings = embeddings.word_embeddings
            self.token_type_embeddings = embeddings.token_type_embeddings
            self.position_embeddings = embeddings.position_embeddings
            self.embedding_norm = embeddings.LayerNorm
            heads = int(model.config.num_attention_heads)
            self.layers = torch.nn.ModuleList(
                [PackedLayer(layer, heads) for layer in model.encoder.layer]
            )
            self.normalize = normalize

        def forward(
            self,
            input_ids: torch.Tensor,
            token_type_ids: torch.Tensor,
            position_ids: torch.Tensor,
            masks: list[torch.Tensor],
            attention_masks: list[torch.Tensor],
        ) -> torch.Tensor:
            hidden = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
            hidden = hidden + self.position_embeddings(position_ids)
            hidden = self.embedding_norm(hidden)
            for layer in self.layers:
                hidden = layer(hidden, masks, attention_masks)
            width = hidden.shape[1]
            vectors: list[torch.Tensor] = []
            start = 0
            # pooling.pool's mean, written out for TorchScript (the same operations).
            for mask in masks:
                queries, length = mask.shape[0], mask.shape[1]
                end = start + queries * length
                tokens = hidden[start:end].view(queries, length, width).to(torch.float32)
                weights = mask.unsqueeze(-1).to(torch.float32)
                summed = torch.sum(tokens * weights, [1])
                pooled = summed / torch.clamp(torch.sum(weights, [1]), 1e-9)
                if self.normalize:
                    pooled = F.normalize(pooled, 2.0, 1)
                vectors.append(pooled)
                start = end
            return torch.cat(vectors)

    return PackedBert


def _packed_bert(model: Any, *, normalize: bool) -> Any:
    """The TorchScript-able :class:`PackedBert` module for ``model`` (its class is made on
    first use, so importing this module does not import torch)."""
    return _packed_bert_class()(model, normalize)
