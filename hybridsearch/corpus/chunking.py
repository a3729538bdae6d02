"""Chunker: documents into passages that fit the encoder's max sequence length.

The chunker counts tokens with the encoder's own tokenizer, so no passage, once the model's
prompt, the document title and the special tokens are added, is longer than the model reads:
nothing is truncated silently at encoding time. It cuts at sentence and paragraph boundaries
where it can, splits a sentence longer than the limit at token boundaries, and carries whole
trailing sentences of one passage into the next as overlap. A document that fits stays whole.

Sentence boundaries come from a small regular expression rather than nltk's punkt, which
needs a data download; a wrong cut (after "e.g.", say) only moves a passage boundary.
"""

from __future__ import annotations

import bisect
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from hybridsearch.corpus.documents import TITLE_SEPARATOR, Document, Passage
from hybridsearch.errors import InvalidInputError
from hybridsearch.settings import Settings
from hybridsearch.validation import positive_int

__all__ = ["Chunker", "ChunkingReport", "ChunkingSettings", "Tokenizer"]

# A boundary: sentence-final punctuation (optionally closed by quotes or brackets) followed
# by whitespace and what looks like the start of a sentence, or a blank line (a paragraph).
_BOUNDARY = re.compile(
    r"[.!?][\"'”’)\]]*\s+(?=[A-Z0-9\"'“‘(\[])|[。！？]\s*|\n[ \t]*\n\s*",
)


class Tokenizer(Protocol):
    """The part of a Hugging Face fast tokenizer the chunker uses."""

    def __call__(self, text: str, **kwargs: Any) -> Any: ...

    def num_special_tokens_to_add(self, pair: bool = False) -> int: ...


@dataclass(frozen=True)
class ChunkingSettings(Settings):
    """How documents are cut into passages (validated when made; see :mod:`hybridsearch.settings`).

    Attributes:
        passage_tokens: Longest passage in tokens as the model sees it (prompt, title and
            special tokens included). ``None`` means the model's max sequence length, which
            is also the ceiling (checked by the :class:`Chunker`, which knows the model).
        overlap: Tokens of the previous passage (whole sentences where possible) repeated at
            the start of the next one; at most half of ``passage_tokens``.
        carry_title: Prefix every passage with its document's title.
    """

    passage_tokens: int | None = None
    overlap: int = 32
    carry_title: bool = True

    def validate(self) -> None:
        """Refuse values out of range; the message names the field."""
        if self.passage_tokens is not None:
            # Stored as a plain int (a numpy integer would not survive json.dumps).
            object.__setattr__(
                self, "passage_tokens", positive_int("passage_tokens", self.passage_tokens)
            )
        overlap = self.overlap
        if isinstance(overlap, bool) or not isinstance(overlap, numbers.Integral) or overlap < 0:
            raise InvalidInputError(f"overlap must be a non-negative integer, got {overlap!r}")
        object.__setattr__(self, "overlap", int(overlap))
        if self.passage_tokens is not None:
            _check_overlap(self.overlap, self.passage_tokens)
        if not isinstance(self.carry_title, bool):
            raise InvalidInputError(f"carry_title must be True or False, got {self.carry_title!r}")


def _check_overlap(overlap: int, passage_tokens: int) -> None:
    if overlap * 2 > passage_tokens:
        raise InvalidInputError(
            f"overlap must be at most half of passage_tokens ({passage_tokens // 2}), got "
            f"{overlap!r}"
        )


@dataclass(frozen=True)
class ChunkingReport(Settings):
    """What chunking did: how many documents were split and how much would have been cut.

    It shares the settings protocol (validated, strict ``to_dict``/``from_dict``) because the
    index writes it to its manifest and reads it back. Reports add up: ``a + b`` is the
    report of chunking both corpora.

    Attributes:
        documents: Documents chunked.
        passages: Passages produced.
        documents_split: Documents cut into more than one passage.
        tokens_over_limit: Tokens beyond the model's max length, summed over documents: what
            encoding whole documents would have truncated, and what chunking saved.
        titles_not_carried: Documents whose title was too long to repeat in each passage.
    """

    documents: int = 0
    passages: int = 0
    documents_split: int = 0
    tokens_over_limit: int = 0
    titles_not_carried: int = 0

    def validate(self) -> None:
        """Every count is a non-negative integer."""
        for name in self.field_names():
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {count!r}")

    def __add__(self, other: ChunkingReport) -> ChunkingReport:
        if not isinstance(other, ChunkingReport):
            return NotImplemented
        return ChunkingReport(
            *(getattr(self, name) + getattr(other, name) for name in self.field_names())
        )


class _Unit(NamedTuple):
    """A sentence (or a window of a long one): a char span and its token range in the body."""

    char_start: int
    char_end: int
    token_start: int
    token_end: int


class Chunker:
    """Cuts documents into passages no longer than the model's max sequence length.

    Args:
        tokenizer: The encoder's Hugging Face fast tokenizer (offsets mapping needed).
        max_seq_length: The model's limit in tokens, special tokens included.
        prompt: The passage prompt the encoder prefixes (counted against the limit).
        settings: Passage length, overlap and title handling: a :class:`ChunkingSettings`,
            a mapping of some of its fields, or ``None`` for the defaults.

    Raises:
        InvalidInputError: The settings do not fit this model: ``passage_tokens`` over its
            max sequence length, or too small to hold text once the prompt is counted.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        max_seq_length: int,
        prompt: str = "",
        settings: ChunkingSettings | Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = ChunkingSettings.coerce(settings, "chunking")
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.prompt = prompt
        # The settings are valid on their own; what is left is how they fit this model.
        passage_tokens = (
            max_seq_length if self.settings.passage_tokens is None else self.settings.passage_tokens
        )
        if passage_tokens > max_seq_length:
            raise InvalidInputError(
                f"passage_tokens={passage_tokens} exceeds the model's max sequence length "
                f"({max_seq_length}); passages that long would be truncated"
            )
        _check_overlap(self.settings.overlap, passage_tokens)
        self.passage_tokens = passage_tokens
        self._fixed_tokens = tokenizer.num_special_tokens_to_add(pair=False) + len(
            self._token_ids(prompt)
        )
        if passage_tokens - self._fixed_tokens < 8:
            raise InvalidInputError(
                f"passage_tokens={passage_tokens} leaves fewer than 8 tokens of text once the "
                f"prompt and special tokens ({self._fixed_tokens}) are counted"
            )

    @classmethod
    def for_encoder(
        cls, encoder: Any, settings: ChunkingSettings | Mapping[str, Any] | None = None
    ) -> Chunker:
        """Build a chunker that fits the given :class:`~hybridsearch.dense.encoder.Encoder`."""
        return cls(
            encoder.tokenizer,
            max_seq_length=encoder.max_seq_length,
            prompt=encoder.passage_prompt,
            settings=settings,
        )

    def _token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    def count_tokens(self, passage_text: str) -> int:
        """Tokens the model sees for a passage: prompt, text and special tokens."""
        return len(self.tokenizer(self.prompt + passage_text, verbose=False)["input_ids"])

    def chunk(
        self, documents: Iterable[Document], *, first_passage_id: int = 0
    ) -> tuple[list[Passage], ChunkingReport]:
        """Cut documents into passages, numbered from ``first_passage_id``.

        Returns:
            The passages in document order and a report of what was split.
        """
        report = ChunkingReport()
        passages: list[Passage] = []
        for document in documents:
            document_passages, document_report = self.chunk_document(
                document, first_passage_id=first_passage_id + len(passages)
            )
            passages.extend(document_passages)
            report += document_report
        return passages, report

    def chunk_document(
        self, document: Document, *, first_passage_id: int = 0
    ) -> tuple[list[Passage], ChunkingReport]:
        """Cut one document into passages (one passage if it fits).

        Returns:
            The passages, numbered from ``first_passage_id``, and this document's report.
        """
        body = document.text
        encoding = self.tokenizer(
            body, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets: Sequence[tuple[int, int]] = encoding["offset_mapping"]

        title_prefix = ""
        title_tokens = 0
        title_not_carried = False
        if self.settings.carry_title and document.title:
            title_tokens = len(self._token_ids(document.title + TITLE_SEPARATOR))
            if title_tokens * 2 <= self.passage_tokens - self._fixed_tokens:
                title_prefix = document.title + TITLE_SEPARATOR
            else:
                # A title this long would leave too little room for the text in every passage.
                title_not_carried = True
                title_tokens = 0
        budget = self.passage_tokens - self._fixed_tokens - title_tokens
        whole_tokens = self._fixed_tokens + title_tokens + len(offsets)

        split = len(offsets) > budget
        spans = self._split(body, offsets, budget, title_prefix) if split else [(0, len(body))]
        passages = [
            Passage.from_span(
                document, first_passage_id + number, start, end, carry_title=bool(title_prefix)
            )
            for number, (start, end) in enumerate(spans)
        ]
        report = ChunkingReport(
            documents=1,
            passages=len(passages),
            documents_split=int(split),
            tokens_over_limit=max(0, whole_tokens - self.max_seq_length),
            titles_not_carried=int(title_not_carried),
        )
        return passages, report

    def _split(
        self,
        body: str,
        offsets: Sequence[tuple[int, int]],
        budget: int,
        title_prefix: str,
    ) -> list[tuple[int, int]]:
        units = self._units(body, offsets, budget)
        overlap = self.settings.overlap
        spans: list[tuple[int, int]] = []
        first = 0
        while first < len(units):
            last = first
            while (
                last + 1 < len(units)
                and units[last + 1].token_end - units[first].token_start <= budget
            ):
                last += 1
            start, end, token_end = self._fit(
                body, offsets, units[first], units[last], title_prefix
            )
            if token_end < units[last].token_end:
                # Retokenising ran over and the passage was shortened: what was cut off
                # becomes the start of the next passage, so no text is lost.
                while last > first and units[last].token_start >= token_end:
                    last -= 1
                cut = units[last]
                if token_end < cut.token_end:
                    units[last] = self._unit(offsets, cut.token_start, token_end)
                    units.insert(last + 1, self._unit(offsets, token_end, cut.token_end))
            spans.append((start, end))
            if last == len(units) - 1:
                break
            # Carry whole trailing units into the next passage while they fit the overlap and
            # still leave room for the next unit.
            next_first = last + 1
            while (
                next_first - 1 > first
                and units[last].token_end - units[next_first - 1].token_start <= overlap
                and units[last + 1].token_end - units[next_first - 1].token_start <= budget
            ):
                next_first -= 1
            first = next_first
        return spans

    def _units(self, body: str, offsets: Sequence[tuple[int, int]], budget: int) -> list[_Unit]:
        """Sentences as token ranges; a sentence over ``budget`` becomes overlapping windows."""
        sentence_starts = [0] + [match.end() for match in _BOUNDARY.finditer(body)]
        sentence_starts = sorted(set(s for s in sentence_starts if s < len(body)))
        token_sentence = [bisect.bisect_right(sentence_starts, start) - 1 for start, _ in offsets]
        units: list[_Unit] = []
        token_start = 0
        stride = budget - self.settings.overlap
        while token_start < len(offsets):
            sentence = token_sentence[token_start]
            token_end = token_start
            while token_end < len(offsets) and token_sentence[token_end] == sentence:
                token_end += 1
            if token_end - token_start <= budget:
                units.append(self._unit(offsets, token_start, token_end))
            else:
                window_start = token_start
                while True:
                    window_end = min(window_start + budget, token_end)
                    units.append(self._unit(offsets, window_start, window_end))
                    if window_end == token_end:
                        break
                    window_start += stride
            token_start = token_end
        return units

    @staticmethod
    def _unit(offsets: Sequence[tuple[int, int]], token_start: int, token_end: int) -> _Unit:
        return _Unit(offsets[token_start][0], offsets[token_end - 1][1], token_start, token_end)

    def _fit(
        self,
        body: str,
        offsets: Sequence[tuple[int, int]],
        first: _Unit,
        last: _Unit,
        title_prefix: str,
    ) -> tuple[int, int, int]:
        """The char span from ``first`` to ``last``, shortened if retokenising it runs over.

        Token counts of a span can differ from the sum of its tokens in the whole text (a
        word cut at a sub-word boundary tokenises anew), so each passage is counted again.

        Returns:
            The char span and the token (in the body) the passage now ends before.
        """
        token_start, token_end = first.token_start, last.token_end
        while True:
            start, end = offsets[token_start][0], offsets[token_end - 1][1]
            excess = self.count_tokens(title_prefix + body[start:end]) - self.passage_tokens
            if excess <= 0 or token_end - token_start <= 1:
                return start, end, token_end
            token_end = max(token_start + 1, token_end - excess)
