"""Text for a terminal: characters that cannot act on it (:func:`printable`), and lines that
fit its width (:func:`display_width`, :func:`fit_width`, :func:`wrap`).

A document's id, title or text can hold escape sequences (set the window title, clear the
screen, write the clipboard with OSC 52) or bidirectional overrides that reorder what is
shown; printed raw, the terminal obeys them. :func:`printable` replaces every such
character with a visible stand-in before anything is printed.

Widths are in terminal columns, not characters: East Asian wide and fullwidth characters
take two, combining marks and zero-width characters none (the rules ``wcwidth`` follows,
from :mod:`unicodedata`).
"""

from __future__ import annotations

import unicodedata

__all__ = ["display_width", "fit_width", "printable", "wrap"]

#: Bidirectional embeddings, overrides and isolates: they reorder the text around them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REPLACEMENT = "\ufffd"


def _stand_in(character: str) -> str:
    code = ord(character)
    if code < 0x20:  # C0 controls, tab and newline included: ESC shows as "␛"
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"  # "␡"
    if character in ("\u2028", "\u2029"):  # line and paragraph separators
        return " "
    return _REPLACEMENT  # C1 controls (0x80-0x9f: 0x9b is a one-byte CSI) and bidi controls


def printable(text: str) -> str:
    """``text`` with every control character replaced by a visible stand-in.

    C0 controls (escape, bell, backspace, carriage return, tab, newline...) become their
    Unicode control pictures (``␛``, ``␇``...), DEL ``␡``; C1 controls and the
    bidirectional controls become ``�``; line and paragraph separators a space. Everything
    else is kept.
    """
    if text.isprintable() and not _BIDI_CONTROLS.intersection(text):
        return text
    return "".join(
        _stand_in(character)
        if unicodedata.category(character) == "Cc"
        or character in _BIDI_CONTROLS
        or character in ("\u2028", "\u2029")
        else character
        for character in text
    )


def _char_width(character: str) -> int:
    if unicodedata.combining(character) or unicodedata.category(character) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


def display_width(text: str) -> int:
    """The columns ``text`` takes on a terminal (wide characters two, combining marks none)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(character) for character in text)


def _cut(text: str, columns: int) -> tuple[str, str]:
    """``text`` split where its first part takes at most ``columns`` columns."""
    used = 0
    for position, character in enumerate(text):
        used += _char_width(character)
        if used > columns:
            return text[:position], text[position:]
    return text, ""


def fit_width(line: str, width: int) -> str:
    """``line`` as it is when it fits ``width`` columns, else cut to fit with ``…`` at the end."""
    if display_width(line) <= width:
        return line
    return _cut(line, width - 1)[0].rstrip() + "…"


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces (runs of whitespace
    collapse); a word wider than a line is broken inside."""
    lines: list[str] = []
    line, used = "", 0
    for word in text.split():
        size = display_width(word)
        if line and used + 1 + size <= width:
            line, used = f"{line} {word}", used + 1 + size
            continue
        if line:
            lines.append(line)
        while size > width:  # a word wider than a line ("=====...", a long URL)
            head, word = _cut(word, width)
            if not head:  # a character wider than the whole line: it goes alone
                head, word = word[0], word[1:]
            lines.append(head)
            size = display_width(word)
        line, used = word, size
    if line:
        lines.append(line)
    return lines
