"""Write a trained transformer as a sentence-transformers model folder.

The layout ``SentenceTransformer(folder)`` and :class:`~hybridsearch.dense.encoder.Encoder`
both load::

    config.json, model.safetensors, tokenizer files     the transformer (transformers' own)
    modules.json                                        Transformer -> Pooling [-> Normalize]
    1_Pooling/config.json                               the base's pooling mode
    sentence_bert_config.json                           the base's max_seq_length, lowercasing
    config_sentence_transformers.json                   the base's prompts, unchanged
    hybridsearch_training.json                          what it was trained from, and how

The folder is written next to its destination and renamed into place, so a crash never
leaves a half-written model where an index could point.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridsearch.dense.model_folder import ModelFolder
from hybridsearch.errors import InvalidInputError

__all__ = ["TRAINING_RECORD", "write_model_folder"]

#: The file that records a trained folder's base model and training settings.
TRAINING_RECORD = "hybridsearch_training.json"

_ST_PREFIX = "sentence_transformers.models."


def write_model_folder(
    destination: str | Path,
    model: Any,
    tokenizer: Any,
    base: ModelFolder,
    *,
    max_seq_length: int,
    record: Mapping[str, Any] | None = None,
) -> Path:
    """Save ``model`` and ``tokenizer`` at ``destination`` as a sentence-transformers folder.

    Args:
        destination: The new folder; it must not exist, or be empty.
        model: The transformers model (saved as safetensors).
        tokenizer: Its tokenizer.
        base: The folder it was trained from: pooling, normalisation, lowercasing and prompts
            are taken from it, so the new model encodes the way the base did.
        max_seq_length: The length the encoder truncates at (the base's, not training's).
        record: What to write to :data:`TRAINING_RECORD` (base identity, settings, pairs).

    Returns:
        The folder written.

    Raises:
        InvalidInputError: ``destination`` is a file or a non-empty folder.
    """
    target = Path(destination)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(
            f"model output {target} already exists and is not an empty folder; choose a new path"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.writing-{uuid.uuid4().hex[:8]}")
    try:
        _save_transformer(model, tokenizer, staging)
        _write_json(staging / "modules.json", _modules(base.normalize))
        _write_json(staging / "1_Pooling" / "config.json", _pooling_config(base, model))
        _write_json(
            staging / "sentence_bert_config.json",
            {"max_seq_length": int(max_seq_length), "do_lower_case": base.do_lower_case},
        )
        _write_json(staging / "config_sentence_transformers.json", _prompts_config(base))
        _write_json(staging / TRAINING_RECORD, dict(record or {}))
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _save_transformer(model: Any, tokenizer: Any, folder: Path) -> None:
    """transformers' own files (safetensors weights), without its "Writing shards" bar."""
    from transformers.utils import logging as transformers_logging

    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
    finally:
        if bars_were_on:
            transformers_logging.enable_progress_bar()


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _modules(normalize: bool) -> list[dict[str, Any]]:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": _ST_PREFIX + "Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": _ST_PREFIX + "Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": _ST_PREFIX + "Normalize"}
        )
    return modules


def _pooling_config(base: ModelFolder, model: Any) -> dict[str, Any]:
    """The base's pooling mode in the legacy boolean keys (read by every ST version)."""
    return {
        "word_embedding_dimension": int(model.config.hidden_size),
        "pooling_mode_cls_token": base.pooling == "cls",
        "pooling_mode_mean_tokens": base.pooling == "mean",
        "pooling_mode_max_tokens": base.pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": base.pooling == "lasttoken",
        "include_prompt": True,
    }


def _prompts_config(base: ModelFolder) -> dict[str, Any]:
    """The base's config_sentence_transformers.json as it is (its prompts), else none."""
    path = base.path / "config_sentence_transformers.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"prompts": {}, "default_prompt_name": None}
