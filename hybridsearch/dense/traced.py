"""The query encoder's forward pass as one TorchScript call, checked bit for bit against eager.

A query is short (10-40 tokens), so its forward pass in eager PyTorch is ~100 module calls
and a few hundred small tensor operations, each a trip through Python. That costs time
(~15% of a lone query here), and it costs more beside other Python threads: every operation
gives the GIL up and takes it back, so a search that runs BM25 in one thread while the query
is encoded in another (:mod:`hybridsearch.search.background`) makes both wait on each other.
A TorchScript trace of the same model runs the same ATen operations from C++ without the GIL.
Measured at 1M passages on 2 quiet cores (one torch thread, 200 scifact queries): a lone
query 15.6 -> 14.7 ms; beside a BM25 thread 22-24 -> 15-16.5 ms.

A trace records one path through the model's Python code. BERT's decides one thing from the
data: with no padding its attention runs without a mask. So :func:`trace_forward` traces on a
padded pair, then checks the trace against the eager model on inputs of other lengths, with and
without padding, and keeps it only if every output is identical to the bit; otherwise, or if
tracing fails, the caller keeps the eager model. Only query passes use it (CPU, sdpa
attention, float32: :mod:`hybridsearch.dense.query_batches`), so every property proved there
(a query's vector does not depend on its pass) holds for the same reason: same operations,
same kernels, one thread. ``HYBRIDSEARCH_TRACED_QUERIES=0`` keeps the eager model.

Tracing warns (TracerWarning, deprecations); those warnings are filtered while it runs, the
check being what decides. Python's warning filters are one list for the whole process, so a
thread that changes them at the same moment (pytest does around each test) can let one through.

``torch.jit.trace`` is in maintenance in recent torch (it warns that it is deprecated; the
warning is silenced here): its replacements need a C++ compiler at run time (``torch.compile``)
or ahead of time (``torch.export`` + AOTInductor), which a pip install of this package cannot
promise. If a torch release drops it, tracing fails and the eager model is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["TRACED_QUERIES_VARIABLE", "trace_forward"]

#: "0" keeps the eager model for queries.
TRACED_QUERIES_VARIABLE = "HYBRIDSEARCH_TRACED_QUERIES"

#: Texts the trace is made on (padded: the masked path) and checked on (other lengths, some
#: not padded at all, some cut at the maximum length).
_TRACE_TEXTS = ("a short query", "a somewhat longer query about proteins in cells")
_CHECK_LENGTHS = (8, 24, 40)

#: (token tensors by name) -> last hidden state (or what ``finish`` makes of it)
Forward = Callable[[Mapping[str, Any]], Any]
#: (last hidden state, attention mask) -> the pass's result (pooled sentence vectors)
Finish = Callable[[Any, Any], Any]


def trace_forward(
    model: Any,
    tokenizer: Any,
    max_length: int,
    environ: Mapping[str, str] | None = None,
    *,
    finish: Finish | None = None,
) -> Forward | None:
    """The model's forward as a checked TorchScript trace, or None to keep the eager model.

    Args:
        model: A transformers encoder (eval mode), on the CPU.
        tokenizer: Its tokenizer (gives the input names and the probe inputs).
        max_length: The longest input the model takes (one probe is cut there).
        environ: Where to read ``HYBRIDSEARCH_TRACED_QUERIES`` (default ``os.environ``).
        finish: Tensor operations on the last hidden state and the attention mask traced
            into the same call (the encoder's pooling and normalisation), so that a pass
            takes the GIL once rather than once per operation: beside a busy Python thread
            every take waits up to the interpreter's switch interval (5 ms).

    Returns:
        A function of the tokenizer's tensors (by name) returning the last hidden state, or
        ``finish`` of it, identical to the eager model's (and ``finish``'s) on every probe;
        None when switched off, when tracing fails, or when any probe differs.
    """
    environ = os.environ if environ is None else environ
    if environ.get(TRACED_QUERIES_VARIABLE, "1").strip() == "0":
        return None
    import torch

    example = tokenizer(
        list(_TRACE_TEXTS), padding="max_length", max_length=16, truncation=True,
        return_tensors="pt",
    )
    names = tuple(example.keys())
    if finish is not None and "attention_mask" not in names:
        return None
    wrapper = _last_hidden_state(model, names, finish)
    try:
        with warnings.catch_warnings(), _transformers_quiet(), torch.inference_mode():
            # Only what tracing itself warns about: the check below is what decides, and a
            # blanket "ignore" would also hide other threads' warnings while it lasts.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated")
            warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*")
            traced = torch.jit.trace(
                wrapper, tuple(example[name] for name in names), check_trace=False
            )
    except Exception:  # any failure to trace leaves the eager model, which always works
        return None

    def forward(batch: Mapping[str, Any]) -> Any:
        return traced(*(batch[name] for name in names))

    if not _same_as_eager(forward, wrapper, tokenizer, names, max_length):
        return None
    return forward


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    """Keep transformers' log quiet while tracing: the tracer reads every attribute of the
    model, and transformers logs a warning when its ``loss_function`` is read (a notebook
    would show it above the first search's results)."""
    logger = logging.getLogger("transformers")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _same_as_eager(
    forward: Forward, eager: Any, tokenizer: Any, names: tuple[str, ...], max_length: int
) -> bool:
    """Whether the trace gives the eager model's output to the bit on every probe."""
    import torch

    probes = []
    for length in (*_CHECK_LENGTHS, max_length):
        probes.append(([_TRACE_TEXTS[1]], "max_length", length))  # padded, or cut at length
        probes.append(([_TRACE_TEXTS[0], _TRACE_TEXTS[1]], True, length))  # one pads
    probes.append(([_TRACE_TEXTS[1]], True, max_length))  # no padding at all: no mask
    with torch.inference_mode():
        for texts, padding, length in probes:
            batch = tokenizer(
                texts, padding=padding, max_length=length, truncation=True, return_tensors="pt"
            )
            if set(batch.keys()) != set(names):
                return False
            try:
                traced = forward(batch)
            except Exception:
                return False
            if not torch.equal(traced, eager(*(batch[name] for name in names))):
                return False
    return True


def _last_hidden_state(model: Any, names: tuple[str, ...], finish: Finish | None) -> Any:
    """A module calling ``model`` with positional tensors in ``names`` order; its output is
    the model's last hidden state, or ``finish`` of it and the attention mask (what tracing
    records)."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            inputs = dict(zip(names, tensors, strict=True))
            hidden = self.model(**inputs).last_hidden_state
            return hidden if finish is None else finish(hidden, inputs["attention_mask"])

    return LastHiddenState().eval()
