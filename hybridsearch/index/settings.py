"""An index's settings: one entry per component, each that component's own settings class.

The manifest stores ``IndexSettings.to_dict()`` under ``"settings"``: component name ->
that component's ``to_dict()``. Reading is strict (an unknown or missing component or key is
an :class:`~hybridsearch.errors.IndexFormatError` naming it), and nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hybridsearch.corpus.chunking import ChunkingSettings
from hybridsearch.dense.vectors import VectorSettings
from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.sparse.analysis import AnalyzerSettings
from hybridsearch.sparse.bm25 import BM25Settings

__all__ = ["IndexSettings"]


@dataclass(frozen=True)
class IndexSettings:
    """How an index is built, per component.

    Attributes:
        chunking: Passage length, overlap, title handling.
        analyzer: BM25's tokenisation, stopwords and stemming.
        bm25: BM25 variant and parameters.
        vectors: FAISS index kind and parameters.
    """

    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    analyzer: AnalyzerSettings = field(default_factory=AnalyzerSettings)
    bm25: BM25Settings = field(default_factory=BM25Settings)
    vectors: VectorSettings = field(default_factory=VectorSettings)

    def __post_init__(self) -> None:
        # BM25F's title field is the title the chunker carries into each passage; with none
        # carried the weight would silently do nothing.
        if self.bm25.title_weight != 1 and not self.chunking.carry_title:
            raise InvalidInputError(
                f"bm25 title_weight={self.bm25.title_weight} weights the title carried into "
                "each passage, but chunking carry_title is False: set carry_title=True or "
                "title_weight=1"
            )

    @classmethod
    def coerce(cls, **components: Any) -> IndexSettings:
        """Settings from user arguments: each an instance, a mapping of fields, or None."""
        kinds = {item.name: item.type for item in fields(cls)}
        return cls(
            **{
                name: _settings_class(kinds[name]).coerce(value, name)
                for name, value in components.items()
            }
        )

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Component name -> that component's settings as JSON-ready data."""
        return {item.name: getattr(self, item.name).to_dict() for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> IndexSettings:
        """Read :meth:`to_dict`'s output strictly (IndexFormatError naming what is wrong)."""
        if not isinstance(data, Mapping):
            raise IndexFormatError(f"{where}: expected an object of component settings")
        names = [item.name for item in fields(cls)]
        unknown = [name for name in data if name not in names]
        missing = [name for name in names if name not in data]
        if unknown or missing:
            raise IndexFormatError(
                f"{where}: unknown components {unknown} / missing components {missing}; "
                f"expected exactly: {', '.join(names)}"
            )
        kinds = {item.name: item.type for item in fields(cls)}
        return cls(
            **{
                name: _settings_class(kinds[name]).from_dict(data[name], where=f"{where}.{name}")
                for name in names
            }
        )

    def differences(self, other: IndexSettings) -> list[str]:
        """The components whose settings differ from ``other``'s, as ``name: a -> b``."""
        return [
            f"{item.name}: {getattr(other, item.name).to_dict()} -> "
            f"{getattr(self, item.name).to_dict()}"
            for item in fields(self)
            if getattr(self, item.name) != getattr(other, item.name)
        ]


_CLASSES = {
    "ChunkingSettings": ChunkingSettings,
    "AnalyzerSettings": AnalyzerSettings,
    "BM25Settings": BM25Settings,
    "VectorSettings": VectorSettings,
}


def _settings_class(annotation: Any) -> Any:
    # `from __future__ import annotations` leaves field types as strings.
    return _CLASSES[annotation] if isinstance(annotation, str) else annotation
