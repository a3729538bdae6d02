"""The demo corpus: Python's own reference topics, shipped with every CPython.

``pydoc_data.topics`` holds the text ``help()`` shows for language topics such as ``try``,
``with`` or ``yield``: about 80 long documents, so chunking shows its worth, and nothing to
download.

Some topics repeat others word for word: "compound" holds the whole text of "try", "for",
"with" and five more, "specialnames" holds six topics. Left as they are, every passage of
those sections would exist twice and the two copies would crowd each other out of the
results. So the repeated text is cut out of the larger topic (its section heading stays, as
a pointer): each section of the reference is indexed once, under its own topic.
"""

from __future__ import annotations

import re

from hybridsearch.corpus.documents import Document


def _split_heading(text: str) -> tuple[str, str]:
    """Return the topic's heading (its first line, when underlined) and the rest."""
    lines = text.split("\n")
    if len(lines) > 2 and lines[1] and set(lines[1]) <= set("*=-~^"):
        return lines[0].strip(), "\n".join(lines[2:]).lstrip("\n")
    return "", text


def _paragraphs(text: str) -> list[str]:
    return [paragraph for paragraph in re.split(r"\n\s*\n", text) if paragraph.strip()]


def _without_repeats(bodies: dict[str, str]) -> dict[str, str]:
    """Cut from each topic the paragraphs that a shorter topic also holds word for word."""
    owner_length: dict[str, int] = {}
    for body in bodies.values():
        for paragraph in _paragraphs(body):
            key = paragraph.strip()
            owner_length[key] = min(owner_length.get(key, len(body)), len(body))
    cleaned = {}
    for name, body in bodies.items():
        kept = [
            paragraph
            for paragraph in _paragraphs(body)
            if len(paragraph.strip()) < 80 or owner_length[paragraph.strip()] >= len(body)
        ]
        cleaned[name] = "\n\n".join(kept)
    return cleaned


def python_docs_documents() -> list[Document]:
    """Python's reference topics as documents: id the topic name, title its heading."""
    from pydoc_data.topics import topics

    headings = {}
    bodies = {}
    for name, text in sorted(topics.items()):
        headings[name], bodies[name] = _split_heading(text)
    return [
        Document(id=name, title=headings[name] or name, text=body)
        for name, body in _without_repeats(bodies).items()
    ]
