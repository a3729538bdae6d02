"""Model identity: what a vector space depends on, so an index can refuse another model's vectors.

An index records the :class:`ModelIdentity` of the model that encoded its passages; a query
encoder whose identity is not :meth:`~ModelIdentity.same_model_as` that one is refused with
:func:`model_mismatch_message`. Imports neither torch nor transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hybridsearch.dense.pooling import POOLING_MODES
from hybridsearch.errors import InvalidInputError
from hybridsearch.settings import Settings
from hybridsearch.validation import check_choice, positive_int, sha256_files

if TYPE_CHECKING:
    from hybridsearch.dense.model_folder import ModelFolder

__all__ = ["ModelIdentity", "model_mismatch_message"]

# The fields vectors depend on. Not the name (a local copy of the same weights is the same
# model) nor max_seq_length (it only decides where long texts are cut).
_VECTOR_SPACE_FIELDS = (
    "weights_digest",
    "dimension",
    "pooling",
    "normalize",
    "query_prompt",
    "passage_prompt",
)


@dataclass(frozen=True)
class ModelIdentity(Settings):
    """What a vector space depends on, so an index can refuse vectors of another model.

    Written to and read from an index manifest with the strict settings protocol
    (:meth:`to_dict` / :meth:`from_dict`); validated when made.

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

    def validate(self) -> None:
        """Refuse fields of the wrong type (a manifest edited by hand, or written by a bug)."""
        for name in ("name", "weights_digest", "query_prompt", "passage_prompt"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"model identity field {name!r} must be a str, got "
                    f"{type(value).__name__} {value!r}"
                )
        if not isinstance(self.normalize, bool):
            raise InvalidInputError(
                f"model identity field 'normalize' must be a bool, got {self.normalize!r}"
            )
        positive_int("dimension", self.dimension)
        positive_int("max_seq_length", self.max_seq_length)
        check_choice("pooling", self.pooling, POOLING_MODES)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "model identity") -> ModelIdentity:
        """Read an identity written by :meth:`to_dict` (e.g. an index manifest), strictly.

        Raises:
            IndexFormatError: ``data`` has an unknown or missing key, or a field of the wrong
                type; the message names ``where`` and the key.
        """
        return super().from_dict(data, where=where)

    @classmethod
    def from_folder(
        cls, folder: ModelFolder, *, dimension: int, max_seq_length: int
    ) -> ModelIdentity:
        """The identity of a model folder's weights as the encoder runs them.

        Args:
            folder: The model folder (name, pooling, normalisation and prompts come from it).
            dimension: The transformer's hidden size.
            max_seq_length: The length the encoder truncates at.

        Raises:
            ModelLoadError: The folder has no weight file.
        """
        return cls(
            name=folder.name,
            weights_digest=sha256_files(folder.weight_files()),
            dimension=dimension,
            pooling=folder.pooling,
            normalize=folder.normalize,
            max_seq_length=max_seq_length,
            query_prompt=folder.query_prompt,
            passage_prompt=folder.passage_prompt,
        )

    def describe(self) -> str:
        """Short human description for error messages, e.g. ``'x (sha256 1a2b3c4d5e6f, 384-d)'``."""
        return f"{self.name} (sha256 {self.weights_digest[:12]}, {self.dimension}-d)"

    def same_model_as(self, other: ModelIdentity) -> bool:
        """Whether vectors of ``other`` are comparable with vectors of this model.

        The name is ignored (a local copy of the same weights is the same model) and so is
        ``max_seq_length`` (it only decides where long texts are cut); weights, dimension,
        pooling, normalisation and prompts must all match.
        """
        return all(getattr(self, name) == getattr(other, name) for name in _VECTOR_SPACE_FIELDS)


def model_mismatch_message(
    expected: ModelIdentity, found: ModelIdentity, expected_where: str, found_where: str
) -> str:
    """Say which two models differ, and in what, for a ModelMismatchError.

    Args:
        expected: The identity the vectors were made with (an index's).
        found: The identity that was about to be compared with them (a query encoder's).
        expected_where: What holds ``expected``, e.g. ``"the index at /x"``.
        found_where: What holds ``found``, e.g. ``"the query encoder"``.
    """
    expected_fields, found_fields = expected.to_dict(), found.to_dict()
    differences = ", ".join(
        f"{name} {expected_fields[name]!r} vs {found_fields[name]!r}"
        for name in _VECTOR_SPACE_FIELDS
        if expected_fields[name] != found_fields[name]
    )
    return (
        f"{expected_where} holds vectors of {expected.describe()}, but {found_where} is "
        f"{found.describe()} (differs in {differences}); vectors of different models cannot "
        "be compared: use the model the index was built with, or rebuild the index"
    )
