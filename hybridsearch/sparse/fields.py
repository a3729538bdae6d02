"""A title field weighted apart from the body: BM25F in its simple form, for the BM25 leg.

Robertson, Zaragoza & Taylor, "Simple BM25 extension to multiple weighted fields" (CIKM 2004):
rather than score each field with BM25 and add the scores (which lets a term's weight grow
without the saturation BM25 is built on), combine the fields' term frequencies first and
saturate once. With a title field of weight ``w`` and a body of weight 1, for a term ``t`` in a
passage ``p``::

    tf~(t, p) = w * tf_title(t, p) + tf_body(t, p)
    dl~(p)    = w * len_title(p)   + len_body(p)
    avgdl~    = the mean of dl~ over the live passages
    score     = idf(t) * saturation(tf~, dl~, avgdl~)     (one k1, one b)

and idf(t) counts the passages that hold ``t`` in any field, as before.

**What counts as title.** A passage's title field is the title line the chunker carried into
it (:attr:`Passage.title <hybridsearch.corpus.documents.Passage.title>`, the prefix of
``indexed_text`` before :data:`~hybridsearch.corpus.documents.TITLE_SEPARATOR`), analysed on
its own; the body field is everything else of ``indexed_text``. A passage that carries no title
(the document has none, ``carry_title=False``, or the title was too long to carry) has an empty
title field. Since ``indexed_text`` already holds the title once, the title is never counted
twice: the passage's terms are those of ``indexed_text`` (title once, body once) plus ``w - 1``
more copies of the title's terms, which is exactly ``w * title + body`` whenever the analyser
does not make a token across the title line's end (the regex tokenizers do not: the separator
is a newline).

**Integer weights only, by repetition.** Repeating the title's terms ``w - 1`` times gives the
formula's ``tf~`` and ``dl~`` as integers, so the postings, their files, merges, deletes and
the live statistics stay what they are (int term frequencies, int lengths) and a living index
stays exact under every write with no new code path. A fractional weight would need float
term frequencies and lengths in the postings (a new file format); the weights worth measuring
(1, 2, 3, 5) are integers, so fractional ones are refused (``title_weight`` is an int >= 1).
The weight is applied when passages are indexed, so it is fixed per index (recorded in the
manifest with the other BM25 settings); changing it means rebuilding.

Everything downstream reads the weighted counts as the passage's own: RM3 feedback
(:mod:`hybridsearch.sparse.feedback`) weighs a feedback passage's title terms ``w`` times too,
and a sharded index's global statistics sum the weighted lengths, as one index would.

**Variants.** lucene, okapi and bm25plus saturate ``tf~`` (their term score is bounded in tf),
so they are BM25F as written. bm25l as rank-bm25 defines it (the oracle this project follows)
multiplies its saturated part by tf again, so its term score grows without bound in tf: the
title weight would then scale the title's contribution almost linearly, which is the per-field
score sum BM25F exists to avoid. A title weight other than 1 is refused with bm25l.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hybridsearch.errors import InvalidInputError

__all__ = [
    "TITLE_WEIGHT_VARIANTS",
    "bm25f_term_score",
    "check_title_weight",
    "weighted_passage_tokens",
]

#: The BM25 variants a title weight other than 1 applies to (see the module docstring).
TITLE_WEIGHT_VARIANTS: tuple[str, ...] = ("lucene", "okapi", "bm25plus")


def check_title_weight(title_weight: object, variant: str) -> int:
    """The title weight as an int, or :class:`InvalidInputError` saying what is expected.

    Args:
        title_weight: The weight asked for: an int >= 1 (an integral float such as ``2.0``,
            as JSON may give it, is taken as that int).
        variant: The BM25 variant it will score with.
    """
    if isinstance(title_weight, bool) or not isinstance(title_weight, int | float):
        raise InvalidInputError(
            f"BM25 parameter title_weight must be an int >= 1, got {title_weight!r}"
        )
    if isinstance(title_weight, float):
        if not title_weight.is_integer():
            raise InvalidInputError(
                f"BM25 parameter title_weight must be a whole number (the title's terms are "
                f"repeated that many times), got {title_weight!r}"
            )
        title_weight = int(title_weight)
    if title_weight < 1:
        raise InvalidInputError(f"BM25 parameter title_weight must be >= 1, got {title_weight}")
    if title_weight != 1 and variant not in TITLE_WEIGHT_VARIANTS:
        raise InvalidInputError(
            f"BM25 parameter title_weight={title_weight} does not apply to variant {variant!r}: "
            "its term score grows linearly in tf, so a field weight would not be saturated "
            f"(use one of {', '.join(TITLE_WEIGHT_VARIANTS)}, or title_weight=1)"
        )
    return title_weight


def weighted_passage_tokens(
    analyze: Callable[[str], list[str]],
    indexed_texts: Iterable[str],
    titles: Sequence[str],
    title_weight: int,
) -> list[list[str]]:
    """Each passage's terms with its title field weighted ``title_weight`` times.

    Args:
        analyze: The analyser (text -> terms) the index uses.
        indexed_texts: Each passage's indexed text (its carried title line, then its body);
            consumed as it comes, so a progress bar around it stays true.
        titles: Each passage's carried title, ``""`` where it carries none.
        title_weight: The title field's weight (an int >= 1; 1 gives the plain terms).

    Returns:
        Per passage, the terms of its indexed text followed by ``title_weight - 1`` more
        copies of its title's terms. The order of terms within a passage changes nothing
        BM25 stores (term frequencies and lengths).
    """
    extra_copies = title_weight - 1
    title_terms: dict[str, list[str]] = {}  # a document's passages share its title
    weighted = []
    for position, text in enumerate(indexed_texts):
        if position >= len(titles):
            raise InvalidInputError(
                f"weighted_passage_tokens: more texts than the {len(titles)} titles given"
            )
        title = titles[position]
        terms = analyze(text)
        if extra_copies and title:
            repeated = title_terms.get(title)
            if repeated is None:
                repeated = title_terms[title] = analyze(title) * extra_copies
            terms = terms + repeated
        weighted.append(terms)
    if len(weighted) != len(titles):
        raise InvalidInputError(
            f"weighted_passage_tokens: {len(weighted)} texts but {len(titles)} titles"
        )
    return weighted


def bm25f_term_score(
    *,
    idf: float,
    title_tf: float,
    body_tf: float,
    title_length: float,
    body_length: float,
    average_weighted_length: float,
    title_weight: float,
    k1: float,
    b: float,
) -> float:
    """One term's BM25F score in one passage, from the formula (Lucene's saturation).

    The reference the indexed form is checked against: a plain function of the per-field
    counts, with no index in between.

    Args:
        idf: The term's idf (from the passages that hold it in any field).
        title_tf: Occurrences in the title field.
        body_tf: Occurrences in the body field.
        title_length: Terms in the title field.
        body_length: Terms in the body field.
        average_weighted_length: Mean of ``title_weight * title_length + body_length``.
        title_weight: The title field's weight.
        k1: Term-frequency saturation.
        b: Length normalisation.
    """
    tf = title_weight * title_tf + body_tf
    length = title_weight * title_length + body_length
    return idf * tf / (tf + k1 * (1 - b + b * length / average_weighted_length))
